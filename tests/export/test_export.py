"""export: list formats round-trip, class trees, safety refusals, byte-identical re-runs."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from labelclean.store import parquet_io, schemas
from labelclean.store.probs import write_probs
from labelclean.cli import app
from labelclean.core.errors import InputError, UsageError
from labelclean.export.rows import KeptFile
from labelclean.export.tree import class_dirs, plan
from labelclean.review.decisions import effective_selection
from labelclean.stages.export import ExportConfig, run_export
from labelclean.stages.review import ReviewConfig, run_review
from reportgen import make_selected_workdir

runner = CliRunner()


@pytest.fixture()
def fx(tmp_path):
    return make_selected_workdir(tmp_path, n_per_class=8, noise=0.3, seed=1)


def _kept(fx, **kw):
    eff = effective_selection(fx.wd, **kw)
    names = fx.classes
    return {r["sample_id"]: names[r["final_label_id"]] for r in eff.to_pylist() if r["keep"]}


def _read(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return pq.read_table(path).to_pylist()


def _tree_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _data_digest(fx) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(fx.data.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_list_formats_round_trip(fx, fmt):
    rep = run_export(fx.wd, ExportConfig(format=fmt))
    out = fx.wd.root / "export"
    clean = _read(out / f"clean.{fmt}")
    assert [list(r) for r in clean[:1]] == [["path", "label", "clean_score"]]
    assert {r["path"]: r["label"] for r in clean} == _kept(fx)
    flagged = _read(out / f"flagged.{fmt}")
    assert {r["sample_id"] for r in flagged} == set(fx.flagged) | set(fx.excluded)
    assert {r["sample_id"]: r["reason"] for r in flagged if r["sample_id"] in fx.excluded} == fx.excluded
    relabels = _read(out / "relabels.csv")
    assert [r["sample_id"] for r in relabels] and {r["sample_id"] for r in relabels} == set(fx.flagged)
    scores = [float(r["clean_score"]) for r in relabels]
    assert scores == sorted(scores), "relabels.csv is worst first"
    assert all(r["decision"] == "" for r in relabels)
    assert list(relabels[0]) == ["path", "sample_id", "given_label", "suggested_label", "confidence", "top3",
                                 "failed", "clean_score", "decision"]
    assert relabels[0]["top3"].count(";") == 2 and ":" in relabels[0]["top3"]
    assert rep.counts["kept"] == len(clean) and rep.counts["excluded"] == 2


def test_absolute_paths(fx):
    run_export(fx.wd, ExportConfig(absolute_paths=True))
    clean = _read(fx.wd.root / "export" / "clean.csv")
    assert len(clean) == len(_kept(fx)) > 0
    assert all(Path(r["path"]).is_absolute() and Path(r["path"]).exists() for r in clean)


def test_apply_relabels_changes_labels(fx):
    run_export(fx.wd, ExportConfig(format="jsonl", apply_relabels=True, min_confidence=0.5))
    clean = {r["path"]: r["label"] for r in _read(fx.wd.root / "export" / "clean.jsonl")}
    relabelled = {s for s, lab in clean.items() if lab != fx.given[s]}
    assert relabelled, "the fixture has confident suggestions"
    assert all(clean[s] == fx.true_label[s] for s in relabelled)


def test_review_decisions_apply_and_prefill_relabels(fx, tmp_path):
    out = fx.wd.root / "export"
    run_export(fx.wd, ExportConfig())
    rows = _read(out / "relabels.csv")
    rows[0]["decision"], rows[1]["decision"] = "relabel:fox", "reject"
    edited = tmp_path / "edited.csv"
    with edited.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    run_review(fx.wd, ReviewConfig(decisions=edited))
    run_export(fx.wd, ExportConfig(overwrite=True))
    clean = {r["path"]: r["label"] for r in _read(out / "clean.csv")}
    assert clean[rows[0]["path"]] == "fox" and clean[rows[1]["path"]] == rows[1]["given_label"]
    prefilled = {r["sample_id"]: r["decision"] for r in _read(out / "relabels.csv")}
    assert prefilled[rows[0]["sample_id"]] == "relabel:fox" and prefilled[rows[1]["sample_id"]] == "reject"


@pytest.mark.parametrize("link", ["symlink", "hardlink", "copy"])
def test_imagefolder_tree(fx, tmp_path, link):
    before = _data_digest(fx)
    out = tmp_path / "tree"
    run_export(fx.wd, ExportConfig(format="imagefolder", link=link, out=out))
    kept = _kept(fx)
    files = sorted(p for p in out.rglob("*.png"))
    assert len(files) == len(kept)
    for sid, label in kept.items():
        target = out / label / sid.split("/", 1)[1]
        src = fx.data / sid
        assert target.read_bytes() == src.read_bytes()
        assert target.is_symlink() == (link == "symlink")
        same_inode = os.stat(target).st_ino == os.stat(src).st_ino
        assert same_inode == (link in ("symlink", "hardlink"))
    assert _data_digest(fx) == before, "source data must never change"


def test_hf_metadata_matches_tree(fx, tmp_path):
    out = tmp_path / "hf"
    run_export(fx.wd, ExportConfig(format="hf", out=out, apply_relabels=True))
    meta = _read(out / "metadata.csv")
    assert list(meta[0]) == ["file_name", "label"]
    assert {m["file_name"] for m in meta} == {str(p.relative_to(out)) for p in out.rglob("*.png")}
    assert len(meta) >= len(_kept(fx)) > 0
    assert all(m["file_name"].split("/")[0] == m["label"] for m in meta)
    assert (out / "flagged.csv").exists() and (out / "relabels.csv").exists()


def test_tree_names_are_collision_safe():
    kept = [KeptFile("cat/x.png", "/d/cat/x.png", "cat", "cat"),
            KeptFile("dog/x.png", "/d/dog/x.png", "cat", "dog"),
            KeptFile("dog/cat/x.png", "/d/dog/cat/x.png", "cat", "dog"),
            KeptFile("imgs/a/X.png", "/d/imgs/a/X.png", "cat", "cat"),
            KeptFile("imgs/b/X.png", "/d/imgs/b/X.png", "cat", "cat")]
    rels = {k.sample_id: rel for rel, k in plan(kept, class_dirs(["cat"]))}
    assert rels["cat/x.png"] == "cat/x.png"
    assert rels["dog/cat/x.png"] == "cat/cat/x.png"
    assert rels["dog/x.png"].startswith("cat/x~") and rels["dog/x.png"].endswith(".png")
    assert rels["imgs/a/X.png"] == "cat/imgs/a/X.png" and rels["imgs/b/X.png"] == "cat/imgs/b/X.png"
    assert len({r.casefold() for r in rels.values()}) == len(rels)


def test_class_folder_names_are_safe():
    dirs = class_dirs(["<script>alert(1)</script>", "..", "a b"])
    assert dirs == {"<script>alert(1)</script>": "<script>alert(1)<_script>", "..": "_..", "a b": "a b"}
    with pytest.raises(InputError, match="would share the folder"):
        class_dirs(["a/b", "a_b"])


def test_refuses_to_overwrite_without_flag(fx):
    run_export(fx.wd, ExportConfig())
    with pytest.raises(InputError) as e:
        run_export(fx.wd, ExportConfig())
    assert "clean.csv already exists and 3 more" in e.value.message and "--overwrite" in e.value.hint
    run_export(fx.wd, ExportConfig(overwrite=True))


def test_tree_into_data_root_is_refused(fx):
    with pytest.raises(InputError, match="lies inside the data folder"):
        run_export(fx.wd, ExportConfig(format="imagefolder", out=fx.data / "cleaned"))


def test_reruns_are_byte_identical(fx, tmp_path):
    for fmt in ("csv", "jsonl", "parquet", "hf"):
        a, b = tmp_path / f"{fmt}-a", tmp_path / f"{fmt}-b"
        run_export(fx.wd, ExportConfig(format=fmt, out=a, link="copy"))
        first = _tree_files(a)
        run_export(fx.wd, ExportConfig(format=fmt, out=b, link="copy"))
        run_export(fx.wd, ExportConfig(format=fmt, out=a, link="copy", overwrite=True))
        assert _tree_files(b) == first == _tree_files(a), fmt


def test_overwrite_removes_files_of_the_previous_tree(fx, tmp_path):
    out = tmp_path / "tree"
    run_export(fx.wd, ExportConfig(format="imagefolder", out=out, apply_relabels=True))
    n_before = len(list(out.rglob("*.png")))
    run_export(fx.wd, ExportConfig(format="imagefolder", out=out, overwrite=True))
    assert len(list(out.rglob("*.png"))) == len(_kept(fx)) < n_before


def _add_sample(fx, sample_id: str, path: Path):
    manifest, meta = parquet_io.read_table(fx.wd.manifest, "manifest")
    row = {c: manifest[c][0].as_py() for c in manifest.column_names}
    row.update(sample_id=sample_id, path=str(path), status="ok")
    table = pa.concat_tables([manifest, pa.Table.from_pylist([row], schema=manifest.schema)])
    extra = {k: v for k, v in meta.items() if k not in ("table", "schema_version", "model_id")}
    parquet_io.write_table(fx.wd.manifest, table, "manifest", meta.get("model_id"), **extra)
    sel, smeta = parquet_io.read_table(fx.wd.selection, "selection")
    srow = {c: sel[c][0].as_py() for c in sel.column_names}
    srow.update(sample_id=sample_id, clean=True)
    parquet_io.write_table(fx.wd.selection, pa.concat_tables([sel, pa.Table.from_pylist([srow], schema=sel.schema)]),
                           "selection", smeta.get("model_id"))


def test_absolute_manifest_paths_are_exported_as_written(fx, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes((fx.data / fx.sample_ids[0]).read_bytes())
    _add_sample(fx, str(secret), secret)
    run_export(fx.wd, ExportConfig())
    assert str(secret) in [r["path"] for r in _read(fx.wd.root / "export" / "clean.csv")]


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_paths_escaping_the_data_root_are_refused(fx, tmp_path, how):
    secret = tmp_path / "secret.png"
    secret.write_bytes((fx.data / fx.sample_ids[0]).read_bytes())
    if how == "dotdot":
        _add_sample(fx, "../secret.png", fx.data / ".." / "secret.png")
    else:
        (fx.data / "cat" / "link.png").symlink_to(secret)
        _add_sample(fx, "cat/link.png", fx.data / "cat" / "link.png")
    with pytest.raises(InputError) as e:
        run_export(fx.wd, ExportConfig())
    assert "1 samples resolve outside the data root" in e.value.message
    assert "--allow-outside-root" in e.value.hint
    run_export(fx.wd, ExportConfig(allow_outside_root=True))
    paths = [r["path"] for r in _read(fx.wd.root / "export" / "clean.csv")]
    outside = [p for p in paths if Path(p).is_absolute()]
    assert len(outside) == 1 and os.path.realpath(outside[0]) == str(secret.resolve())


def test_bad_options_are_usage_errors(fx):
    with pytest.raises(UsageError):
        run_export(fx.wd, ExportConfig(format="xlsx"))
    r = runner.invoke(app, ["export", "-w", str(fx.wd.root), "--link", "teleport", "--format", "imagefolder"])
    assert r.exit_code == 2 and "--link teleport is not one of: symlink, hardlink, copy" in r.stderr


def test_cli_export_json_and_refusal(fx):
    args = ["export", "-w", str(fx.wd.root), "--format", "parquet"]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["stage"] == "export" and doc["counts"]["kept"] == len(_kept(fx))
    r = runner.invoke(app, args)
    assert r.exit_code == 1
    assert "already exists" in r.stderr and "Hint: pass --overwrite" in r.stderr


def test_top3_follows_selects_ensemble_weights(fx):
    from labelclean.export.top3 import load_top3

    ids = fx.sample_ids
    a = np.tile(np.array([0.7, 0.2, 0.1], np.float32), (len(ids), 1))  # cat first
    b = np.tile(np.array([0.0, 0.1, 0.9], np.float32), (len(ids), 1))  # fox first
    for est, P in (("zeroshot", a), ("logreg", b), ("knn", b)):
        write_probs(fx.wd, est, pa.array(list(ids), pa.string()), np.zeros(len(ids), int), P, model_id="test-model")
    sel, _ = parquet_io.read_table(fx.wd.selection, "selection")
    parquet_io.write_table(fx.wd.selection, sel, "selection", "test-model", estimators=["zeroshot", "logreg", "knn"],
                           weights={"zeroshot": 1.0, "logreg": 3.0, "knn": 0.0})
    top = load_top3(fx.wd)[ids[0]]
    assert [c for c, _ in top] == [2, 0, 1]  # fox (0.1 + 3*0.9)/4 = 0.7, cat 0.175, dog 0.125
    assert top[0][1] == pytest.approx(0.7, abs=1e-3) and top[1][1] == pytest.approx(0.175, abs=1e-3)  # float16
    parquet_io.write_table(fx.wd.selection, sel, "selection", "test-model", estimators=["zeroshot"])  # no weights
    assert len(load_top3(fx.wd)[ids[0]]) == 3
