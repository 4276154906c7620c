"""`labelclean select`: clean / flag / relabel decisions from the stored scores."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("select"), "json_out")
def select(o: Given) -> None:
    """Decide which samples keep their label, which are flagged and which get a suggested label.

    Reads W/probs and W/scores.parquet (re-run with other thresholds without re-scoring)
    and writes W/selection.parquet: clean, clean_score (higher = label more likely right;
    a ranking score for review), the criteria failed, suggested label and confidence,
    outlier ("none of these classes") and decision keep | flag | relabel. Samples of
    identical files with different labels fail duplicate_conflict. A class that would
    lose every sample keeps its best-scored ones (reported).

    Example:

    \b
      labelclean select -w work
      labelclean select -w work --method criteria --combine all   # CLIPCleaner
      labelclean select -w work --method criteria --combine vote:2 --theta-cons 1.0
      labelclean select -w work --method css --json
    """
    from labelclean.stages.select import run_select

    report = run_select(Workdir(o["workdir"]), o.config("select"))
    _render(report)
    if o["json_out"]:
        console.emit_json(report.to_json())
    else:
        console.out(f"wrote {report.outputs[0]}")


def _render(s) -> None:
    console.table(f"Selection ({s.method}: {', '.join(s.estimators)})", ["", "samples"],
                  [("kept", s.kept), ("flagged", s.flagged), ("  relabel suggested", s.relabel),
                   ("outliers", s.outliers)])
    if len(s.weights) > 1:
        console.table(f"Estimator weights ({s.weighting})", ["estimator", "weight", "reliability"],
                      [(e, w, s.reliability.get(e, "")) for e, w in s.weights.items()])
    console.info(f"estimated noise rate: confident joint {s.estimated_noise_rate:.3f}, uniform mixture "
                 f"{s.mixture_noise_rate:.3f}; flagged: {s.flagged_share:.3f}" + (f" (set by {s.flag_rule})" if s.flag_rule else ""))
    noisy = sorted(s.per_class, key=lambda r: -r["rate"])[:10]
    console.table("Estimated noise rate by class (share flagged)", ["class", "samples", "flagged", "rate"],
                  [(r["class"], r["samples"], r["flagged"], r["rate"]) for r in noisy])
    if s.confused_pairs:
        console.table("Top confused pairs (given -> suggested)", ["given", "suggested", "samples"],
                      [(p["given"], p["suggested"], p["count"]) for p in s.confused_pairs])
    for f in s.fallback:
        console.warn(f"class {f['class']!r} lost all {f['samples']} samples; kept its {f['kept_by_fallback']} "
                     "best-scored ones (fallback)")
    for note in s.notes:
        console.warn(note)
