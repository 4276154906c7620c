"""store.probs.ProbFiles: probs/ read in row blocks gives exactly what load_probs gives."""

import numpy as np
import pyarrow as pa
import pytest

from labelclean.core.errors import WorkdirError
from labelclean.store import probs
from labelclean.store.workdir import Workdir


def _probs(n, k, seed):
    z = np.random.default_rng(seed).standard_normal((n, k)) * 3.0
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def _ids(n):
    return pa.array([f"s{i:05d}" for i in range(n)], pa.string())


def _gather(source):
    parts = {e: [] for e in source.names}
    starts = []
    for start, block in source.blocks():
        starts.append(start)
        for e, b in block.items():
            parts[e].append(b)
    return starts, {e: np.concatenate(v) for e, v in parts.items()}


@pytest.mark.parametrize("k", [7, 300])  # dense and topk layouts
def test_blocks_equal_load_probs_in_both_layouts(tmp_path, k):
    wd, n = Workdir(tmp_path / "w"), 1000
    labels = np.arange(n) % k
    for seed, est in enumerate(("zeroshot", "logreg")):
        probs.write_probs(wd, est, _ids(n), labels, _probs(n, k, seed), model_id="m")
    extra = _probs(n, k, 9)
    src = probs.ProbFiles(wd, ["zeroshot", "logreg", "deft"], _ids(n), n_classes=k, model_id="m",
                          arrays={"deft": extra}, rows=333)
    starts, got = _gather(src)
    assert starts == [0, 333, 666, 999] and src.shapes() == {e: (n, k) for e in src.names}
    for est in ("zeroshot", "logreg"):
        np.testing.assert_array_equal(got[est], probs.load_probs(wd, est, model_id="m")[1])
    np.testing.assert_array_equal(got["deft"], extra)


def test_a_file_in_another_row_order_is_aligned(tmp_path):
    wd, n, k = Workdir(tmp_path / "w"), 200, 5
    P, labels = _probs(n, k, 0), np.arange(n) % k
    perm = np.random.default_rng(1).permutation(n)
    probs.write_probs(wd, "knn", _ids(n).take(pa.array(perm)), labels[perm], P[perm], model_id="m")
    _, got = _gather(probs.ProbFiles(wd, ["knn"], _ids(n), n_classes=k, model_id="m", rows=64))
    np.testing.assert_allclose(got["knn"], P, atol=1e-3)
    np.testing.assert_array_equal(got["knn"][np.arange(n), labels], P[np.arange(n), labels])


def test_wrong_model_or_class_count_is_refused_before_reading(tmp_path):
    wd, n = Workdir(tmp_path / "w"), 50
    probs.write_probs(wd, "knn", _ids(n), np.zeros(n, int), _probs(n, 4, 0), model_id="m")
    with pytest.raises(WorkdirError, match="4 classes, the manifest 5"):
        probs.ProbFiles(wd, ["knn"], _ids(n), n_classes=5, model_id="m")
    with pytest.raises(WorkdirError, match="made with model 'm'"):
        probs.ProbFiles(wd, ["knn"], _ids(n), n_classes=4, model_id="other")
    with pytest.raises(WorkdirError, match="zeroshot.parquet does not exist"):
        probs.ProbFiles(wd, ["zeroshot"], _ids(n), n_classes=4, model_id="m")
