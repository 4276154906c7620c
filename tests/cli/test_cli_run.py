"""`run`: stages chained with fingerprints; unchanged stages are skipped, changed ones redone."""

from __future__ import annotations

import csv
import json
import os
import re

import pytest
from typer.testing import CliRunner

from labelclean.cli import app
from labelclean.stages.export import ExportConfig
from labelclean.stages.pipeline import data_stamp, file_stamp, make_config, run_pipeline
from labelclean.stages.report import ReportConfig
from labelclean.stages.review import ReviewConfig, run_review
from reportgen import make_selected_workdir

runner = CliRunner()


def _ran(result) -> dict[str, bool]:
    return {r.stage: not r.report.skipped for r in result.results}


def test_export_and_report_skip_when_unchanged(tmp_path):
    fx = make_selected_workdir(tmp_path, n_per_class=6, seed=8)
    configs = {"export": ExportConfig(format="jsonl"), "report": ReportConfig()}
    assert _ran(run_pipeline(fx.wd, configs)) == {"export": True, "report": True}
    first = (fx.wd.root / "export" / "clean.jsonl").read_bytes()
    assert _ran(run_pipeline(fx.wd, configs)) == {"export": False, "report": False}
    assert fx.wd.stage_record("export")["fingerprint"] and fx.wd.stage_record("report")["fingerprint"]

    dec = tmp_path / "d.csv"
    with dec.open("w", newline="") as f:
        csv.writer(f).writerows([("sample_id", "decision"), (fx.flagged[0], "reject")])
    run_review(fx.wd, ReviewConfig(decisions=dec))  # decisions changed: both are redone
    assert _ran(run_pipeline(fx.wd, configs)) == {"export": True, "report": True}
    assert (fx.wd.root / "export" / "clean.jsonl").read_bytes() != first

    (fx.wd.root / "report.html").unlink()  # output missing: redone
    assert _ran(run_pipeline(fx.wd, configs)) == {"export": False, "report": True}
    configs["export"] = ExportConfig(format="csv")  # config changed
    assert _ran(run_pipeline(fx.wd, configs))["export"] is True
    assert _ran(run_pipeline(fx.wd, configs, force=True)) == {"export": True, "report": True}


def test_data_stamp_follows_files_and_labels(tmp_path):
    fx = make_selected_workdir(tmp_path, n_per_class=3, seed=9, broken=False)

    class Cfg:
        data = fx.data
        classes_file = None

    a = data_stamp(Cfg)
    assert data_stamp(Cfg) == a
    f = fx.data / fx.sample_ids[0]
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    b = data_stamp(Cfg)
    assert b != a
    f.rename(fx.data / "dog" / "moved.png")  # a label change is a move between class folders
    assert data_stamp(Cfg) not in (a, b)


def test_file_stamp(tmp_path):
    p = tmp_path / "templates.txt"
    p.write_text("a photo of a {}.")
    s = file_stamp(str(p))
    assert s == file_stamp(p) and len(s) == 64
    p.write_text("a sketch of a {}.")
    assert file_stamp(p) != s
    assert file_stamp("ViT-B-32") is None and file_stamp(None) is None and file_stamp(3) is None


def test_make_config_uses_defaults_for_none():
    cfg = make_config(ExportConfig, {"format": "parquet", "out": None})
    assert cfg.format == "parquet" and cfg.out is None and cfg.link == "symlink"
    with pytest.raises(TypeError, match="no field"):
        make_config(ExportConfig, {"colour": "red"})


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_model):
    from imagegen import make_image_folder

    root = tmp_path_factory.mktemp("run")
    data = make_image_folder(root / "data", {"cat": 8, "dog": 8, "fox": 8})
    wd = root / "work"
    r = runner.invoke(app, ["run", str(data), "-w", str(wd), "-m", tiny_model, "--format", "jsonl"])
    return data, wd, r


def _stages(stderr: str) -> dict[str, str]:
    return dict(re.findall(r"^(embed|score|select|export|report): (unchanged|done)", stderr, re.M))


def test_run_does_everything_and_says_where(first_run):
    data, wd, r = first_run
    assert r.exit_code == 0, r.output
    assert _stages(r.stderr) == {s: "done" for s in ("embed", "score", "select", "export", "report")}
    where = dict(line.split(None, 1) for line in r.stdout.splitlines())
    assert where["workdir"] == str(wd.resolve()) and where["report"] == str(wd.resolve() / "report.html")
    assert (wd / "export" / "clean.jsonl").exists() and (wd / "report.html").exists()
    run = json.loads((wd / "run.json").read_text())
    assert all(run["stages"][s]["fingerprint"] for s in ("embed", "score", "select", "export", "report"))


def test_run_skips_unchanged_and_redoes_what_changed(first_run, tiny_model, tmp_path):
    data, wd, _ = first_run
    args = ["run", str(data), "-w", str(wd), "-m", tiny_model, "--format", "jsonl"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert set(_stages(r.stderr).values()) == {"unchanged"}

    r = runner.invoke(app, [*args, "--theta-relabel", "0.4"])  # a select option
    assert r.exit_code == 0, r.output
    assert _stages(r.stderr) == {"embed": "unchanged", "score": "unchanged", "select": "done", "export": "done",
                                 "report": "done"}

    before = json.loads((wd / "run.json").read_text())
    sid = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))[0]
    dec = tmp_path / "d.csv"
    dec.write_text(f"sample_id,decision\n{sid},relabel:fox\n")
    assert runner.invoke(app, ["review", "-w", str(wd), "--decisions", str(dec)]).exit_code == 0
    r = runner.invoke(app, [*args, "--theta-relabel", "0.6"])  # re-selection keeps the decision
    assert r.exit_code == 0, r.output
    clean = {row["path"]: row["label"] for row in map(json.loads, (wd / "export" / "clean.jsonl").read_text().splitlines())}
    assert clean[sid] == "fox"
    assert before["stages"]["select"]["fingerprint"] != json.loads((wd / "run.json").read_text())["stages"]["select"]["fingerprint"]

    img = data / sid
    img.write_bytes(img.read_bytes())  # same content, new mtime: embed re-checks (and reuses embeddings)
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    r = runner.invoke(app, [*args, "--theta-relabel", "0.6", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [s["skipped"] for s in doc["stages"]] == [False] * 5
