"""Command-line interface. Each command lives in its own module and registers on `app`.

Nothing here imports torch: `labelclean --help` must stay fast.
"""

from __future__ import annotations

from labelclean.cli.app import app

# Command modules register themselves on import (keep this list sorted).
from labelclean.cli import check  # noqa: E402,F401
from labelclean.cli import demo  # noqa: E402,F401
from labelclean.cli import embed  # noqa: E402,F401
from labelclean.cli import evaluate  # noqa: E402,F401
from labelclean.cli import export  # noqa: E402,F401
from labelclean.cli import noise  # noqa: E402,F401
from labelclean.cli import predict  # noqa: E402,F401
from labelclean.cli import report  # noqa: E402,F401
from labelclean.cli import review  # noqa: E402,F401
from labelclean.cli import run  # noqa: E402,F401
from labelclean.cli import score  # noqa: E402,F401
from labelclean.cli import select  # noqa: E402,F401
from labelclean.cli import train  # noqa: E402,F401

ORDER = ("run", "demo", "embed", "score", "select", "evaluate", "export", "review", "report", "check", "train",
         "predict", "noise")
app.registered_commands.sort(key=lambda c: ORDER.index(c.callback.__name__) if c.callback.__name__ in ORDER else 99)


def main() -> None:
    app()
