"""`labelclean review`: import a reviewer's decisions."""

from __future__ import annotations

from labelclean.core import console
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from rich.markup import escape

from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("review"), "json_out")
def review(o: Given) -> None:
    """Import reviewer decisions; they override the automatic choice in every later export, train and report.

    Decision values per sample (blank = not reviewed, the automatic choice applies):

    \b
      accept            take the suggestion: relabel to the suggested label; a flagged
                        sample without a suggestion is confirmed wrong and dropped;
                        a clean sample stays as it is
      reject            the given label is right: keep it with its given label
      relabel:<class>   keep it with <class>
      drop              leave it out of the cleaned set

    Decisions live in W/decisions.parquet and survive re-running score and select.
    Importing again updates decisions per sample (--replace starts from scratch).

    Example:

    \b
      labelclean export -w work
      # fill in the decision column of work/export/relabels.csv, then:
      labelclean review -w work --decisions work/export/relabels.csv
    """
    from labelclean.stages.review import run_review

    report = run_review(Workdir(o["workdir"]), o.config("review"))
    s = report
    if s.unknown_samples:
        console.warn(
            f"{s.unknown_samples} decisions name samples that are not in this workdir "
            f"(first: {escape(s.first_unknown)}); they were skipped"
        )
    console.table("Decisions imported", ["decision", "samples"], sorted(report.counts.items()))
    if o["json_out"]:
        console.emit_json(report.to_json())
    else:
        console.out(f"{s.imported} decisions imported, {s.stored} stored in {report.outputs[0]}")
