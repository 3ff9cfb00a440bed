"""Output folders written whole: fill a private staging folder beside the target, then move it in.

    with staging_folder(target, "synth") as staging:
        ...write files into staging...
        publish(staging, target, check_replaceable)

- A failed or interrupted run removes its staging folder; a killed one (SIGKILL, power loss) leaves
  `.<name>.<tag>-<pid>-<random>` beside the target, which the next run for that target removes.
- A live run holds an flock on its staging folder, so another run can tell it apart from a dead
  one's leftovers (a pid alone can be reused) and refuse to start (StagingBusy).
- publish moves the finished folder into place with one rename. An existing target is first handed to
  `check_replaceable` (which raises to refuse it), then swapped with the new folder in one step
  where the system can (Linux renameat2 RENAME_EXCHANGE), else moved aside just before: readers see
  the old folder or the new one, never a mix. Publishes into one parent folder are serialised.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from portrait_edge.errors import PortraitEdgeError


class StagingBusy(PortraitEdgeError):
    """Another live process is writing the same target."""


def _prefix(target: Path, tag: str) -> str:
    return f".{target.name}.{tag}-"


@contextmanager
def staging_folder(target: Path, tag: str) -> Iterator[Path]:
    """A fresh, locked staging folder beside `target`; removed on exit unless publish moved it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    busy = remove_stale_staging(target, tag)
    if busy:
        raise StagingBusy(f"{target}: another portrait-edge {tag} run (pid {busy[0]}) is writing it now; "
                          "wait for it to finish or choose another output folder")
    staging = Path(tempfile.mkdtemp(prefix=f"{_prefix(target, tag)}{os.getpid()}-", dir=target.parent))
    lock = _lock(staging, blocking=True)  # blocking: a cleaner may hold it for an instant
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already after a publish
        if lock is not None:
            os.close(lock)


def remove_stale_staging(target: Path, tag: str) -> list[int]:
    """Remove staging folders for `target` left by dead processes; return the pids of live writers."""
    prefix, live = _prefix(target, tag), []
    for folder in sorted(target.parent.glob(f"{prefix}*")):
        pid_text = folder.name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or not folder.is_dir():
            continue
        pid = int(pid_text)
        try:
            lock = _lock(folder, blocking=False)
        except OSError:
            continue  # not ours to judge (unreadable)
        if lock is None:
            live.append(pid)  # its owner holds the lock: running now
            continue
        try:
            if not _alive(pid):  # (an unlocked folder of a live pid is being created, or the pid was reused)
                shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(lock)
    return live


def publish(staging: Path, target: Path, check_replaceable: Callable[[Path], None]) -> None:
    """Move the finished `staging` folder to `target` (same parent) in one step; see the module doc."""
    try:
        parent_lock = _lock(target.parent, blocking=True)
    except OSError:
        parent_lock = None  # an unreadable parent: publish unserialised
    try:
        if not os.path.lexists(target):
            os.rename(staging, target)
            return
        check_replaceable(target)
        if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
            os.replace(staging, target)  # rename over an empty folder is atomic
        elif _exchange(staging, target):
            shutil.rmtree(staging, ignore_errors=True)  # the old output, now at the staging path
        else:
            aside = target.with_name(f"{staging.name}-replaced-{secrets.token_hex(4)}")
            os.rename(target, aside)
            os.rename(staging, target)
            shutil.rmtree(aside, ignore_errors=True)
    except OSError as error:
        raise PortraitEdgeError(f"{target}: cannot move the finished output into place "
                                f"({error.strerror or error})") from None
    finally:
        if parent_lock is not None:
            os.close(parent_lock)


def _lock(folder: Path, blocking: bool) -> int | None:
    """An fd holding an exclusive flock on `folder`; None if another process holds it. Where the
    file system has no flock, the fd comes back unlocked (liveness then rests on the pid alone).
    Raises OSError if the folder cannot be opened."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        pass
    return fd


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
