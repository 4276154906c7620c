"""The typer application and its global options. Commands register themselves on `app`."""

from __future__ import annotations

from typing import Optional

import typer

from labelclean import __version__

from labelclean.core import console

app = typer.Typer(
    name="labelclean",
    help=(
        "Find and fix wrong labels in image datasets with CLIP, offline.\n\n"
        "Pipeline: embed -> score -> select -> export/report, or all at once with `run`.\n"
        "Every stage writes Parquet into a work directory (--workdir/-w, default ./labelclean-work)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    debug = False


state = State()


def _version(value: bool) -> None:
    if value:
        console.out(f"labelclean {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print results and errors."),
) -> None:
    state.debug = debug
    console.set_quiet(quiet)
