"""The one exception type the CLI turns into a one-line message (no traceback)."""


class PortraitEdgeError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class NotAvailableError(PortraitEdgeError):
    """A capability that this install (or this version of the package) does not provide yet."""


_WRITE_CAUSES = {"ENOSPC": "no space left on the disk", "EDQUOT": "disk quota exceeded",
                 "EROFS": "the folder is on a read-only file system", "EACCES": "permission denied",
                 "EPERM": "permission denied"}
LOW_DISK_BYTES = 16 << 20


def write_error(path, error: BaseException) -> PortraitEdgeError | None:
    """A failed write whose cause is the user's disk (full, read-only, no permission) as a one-line
    error naming the file; None when the failure looks like something else. Writers that are not plain
    Python I/O (torch.save, converters) report a full disk as a RuntimeError: then the free space decides."""
    import errno
    import shutil
    from pathlib import Path

    causes = {getattr(errno, name): text for name, text in _WRITE_CAUSES.items() if hasattr(errno, name)}
    if isinstance(error, OSError) and error.errno in causes:
        return PortraitEdgeError(f"cannot write {error.filename or path}: {causes[error.errno]}")
    if isinstance(error, (OSError, RuntimeError)) and path is not None:
        folder = Path(path).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            if shutil.disk_usage(folder).free < LOW_DISK_BYTES:
                return PortraitEdgeError(f"cannot write {path}: no space left on the disk "
                                         f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
        except OSError:
            return None
    return None
