"""review: import reviewer decisions into W/decisions.parquet (semantics in labelclean/review.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional
from pathlib import Path

import pyarrow.compute as pc

from labelclean.store.parquet_io import write_table
from labelclean.review.decisions import load_decisions, merge_decisions, read_decisions
from labelclean.stages.configs import ReviewConfig
from labelclean.core.report import StageReport, Timer
from labelclean.store.tables import load_classes, load_manifest
from labelclean.store.workdir import Workdir


@dataclass(kw_only=True)
class ReviewReport(StageReport):
    stage: str = "review"
    imported: int  # decisions read that name a sample of this workdir
    unknown_samples: int  # decisions naming no sample here (skipped)
    first_unknown: Optional[str]
    stored: int  # decisions in decisions.parquet after the merge
    replaced_previous: bool


def run_review(wd: Workdir, cfg: ReviewConfig) -> ReviewReport:
    """Parse ``cfg.decisions`` and merge it into W/decisions.parquet (later imports win per sample)."""
    with Timer() as t, wd.lock():
        manifest, _ = load_manifest(wd, ["sample_id", "path"])
        ids = manifest["sample_id"].to_pylist()
        path_to_id = {**dict(zip(manifest["path"].to_pylist(), ids)), **{s: s for s in ids}}
        new = read_decisions(Path(cfg.decisions), load_classes(wd), path_to_id=path_to_id)
        known = pc.is_in(new["sample_id"], value_set=manifest["sample_id"])
        unknown = new.filter(pc.invert(known))
        new = new.filter(known)
        old = None if cfg.replace else load_decisions(wd)
        merged = merge_decisions(old, new)
        write_table(wd.decisions, merged, "decisions")
        counts = dict(sorted(Counter(new["decision"].to_pylist()).items()))
        report = ReviewReport(
            counts=counts, outputs=[wd.decisions], imported=new.num_rows, unknown_samples=unknown.num_rows,
            first_unknown=unknown["sample_id"][0].as_py() if unknown.num_rows else None, stored=merged.num_rows,
            replaced_previous=bool(cfg.replace),
        )
        wd.update_run("review", report.run_record(cfg))  # seconds: not known inside the timer
    report.seconds = t.seconds
    return report
