"""report: one self-contained HTML file (inline CSS/JS/SVG, base64 thumbnails), readable offline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from labelclean.report.context import Caps, build_context
from labelclean.stages.configs import ReportConfig
from labelclean.core.report import StageReport, Timer
from labelclean.core.templates import template_path
from labelclean.store.workdir import Workdir

TEMPLATE = ("report", "report.html.j2")


def report_path(wd: Workdir, cfg: ReportConfig) -> Path:
    return Path(os.path.abspath(cfg.out)) if cfg.out is not None else wd.root / "report.html"


def render(context: dict) -> str:
    """Render the report template with autoescaping on (every data string is escaped)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    folder = template_path(*TEMPLATE[:-1])
    env = Environment(loader=FileSystemLoader(str(folder)), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    return env.get_template(TEMPLATE[-1]).render(**context)


@dataclass(kw_only=True)
class ReportReport(StageReport):
    stage: str = "report"
    path: str  # the HTML file
    bytes: int
    totals: dict[str, Any]  # samples by outcome, and noise_rate
    gallery_bytes: int


def run_report(wd: Workdir, cfg: ReportConfig) -> ReportReport:
    """Build the report from manifest, selection, scores and decisions; write it atomically."""
    from labelclean.export.writers import write_bytes

    out = report_path(wd, cfg)
    with Timer() as t, wd.lock():
        ctx = build_context(wd, Caps(thumbs_per_class=cfg.thumbs_per_class, thumbs_total=cfg.max_thumbs))
        html = render(ctx).encode("utf-8")
        write_bytes(out, html)
        report = ReportReport(counts={k: v for k, v in ctx["totals"].items() if isinstance(v, int)}, outputs=[out],
                              path=str(out), bytes=len(html), totals=ctx["totals"],
                              gallery_bytes=len(ctx["gallery_json"]))
    report.seconds = t.seconds
    wd.update_run("report", report.run_record(cfg))
    return report
