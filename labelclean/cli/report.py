"""`labelclean report`: a self-contained HTML page to look at the suspected mislabels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import DEFAULT_WD, JsonOpt, WorkdirOpt
from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
def report(
    workdir: WorkdirOpt = DEFAULT_WD,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="HTML file to write (default: W/report.html).")] = None,
    thumbs_per_class: Annotated[int, typer.Option("--thumbs-per-class", min=0, help="Thumbnails of suspects per class.")] = 60,
    max_thumbs: Annotated[int, typer.Option("--max-thumbs", min=0, help="Thumbnails of suspects in all.")] = 2000,
    json_out: JsonOpt = False,
) -> None:
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
    from labelclean.report.context import Caps
    from labelclean.stages.report import ReportConfig, run_report

    caps = Caps(thumbs_per_class=thumbs_per_class, thumbs_total=max_thumbs)
    result = run_report(Workdir(workdir), ReportConfig(out=out, caps=caps))
    t = result.summary["totals"]
    console.table("Report", ["samples", "count"], [(k, v) for k, v in t.items() if k != "noise_rate"])
    if json_out:
        console.emit_json(result.to_json())
    else:
        console.out(f"report written to {result.outputs[0]} ({result.summary['bytes'] / 1e6:.1f} MB)")
