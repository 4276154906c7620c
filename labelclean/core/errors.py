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
