"""Domain errors. Library code raises these; only `cli.boundary` turns them into exit codes."""

from __future__ import annotations


class LabelcleanError(Exception):
    """An error the user can fix: a one-line message plus an optional hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(LabelcleanError):
    """The data given to labelclean (folder, manifest, features file) is unusable."""


class WorkdirError(LabelcleanError):
    """The work directory is missing a stage's output, is locked, or was made differently."""


class ModelError(LabelcleanError):
    """The model or its weights cannot be loaded."""


class UsageError(LabelcleanError):
    """Options that contradict each other or are out of range (exit code 2)."""

    exit_code = 2


def os_error(e: OSError, path: object, doing: str | None = "write") -> LabelcleanError:
    """A one-line error naming ``path`` for a disk-full, permission or other OS failure
    (``doing=None`` when it is not known whether the file was read or written)."""
    import errno

    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return LabelcleanError(
            f"no space left on the device to write {path}",
            "free disk space there (or point labelclean at another folder) and run the same command again",
        )
    if e.errno in (errno.EACCES, errno.EPERM):
        what = f"cannot {doing} {path}" if doing else str(path)
        return LabelcleanError(f"permission denied: {what}", "check the folder's permissions and owner")
    if e.errno == errno.EROFS:
        return LabelcleanError(f"cannot write {path}: the file system is read-only", "choose a writable folder")
    what = f"cannot {doing} {path}" if doing else str(path)
    return LabelcleanError(f"{what}: {e.strerror or e}", "check the path, its permissions and free space")
