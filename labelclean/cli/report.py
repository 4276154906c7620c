"""`labelclean report`: a self-contained HTML page to look at the suspected mislabels."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("report"), "json_out")
def report(o: Given) -> None:
    """Write one self-contained HTML report (no network needed to view it): summary, files excluded
    by reason, noise rate per class, given -> suggested heatmap, clean_score histograms with the
    threshold, and galleries of suspected mislabels per class, worst first, with reviewer decisions.

    Thumbnails are embedded for the worst suspects (capped per class and in total) and a sample
    of kept images, so the file stays small for 100k-image datasets.

    Example:

    \b
      labelclean report -w work
      labelclean report -w work --out /tmp/review.html --thumbs-per-class 30
    """
    from labelclean.stages.report import run_report

    result = run_report(Workdir(o["workdir"]), o.config("report"))
    t = result.totals
    console.table("Report", ["samples", "count"], [(k, v) for k, v in t.items() if k != "noise_rate"])
    if o["json_out"]:
        console.emit_json(result.to_json())
    else:
        console.out(f"report written to {result.outputs[0]} ({result.bytes / 1e6:.1f} MB)")
