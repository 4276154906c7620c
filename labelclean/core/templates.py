"""Locate the bundled templates folder (prompts, descriptions, report) in a wheel or a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from labelclean.core.errors import LabelcleanError


def templates_dir() -> Path:
    packaged = Path(str(resources.files("labelclean"))) / "templates"
    if packaged.is_dir():
        return packaged
    source = Path(__file__).resolve().parents[2] / "templates"
    if source.is_dir():
        return source
    raise LabelcleanError(
        f"labelclean's templates are missing: looked in {packaged} and {source}",
        "reinstall labelclean (pip install --force-reinstall labelclean)",
    )


def template_path(*parts: str) -> Path:
    return templates_dir().joinpath(*parts)
