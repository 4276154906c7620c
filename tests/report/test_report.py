"""report: content, escaping of data strings, placeholders, decisions, bounded size."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from labelclean.cli import app
from labelclean.core.errors import WorkdirError
from labelclean.report import svg
from labelclean.store import parquet_io
from labelclean.report.context import Caps, _thumb_choice, boundary, json_for_script
from labelclean.stages.report import ReportConfig, run_report
from labelclean.stages.review import ReviewConfig, run_review
from labelclean.store.workdir import Workdir
from reportgen import make_selected_workdir

EVIL_CLASS = "<script>alert(1)</script>"
runner = CliRunner()


def _gallery(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="lc-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


@pytest.fixture()
def fx(tmp_path):
    return make_selected_workdir(tmp_path, classes=("cat", "dog", EVIL_CLASS), n_per_class=20, noise=0.25, seed=2)


def test_report_is_self_contained_and_summarises(fx):
    rep = run_report(fx.wd, ReportConfig())
    html = (fx.wd.root / "report.html").read_text()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), "no external URL"
    assert not re.search(r'<(link|img|script)[^>]+(src|href)="(?!data:)', html)
    assert rep.counts["found"] == 62 and rep.counts["usable"] == 60 and rep.counts["flagged"] == len(fx.flagged)
    assert re.search(r"<td>corrupt</td><td>1</td>", html) and re.search(r"<td>empty</td><td>1</td>", html)
    assert "Dashed line: the clean_score threshold <code>select</code> recorded (0.500)" in html
    assert html.count("<svg ") == 2 + 1 + 3  # bars, heatmap, histogram of all + one per class
    g = _gallery(html)
    assert {r["s"] for r in g["flagged"]} == set(fx.flagged)
    scores = [r["c"] for r in g["flagged"]]
    assert scores == sorted(scores), "worst first"
    assert all(r["t"] >= 0 for r in g["flagged"]) and len(g["thumbs"]) == len(g["flagged"]) + len(g["kept"])
    assert all(t.startswith("data:image/jpeg;base64,") for t in g["thumbs"])


def test_data_strings_are_escaped(fx):
    run_report(fx.wd, ReportConfig())
    html = (fx.wd.root / "report.html").read_text()
    assert EVIL_CLASS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # table cells and SVG labels
    assert html.count("<script") == 2  # the JSON data block and the page's own script
    names = _gallery(html)["classes"]
    assert names[2] == EVIL_CLASS  # intact once parsed, \u003c-escaped in the page


def test_json_for_script_cannot_close_the_script_element():
    text = json_for_script({"x": "</script><script>alert(1)</script>", "y": "a&b\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(str(text)) == {"x": "</script><script>alert(1)</script>", "y": "a&b\u2028"}


def test_svg_escapes_labels():
    out = svg.bar_chart(['<b x="1">&'], [0.5], title="t<")
    assert "<b " not in out and "&lt;b x=&#34;1&#34;&gt;&amp;" in out and "t&lt;" in out
    hm = svg.heatmap(["<i>"], ["<i>"], np.array([[3]]), title="h")
    assert "<i>" not in hm


def test_missing_and_broken_images_get_placeholders(fx):
    gone = fx.flagged[0]
    (fx.data / gone).unlink()
    (fx.data / fx.flagged[1]).write_bytes(b"not an image")
    run_report(fx.wd, ReportConfig())
    g = _gallery((fx.wd.root / "report.html").read_text())
    t = {r["s"]: r["t"] for r in g["flagged"]}
    assert t[gone] == -1 and t[fx.flagged[1]] == -1


def test_reviewer_decisions_are_shown(fx, tmp_path):
    f = tmp_path / "d.csv"
    with f.open("w", newline="") as fh:
        csv.writer(fh).writerows([("sample_id", "decision"), (fx.flagged[0], "relabel:dog"), (fx.flagged[1], "drop")])
    run_review(fx.wd, ReviewConfig(decisions=f))
    run_report(fx.wd, ReportConfig())
    html = (fx.wd.root / "report.html").read_text()
    rows = {r["s"]: r for r in _gallery(html)["flagged"]}
    assert rows[fx.flagged[0]]["r"] == "relabel:dog" and rows[fx.flagged[0]]["kp"] is True
    assert rows[fx.flagged[1]]["r"] == "drop" and rows[fx.flagged[1]]["kp"] is False
    assert re.search(r"<b>2</b><span>reviewer decisions</span>", html)


def test_boundary_separates_clean_from_flagged():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.25])
    clean = np.array([False, False, False, True, True, True])
    assert boundary(scores, clean) == pytest.approx(0.5)  # 0.25 clean below is the one error either way
    assert boundary(np.array([0.1, 0.9]), np.array([False, True])) == pytest.approx(0.5)
    assert boundary(np.array([0.1, 0.9]), np.array([True, True])) is None
    assert boundary(np.array([0.5, 0.5]), np.array([False, True])) is None


def test_without_recorded_threshold_the_boundary_is_drawn(fx):
    sel, meta = parquet_io.read_table(fx.wd.selection, "selection")
    assert meta["clean_score_threshold"] == 0.5
    parquet_io.write_table(fx.wd.selection, sel, "selection", meta["model_id"])
    run_report(fx.wd, ReportConfig())
    html = (fx.wd.root / "report.html").read_text()
    assert "where <code>select</code>'s decision falls on the clean_score axis" in html
    assert html.count('stroke-dasharray="4 3"') == 4  # all classes + 3 classes, each separable


def test_thumbnail_caps_spread_over_classes():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 2)
    want = _thumb_choice(labels, per_class=3, total=7)
    assert want.sum() == 7
    assert [int(want[labels == c].sum()) for c in (0, 1, 2)] == [3, 2, 2]
    assert want[:3].all() and want[10:12].all() and not want[3:10].any()


@pytest.mark.slow
def test_report_size_is_bounded_for_20k_samples(tmp_path):
    classes = [f"class{i:03d}" for i in range(100)]
    fx = make_selected_workdir(tmp_path, classes=classes, n_per_class=200, noise=0.2, seed=5, distinct_files=300,
                               broken=False, texture=80.0, image_px=96)  # noisy pixels: worst-case JPEG sizes
    cfg = ReportConfig()
    caps = Caps(thumbs_per_class=cfg.thumbs_per_class, thumbs_total=cfg.max_thumbs)
    rep = run_report(fx.wd, cfg)
    size = rep.summary["bytes"]
    html = (fx.wd.root / "report.html").read_text()
    g = _gallery(html)
    assert rep.counts["usable"] == 20000 and len(g["flagged"]) == rep.counts["flagged"] > 3000
    assert len(g["thumbs"]) <= caps.thumbs_total + caps.kept_total
    assert sum(r["t"] >= 0 for r in g["flagged"]) == caps.thumbs_total
    assert size < 15_000_000, f"report is {size / 1e6:.1f} MB"
    print(f"20k-sample report: {size / 1e6:.2f} MB, {len(g['thumbs'])} thumbnails, {rep.seconds:.1f} s")


def test_cli_report(fx, tmp_path):
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "-w", str(fx.wd.root), "--out", str(out), "--max-thumbs", "5"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"report written to {out} (")
    assert sum(x["t"] >= 0 for x in _gallery(out.read_text())["flagged"]) == 5


def test_report_needs_selection(tmp_path):
    wd = Workdir(tmp_path / "w").ensure()
    with pytest.raises(WorkdirError) as e:
        run_report(wd, ReportConfig())
    assert "selection.parquet does not exist" in e.value.message and "labelclean select" in e.value.hint
    r = runner.invoke(app, ["report", "-w", str(wd.root)])
    assert r.exit_code == 1 and "Hint: run `labelclean select" in r.stderr
