"""Typed stage reports: --json, run.json and the terminal all come from one dataclass per stage."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelclean.core.report import SkippedReport, StageReport, summary_field
from labelclean.stages.configs import ReportConfig

STAGES_DIR = Path(__file__).resolve().parents[2] / "labelclean" / "stages"


@dataclass(kw_only=True)
class _Report(StageReport):
    stage: str = "demo"
    kept: int
    timings: dict[str, float] = summary_field("seconds", default_factory=dict)
    extra: dict[str, Any] = summary_field(flatten=True, default_factory=dict)


def test_summary_renames_and_flattens_fields_and_to_json_keeps_its_shape():
    r = _Report(counts={"ok": 3}, outputs=[Path("/x/a.csv")], seconds=1.23456, kept=3, timings={"hash": 0.5},
                extra={"auroc": 0.9, "truth": "clean_label"})
    assert r.summary == {"kept": 3, "seconds": {"hash": 0.5}, "auroc": 0.9, "truth": "clean_label"}
    assert r.to_json() == {"stage": "demo", "counts": {"ok": 3}, "summary": r.summary, "outputs": ["/x/a.csv"],
                           "seconds": 1.235, "skipped": False}
    record = r.run_record(ReportConfig(out=Path("/x/r.html")))
    assert record == {"config": {"out": "/x/r.html", "thumbs_per_class": 60, "max_thumbs": 2000},
                      "counts": {"ok": 3}, "summary": r.summary, "seconds": 1.235}


def test_a_skipped_stage_says_why():
    assert SkippedReport(stage="score").to_json() == {"stage": "score", "counts": {}, "summary": {"reason": "unchanged"},
                                                       "outputs": [], "seconds": 0.0, "skipped": True}


def test_no_stage_reads_another_stages_run_json():
    """What a later stage needs lives in the Parquet tables it reads (e.g. select's weights in
    selection.parquet's metadata); only the pipeline compares its recorded fingerprints."""
    offenders = []
    for path in sorted(STAGES_DIR.glob("*.py")):
        if path.name == "pipeline.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("stage_record", "read_run"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders
