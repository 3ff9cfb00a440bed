"""Atomic file writes: write a temp file beside the target, then rename it over the target.

A crash or an error never leaves a partial file: readers see the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from portrait_edge.errors import write_error


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temp path in the target's folder; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise (write_error(path, error) or error) from None
    os.close(fd)
    try:
        yield Path(temp)
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(temp, path)
    except BaseException as error:
        Path(temp).unlink(missing_ok=True)
        failure = write_error(path, error) if isinstance(error, (OSError, RuntimeError)) else None
        if failure is not None:
            raise failure from None
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode())
