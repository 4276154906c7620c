"""`labelclean review`: import a reviewer's decisions, or review in the browser (--serve)."""

from __future__ import annotations

from labelclean.core import console
from labelclean.core.errors import UsageError
from labelclean.cli.app import app
from labelclean.cli.boundary import command_boundary
from labelclean.cli.options import Given, stage_options, uses
from rich.markup import escape

from labelclean.store.workdir import Workdir


@app.command()
@command_boundary
@uses("workdir", *stage_options("review"), "json_out")
def review(o: Given) -> None:
    """Import reviewer decisions, or review suspects in the browser (--serve).

    Decisions override the automatic choice in every later export, train and report.

    Decision values per sample (blank = not reviewed, the automatic choice applies):

    \b
      accept            take the suggestion: relabel to the suggested label; a flagged
                        sample without a suggestion is confirmed wrong and dropped;
                        a clean sample stays as it is
      reject            the given label is right: keep it with its given label
      relabel:<class>   keep it with <class>
      drop              leave it out of the cleaned set

    --decisions takes the edited relabels.csv (any CSV/JSONL with sample_id or path and a
    decision column) or Label Studio's JSON export of `export --format label-studio` tasks.
    Decisions live in W/decisions.parquet and survive re-running score and select.
    Importing again updates decisions per sample: a later decision replaces the earlier
    one and re-importing an unchanged file changes nothing (--replace starts from scratch).
    The file must be UTF-8 (in Excel: Save As > CSV UTF-8).

    --serve starts a local web app (127.0.0.1 by default) over the suspects, worst first,
    with keyboard shortcuts (k keep, a accept, 1-9 pick, c class picker, d drop, s skip,
    u undo, ? all keys). It prints its URL, with the access token, on one line; every
    decision is saved into W/decisions.parquet at once. Ctrl-C stops it.

    Example:

    \b
      labelclean review -w work --serve
      labelclean export -w work
      # fill in the decision column of work/export/relabels.csv, then:
      labelclean review -w work --decisions work/export/relabels.csv
      labelclean review -w work --decisions label-studio-export.json
    """
    cfg = o.config("review")
    if not cfg.serve:
        for key in ("host", "port", "open_browser"):
            if o.explicit(key):
                flag = "--no-browser/--browser" if key == "open_browser" else f"--{key}"
                raise UsageError(f"{flag} only has an effect with --serve", "add --serve")
    cfg.validate()
    wd = Workdir(o["workdir"])
    if cfg.decisions is not None:
        _import(wd, cfg, o["json_out"])
    if cfg.serve:
        from labelclean.review.server.serve import ServeConfig, serve

        serve(wd, ServeConfig(host=cfg.host, port=cfg.port, open_browser=cfg.open_browser))


def _import(wd: Workdir, cfg, json_out: bool) -> None:
    from labelclean.stages.review import run_review

    report = run_review(wd, cfg)
    s = report
    if s.unknown_samples:
        console.warn(
            f"{s.unknown_samples} decisions name samples that are not in this workdir "
            f"(first: {escape(s.first_unknown)}); they were skipped"
        )
    console.table("Decisions imported", ["decision", "samples"], sorted(report.counts.items()))
    if not s.changed:
        console.info("every decision was already stored: nothing changed")
    if json_out:
        console.emit_json(report.to_json())
    else:
        console.out(f"{s.imported} decisions imported, {s.stored} stored in {report.outputs[0]}")
