"""Terminal output shared by several commands (progress lines of chained stages)."""

from __future__ import annotations

from labelclean.core import console


def show_stage(item) -> None:
    """One stderr line per stage: how long it took, or that it was skipped."""
    r = item.report
    if r.skipped:
        console.info(f"{item.stage}: unchanged, skipped")
    else:
        console.info(f"{item.stage}: done in {r.seconds:.1f} s")
