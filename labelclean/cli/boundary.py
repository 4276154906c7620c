"""The one error boundary: domain errors become one stderr line and an exit code."""

from __future__ import annotations

import functools
import traceback
from typing import Any, Callable, TypeVar

import typer

from labelclean.core import console
from labelclean.cli.app import state
from labelclean.core.errors import LabelcleanError, os_error

F = TypeVar("F", bound=Callable[..., Any])


def command_boundary(fn: F) -> F:
    """Translate LabelcleanError (exit 1, or 2 for usage), OSError (exit 1, naming the file, or
    the work directory when the OS names none) and Ctrl-C (exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LabelcleanError as e:
            _maybe_traceback()
            console.error(e.message, e.hint)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted", "run the same command again to continue where it stopped")
            raise typer.Exit(130) from None
        except OSError as e:  # disk full, permissions, ...: one line naming the path
            _maybe_traceback()
            if e.filename is not None:  # named by the OS: reading or writing it failed
                err = os_error(e, e.filename, None)
            else:  # a failed write() or pyarrow writer names no file: the work directory does
                err = os_error(e, f"into {kwargs['workdir']}" if kwargs.get("workdir") else "its output")
            console.error(err.message, err.hint)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _maybe_traceback() -> None:
    if state.debug:
        console.err.print(traceback.format_exc(), markup=False, highlight=False)
