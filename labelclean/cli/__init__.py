"""Command-line interface. Each command lives in its own module and registers on `app`.

Nothing here imports torch: `labelclean --help` must stay fast.
"""

from __future__ import annotations

from labelclean.cli.app import app

# Command modules register themselves on import (keep this list sorted).
from labelclean.cli import app as _app  # noqa: E402,F401  (replace with command modules)


def main() -> None:
    app()
