"""CPU smoke runs of `run_train` and `run_predict` on a tiny generated dataset.

MixFix uses timm's ``test_resnet`` at 32 px; DeFT uses the tiny random-weight CLIP model.
Each run is one or two epochs of a few batches.
"""

import csv
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from imagegen import make_image_folder
from labelclean.core.errors import UsageError, WorkdirError
from labelclean.store.parquet_io import read_meta
from labelclean.store.schemas import deft_schema
from labelclean.stages.predict import PredictConfig, run_predict
from labelclean.stages.train import TrainConfig, run_train
from trainkit import make_train_workdir

CLASSES = {"apple": 4, "banana": 4, "cherry": 4}


pytestmark = pytest.mark.usefixtures("quiet_console")


def mixfix_cfg(**kw):
    base = dict(method="mixfix", backbone="test_resnet", image_size=32, epochs=2, batch_size=8, device="cpu",
                theta_r=0.3, theta_r2=0.5)
    return TrainConfig(**{**base, **kw})


def deft_cfg(**kw):
    base = dict(method="deft", epochs=2, ft_epochs=1, batch_size=8, device="cpu", backbone="test_resnet",
                image_size=32)
    return TrainConfig(**{**base, **kw})


def _weights(wd, method):
    return torch.load(wd.train_dir / method / "model.pt", weights_only=True)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_mixfix_two_epochs_finish_and_loss_decreases(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    val = make_image_folder(tmp_path / "val", CLASSES)
    report = run_train(td.wd, mixfix_cfg(val=val, epochs=3, lr=0.05))
    s = report.summary
    assert s["complete"] and s["n_pool"] == 36 and s["n_clean0"] == 27
    rows = _rows(td.wd.train_dir / "mixfix" / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert int(rows[0]["n_train"]) == 27  # S0
    for prev, r in zip(rows, rows[1:]):  # then S0 + what the previous update absorbed or relabelled
        assert int(r["n_train"]) == 27 + int(prev["absorbed"]) + int(prev["relabelled"])
    for r in rows:  # 9 samples outside S0, each absorbed, relabelled or dropped
        assert int(r["absorbed"]) + int(r["relabelled"]) + int(r["dropped"]) == 9
    assert 0.0 <= s["best_val_acc"] <= 1.0 and s["last_val_acc"] is not None and "optimistic" in s["note"]
    card = json.loads((td.wd.train_dir / "mixfix" / "model.json").read_text())
    assert card["backbone"]["name"] == "test_resnet" and card["preprocessing"]["size"] == 32
    assert [c["name"] for c in card["classes"]] == ["apple", "banana", "cherry"]
    assert "train_mixfix" in json.loads(td.wd.run_json.read_text())["stages"]


@pytest.mark.slow
def test_mixfix_resume_gives_identical_weights(tmp_path):
    a = make_train_workdir(tmp_path / "a")
    b = make_train_workdir(tmp_path / "b")
    run_train(a.wd, mixfix_cfg())
    stopped = run_train(b.wd, mixfix_cfg(stop_after=1))
    assert not stopped.summary["complete"] and not (b.wd.train_dir / "mixfix" / "model.pt").exists()
    assert len(_rows(b.wd.train_dir / "mixfix" / "metrics.csv")) == 1
    resumed = run_train(b.wd, mixfix_cfg(resume=True))
    assert resumed.summary["complete"]
    wa, wb = _weights(a.wd, "mixfix"), _weights(b.wd, "mixfix")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ra, rb = _rows(a.wd.train_dir / "mixfix" / "metrics.csv"), _rows(b.wd.train_dir / "mixfix" / "metrics.csv")
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]


def test_resume_refuses_changed_options(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    run_train(td.wd, mixfix_cfg(stop_after=1))
    with pytest.raises(UsageError, match=r"options differ from the interrupted run \(lr: 0.02 -> 0.5\)"):
        run_train(td.wd, mixfix_cfg(resume=True, lr=0.5))


def test_mixfix_needs_a_selection(tmp_path):
    td = make_train_workdir(tmp_path / "w", selection=False)
    with pytest.raises(WorkdirError, match="selection.parquet does not exist"):
        run_train(td.wd, mixfix_cfg())


def _reviewed(path, tiny_model):
    """A workdir where a reviewer kept three samples: phase 2 trains on them whatever DeFT
    (with a random-weight CLIP) detects."""
    from trainkit import write_decisions

    td = make_train_workdir(path, tiny_model=tiny_model)
    write_decisions(td.wd, {sid: ("reject", None) for sid in td.sample_ids[10:13]})
    return td


def test_deft_detects_writes_deft_parquet_and_fine_tunes(tmp_path, tiny_model):
    td = _reviewed(tmp_path / "w", tiny_model)
    report = run_train(td.wd, deft_cfg(epochs=3, warmup=3))
    s = report.summary
    assert s["complete"] and "phase2" in s and s["phase2"]["n_train"] >= 3
    table = pq.read_table(td.wd.deft)
    assert table.schema.remove_metadata() == deft_schema(3)
    assert sorted(table["sample_id"].to_pylist()) == sorted(td.sample_ids)
    meta = read_meta(td.wd.deft)
    assert meta["table"] == "deft" and meta["model_id"] == json.loads(td.wd.run_json.read_text())["model"]["model_id"]
    p = table["p_clean"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all() and int((p > 0.5).sum()) == s["phase1"]["n_clean"]
    rows = _rows(td.wd.train_dir / "deft" / "metrics.csv")
    assert [r["phase"] for r in rows] == ["detect"] * 3 + ["finetune"]
    detect = [float(r["loss"]) for r in rows[:3]]  # all warm-up: the same loss throughout
    assert detect[-1] < detect[0]
    assert (td.wd.train_dir / "deft" / "model.json").exists()


@pytest.mark.slow
def test_deft_resume_across_phases_is_exact(tmp_path, tiny_model):
    a, b = _reviewed(tmp_path / "a", tiny_model), _reviewed(tmp_path / "b", tiny_model)
    cfg = dict(epochs=1, ft_epochs=1, lr=0.03)
    run_train(a.wd, deft_cfg(**cfg))
    assert not run_train(b.wd, deft_cfg(**cfg, stop_after=1)).summary["complete"]
    assert b.wd.deft.exists()  # phase 1 finished and was written before stopping
    run_train(b.wd, deft_cfg(**cfg, resume=True))
    wa, wb = _weights(a.wd, "deft"), _weights(b.wd, "deft")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert pq.read_table(a.wd.deft).equals(pq.read_table(b.wd.deft))


def test_deft_detect_only_then_resume_into_phase2(tmp_path, tiny_model):
    td = _reviewed(tmp_path / "w", tiny_model)
    cfg = dict(method="deft", epochs=1, ft_epochs=1, batch_size=16, device="cpu", backbone="test_resnet", image_size=32)
    report = run_train(td.wd, TrainConfig(**cfg, detect_only=True))
    assert report.summary["complete"] and "phase2" not in report.summary
    assert td.wd.deft.exists() and not (td.wd.train_dir / "deft" / "model.json").exists()
    json.dumps(report.to_json(), allow_nan=False)  # NaN figures are reported as null
    before = pq.read_table(td.wd.deft)
    report = run_train(td.wd, TrainConfig(**cfg, resume=True))
    assert "phase2" in report.summary and (td.wd.train_dir / "deft" / "model.json").exists()
    assert pq.read_table(td.wd.deft).equals(before)  # phase 1 is not run again


def test_mixfix_with_clip_backbone_and_predict(tmp_path, tiny_model):
    td = make_train_workdir(tmp_path / "w", tiny_model=tiny_model)
    run_train(td.wd, mixfix_cfg(backbone="clip", image_size=None, epochs=1, lr=0.01))
    card = json.loads((td.wd.train_dir / "mixfix" / "model.json").read_text())
    assert card["backbone"]["kind"] == "clip"
    data = make_image_folder(tmp_path / "new", CLASSES)
    report = run_predict(td.wd, PredictConfig(data=data, device="cpu"))
    assert report.counts == {"images": 12, "predicted": 12, "failed": 0}
    assert report.summary["labelled"] == 12 and 0.0 <= report.summary["accuracy"] <= 1.0


def test_predict_plain_folder_and_bad_files(tmp_path):
    td = make_train_workdir(tmp_path / "w")
    run_train(td.wd, mixfix_cfg(epochs=1))
    plain = tmp_path / "plain"
    src = make_image_folder(tmp_path / "src", {"x": 3})
    plain.mkdir()
    for i, p in enumerate(sorted((src / "x").iterdir())):
        p.rename(plain / f"img{i}.png")
    (plain / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "pred.csv"
    report = run_predict(td.wd, PredictConfig(data=plain, out=out, device="cpu"))
    assert report.counts == {"images": 4, "predicted": 3, "failed": 1}
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in _rows(out)}
    assert rows["broken.png"]["predicted"] == "" and rows["broken.png"]["status"] != "ok"
    good = rows["img0.png"]
    assert good["predicted"] in ("apple", "banana", "cherry") and good["top3"] != ""
    confs = [float(good[k]) for k in ("confidence", "top2_confidence", "top3_confidence")]
    assert confs == sorted(confs, reverse=True) and sum(confs) == pytest.approx(1.0, abs=1e-4)
    assert report.summary["accuracy"] is None


def test_training_set_follows_reviewer_decisions(tmp_path):
    from labelclean.train.common.data import load_train_set
    from trainkit import write_decisions

    td = make_train_workdir(tmp_path / "w")
    ids = td.sample_ids
    write_decisions(td.wd, {ids[0]: ("relabel", "cherry"), ids[1]: ("drop", None)})
    data = load_train_set(td.wd)
    i0, i1 = list(data.sample_ids).index(ids[0]), list(data.sample_ids).index(ids[1])
    assert data.clean0[i0] and data.labels0[i0] == 2 and data.locked[i0]
    assert data.dropped[i1] and not data.clean0[i1]
    assert data.truth is not None and (data.truth == np.asarray(td.truth)).all()


def test_a_file_broken_after_embed_is_skipped_not_fatal(tmp_path, tiny_model):
    td = _reviewed(tmp_path / "w", tiny_model)
    broken = td.sample_ids[0]
    (td.wd.root / "data" / broken).write_bytes(b"truncated")
    run_train(td.wd, deft_cfg(epochs=1, detect_only=True))
    table = pq.read_table(td.wd.deft)
    row = table["sample_id"].to_pylist().index(broken)
    assert table["p_clean"][row].as_py() is None and table["probs"][row].as_py() is None
    assert table["p_clean"].null_count == 1
    assert _rows(td.wd.train_dir / "deft" / "metrics.csv")[0]["decode_failed"] == "1"
    report = run_train(td.wd, mixfix_cfg(epochs=1))
    assert report.summary["complete"]


def test_resume_refuses_a_changed_selection(tmp_path):
    from trainkit import write_selection

    td = make_train_workdir(tmp_path / "w")
    run_train(td.wd, mixfix_cfg(stop_after=1))
    write_selection(td.wd, td.sample_ids, td.given, np.ones(len(td.sample_ids), bool))
    with pytest.raises(UsageError, match="the training data .* changed"):
        run_train(td.wd, mixfix_cfg(resume=True))
