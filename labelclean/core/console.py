"""The only module that writes to the terminal.

Logs, progress bars and tables go to stderr; results and ``--json`` go to stdout.
Rich honours ``NO_COLOR`` and drops colour and live bars when stderr is not a TTY.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

err = Console(stderr=True, highlight=False)
_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def info(message: str) -> None:
    if not _quiet:
        err.print(message)


def warn(message: str) -> None:
    err.print(f"[yellow]Warning:[/yellow] {message}")


def error(message: str, hint: str | None = None) -> None:
    err.print(f"[red]Error:[/red] {message}", soft_wrap=True, markup=True)
    if hint:
        err.print(f"Hint: {hint}", soft_wrap=True)


def emit_json(obj: Any) -> None:
    """Write one JSON document to stdout (the machine-readable result of a command)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def out(text: str) -> None:
    """Write a plain result line to stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Render a small table on stderr (human summary)."""
    if _quiet:
        return
    t = Table(title=title, title_justify="left", show_edge=False)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[_fmt(v) for v in r])
    err.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None):
        self._p, self._t = progress, task

    def advance(self, n: int = 1, **fields: Any) -> None:
        if self._p is not None:
            self._p.update(self._t, advance=n, **fields)

    def set_total(self, total: int) -> None:
        if self._p is not None:
            self._p.update(self._t, total=total)


@contextmanager
def progress(description: str, total: int | None, unit: str = "img") -> Iterator[_Bar]:
    """A progress bar on stderr with rate and ETA; silent when quiet."""
    if _quiet:
        yield _Bar(None, None)
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, transient=False) as p:
        task = p.add_task(description, total=total, rate="")
        bar = _ProgressWithRate(p, task, unit)
        yield bar


class _ProgressWithRate(_Bar):
    def __init__(self, progress: Progress, task: int, unit: str):
        super().__init__(progress, task)
        self._unit = unit

    def advance(self, n: int = 1, **fields: Any) -> None:
        task = self._p.tasks[self._t]
        speed = task.speed
        rate = f"{speed:,.1f} {self._unit}/s" if speed else ""
        self._p.update(self._t, advance=n, rate=rate, **fields)
