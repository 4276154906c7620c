"""probs/<estimator>.parquet through write_probs/load_probs: both layouts, alignment, old files."""

import numpy as np
import pyarrow as pa
import pytest
from workdirgen import make_clustered, make_workdir

from labelclean.core.errors import WorkdirError
from labelclean.store import parquet_io, probs
from labelclean.store.workdir import Workdir


def _probs(n, k, seed=0, sharp=3.0):
    z = np.random.default_rng(seed).standard_normal((n, k)) * sharp
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def wd(tmp_path):
    return Workdir(tmp_path / "w")


def _ids(n):
    return pa.array([f"s{i:04d}" for i in range(n)], pa.string())


def test_dense_layout_is_float16_with_the_given_label_exact(wd):
    P = _probs(50, 10)
    P[0] = [1e-9] + [(1 - 1e-9) / 9] * 9  # p(given) below float16's range
    labels = np.arange(50) % 10
    path = probs.write_probs(wd, "zeroshot", _ids(50), labels, P, model_id="m")
    table, meta = parquet_io.read_table(path, "probs")
    assert meta["layout"] == "dense" and table.schema.field("probs").type == pa.binary(20)  # 10 float16 a row
    ids, got = probs.load_probs(wd, "zeroshot", model_id="m")
    assert ids.tolist() == _ids(50).to_pylist()
    np.testing.assert_allclose(got, P, atol=1e-3)
    assert got[0, 0] == np.float32(1e-9)  # exact, not flushed to 0
    np.testing.assert_array_equal(got[np.arange(50), labels], P[np.arange(50), labels])


def test_topk_layout_above_256_classes_keeps_the_top_and_sums_to_one(wd):
    k, n = 300, 40
    P = _probs(n, k, seed=1, sharp=4.0)
    labels = np.argsort(P, axis=1)[:, 0]  # the given label is the least likely: never in the top-k
    probs.write_probs(wd, "logreg", _ids(n), labels, P, model_id="m")
    assert parquet_io.read_meta(probs.probs_path(wd, "logreg"))["layout"] == "topk"
    assert probs.probs_shape(wd, "logreg") == (n, k)
    _, got = probs.load_probs(wd, "logreg", n_classes=k)
    assert got.shape == (n, k)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=2e-3)
    top = np.argsort(-P, axis=1)[:, : probs.TOP_K]
    np.testing.assert_allclose(np.take_along_axis(got, top, 1), np.take_along_axis(P, top, 1), rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(got[np.arange(n), labels], P[np.arange(n), labels])
    np.testing.assert_array_equal(got.argmax(axis=1), P.argmax(axis=1))
    # the classes not stored share the rest evenly, below the smallest stored probability
    rest = np.ones_like(got, dtype=bool)
    np.put_along_axis(rest, top, False, 1)
    rest[np.arange(n), labels] = False
    assert (got[rest] <= np.take_along_axis(P, top, 1).min(axis=1).repeat(k)[rest.ravel()] + 1e-6).all()


def test_rows_follow_the_requested_ids_and_missing_ones_are_refused(wd):
    P = _probs(5, 4)
    probs.write_probs(wd, "knn", _ids(5), np.zeros(5, int), P, model_id="m")
    order = np.array(["s0003", "s0000"], dtype=object)
    ids, got = probs.load_probs(wd, "knn", order)
    assert ids.tolist() == ["s0003", "s0000"]
    np.testing.assert_allclose(got, P[[3, 0]], atol=1e-3)
    with pytest.raises(WorkdirError, match="no row for 1 scored samples"):
        probs.load_probs(wd, "knn", np.array(["s0001", "nope"], dtype=object))
    with pytest.raises(WorkdirError, match="has 4 classes, the manifest 5"):
        probs.load_probs(wd, "knn", n_classes=5)
    with pytest.raises(WorkdirError, match="made with model"):
        probs.load_probs(wd, "knn", model_id="other")


def test_a_float32_file_from_an_older_version_still_reads(wd):
    P = _probs(6, 3)
    wd.probs_dir.mkdir(parents=True)
    t = pa.table({"sample_id": _ids(6), "probs": parquet_io.fixed_list(P, pa.float32())})
    parquet_io.write_table(probs.probs_path(wd, "old"), t, "probs", "m")
    _, got = probs.load_probs(wd, "old")
    np.testing.assert_array_equal(got, P)


@pytest.mark.parametrize("k", [5, 300])
def test_select_reads_what_score_wrote_in_both_layouts(tmp_path, k):
    from labelclean.stages.configs import ScoreConfig, SelectConfig
    from labelclean.stages.score import run_score
    from labelclean.stages.select import run_select

    d = make_clustered(400, dim=16, n_classes=k, seed=0)
    w = make_workdir(tmp_path / "w", d.X, d.labels, d.class_names, T=d.T, prompt_class_ids=d.prompt_class_ids)
    report = run_score(w, ScoreConfig(estimators="zeroshot,logreg", device="cpu"))
    assert report.device == "cpu" and w.stage_record("score")["summary"]["device"] == "cpu"  # run.json
    assert parquet_io.read_meta(probs.probs_path(w, "logreg"))["layout"] == probs.layout_for(k)
    sel = run_select(w, SelectConfig())
    assert sel.samples == 400 and sel.kept > 0


@pytest.mark.parametrize("k", [10, 300])
def test_the_block_writer_equals_the_one_shot_writer_and_leaves_nothing_when_cut_short(wd, k):
    n = 90
    P, labels = _probs(n, k, seed=2), np.random.default_rng(1).integers(0, k, n)
    probs.write_probs(wd, "knn", _ids(n), labels, P, model_id="m")
    whole = probs.load_probs(wd, "knn")[1]
    with probs.ProbsWriter(wd, "zeroshot", _ids(n), labels, k, model_id="m") as w:
        for start in range(0, n, 13):
            w.add(P[start : start + 13])
    np.testing.assert_array_equal(probs.load_probs(wd, "zeroshot")[1], whole)
    with pytest.raises(ValueError, match="40 of 90 rows"):
        with probs.ProbsWriter(wd, "logreg", _ids(n), labels, k, model_id="m") as w:
            w.add(P[:40])
    with pytest.raises(ValueError, match="does not fit"):
        with probs.ProbsWriter(wd, "logreg", _ids(n), labels, k, model_id="m") as w:
            w.add(P[:, :3])
    assert not probs.probs_path(wd, "logreg").exists() and list(wd.probs_dir.glob(".*")) == []
