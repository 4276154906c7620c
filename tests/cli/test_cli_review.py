"""`labelclean review` (--decisions from Label Studio, --serve options) and `export --format label-studio`."""

from __future__ import annotations

import csv
import json
import socket

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from labelclean.cli import app
from labelclean.core.errors import UsageError
from labelclean.review.server.serve import bind, is_loopback, url_for
from reportgen import make_selected_workdir

runner = CliRunner()


@pytest.fixture()
def fx(tmp_path):
    return make_selected_workdir(tmp_path, classes=("cat", "dog", "fox"), n_per_class=12, noise=0.3, seed=1)


def test_label_studio_round_trip_flows_into_export(fx, tmp_path):
    out = tmp_path / "ls"
    r = runner.invoke(app, ["export", "-w", str(fx.wd.root), "--format", "label-studio", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == [
        ".labelclean-export.json", "label-studio-config.xml", "label-studio-tasks.json", "relabels.csv"]
    tasks = json.loads((out / "label-studio-tasks.json").read_text())
    assert len(tasks) == len(fx.flagged)
    a, b = tasks[0], tasks[1]
    target = next(c for c in ("cat", "dog", "fox") if c != a["data"]["given_label"])
    a["annotations"] = [{"result": [{"from_name": "label", "to_name": "image", "type": "choices",
                                     "value": {"choices": [target]}}]}]
    b["annotations"] = [{"result": [{"from_name": "drop", "to_name": "image", "type": "choices",
                                     "value": {"choices": ["drop: not a valid image of any class"]}}]}]
    exported = tmp_path / "project-1.json"
    exported.write_text(json.dumps(tasks))
    r = runner.invoke(app, ["review", "-w", str(fx.wd.root), "--decisions", str(exported)])
    assert r.exit_code == 0, r.output
    assert "2 decisions imported, 2 stored" in r.stdout
    rows = {t["sample_id"]: (t["decision"], t["label"]) for t in pq.read_table(fx.wd.decisions).to_pylist()}
    assert rows == {a["data"]["sample_id"]: ("relabel", target), b["data"]["sample_id"]: ("drop", None)}
    r = runner.invoke(app, ["export", "-w", str(fx.wd.root), "--out", str(tmp_path / "csv")])
    assert r.exit_code == 0, r.output
    with (tmp_path / "csv" / "clean.csv").open() as f:
        clean = {row["path"]: row["label"] for row in csv.DictReader(f)}
    assert clean[a["data"]["sample_id"]] == target and b["data"]["sample_id"] not in clean


def test_review_needs_decisions_or_serve(fx):
    r = runner.invoke(app, ["review", "-w", str(fx.wd.root)])
    assert r.exit_code == 2
    assert "pass --decisions FILE to import decisions, or --serve to review in the browser" in r.output
    r = runner.invoke(app, ["review", "-w", str(fx.wd.root), "--decisions", "x.csv", "--port", "9000"])
    assert r.exit_code == 2 and "--port only has an effect with --serve" in r.output
    r = runner.invoke(app, ["review", "-w", str(fx.wd.root), "--serve", "--port", "70000"])
    assert r.exit_code == 2 and "--port 70000 is outside [0, 65535]" in r.output


def test_bind_names_the_busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(UsageError, match=rf"^--port {port} is already in use$"):
            bind("127.0.0.1", port)
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_loopback_and_url():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert url_for("127.0.0.1", 8765, "abc") == "http://127.0.0.1:8765/?token=abc"
    assert url_for("::1", 8765, "abc") == "http://[::1]:8765/?token=abc"


def test_serve_without_selection_names_the_stage_and_warns_about_the_host(tmp_path):
    from workdirgen import make_clustered, make_workdir

    d = make_clustered(20, dim=8, n_classes=2, seed=0)
    wd = make_workdir(tmp_path / "w", d.X, d.labels, d.class_names)
    r = runner.invoke(app, ["review", "-w", str(wd.root), "--serve", "--no-browser", "--host", "0.0.0.0"])
    assert r.exit_code == 1
    assert "--host 0.0.0.0 makes the review app reachable from other machines" in r.output
    assert f"{wd.root / 'selection.parquet'} does not exist" in r.output
    assert f"labelclean select -w {wd.root}" in r.output
