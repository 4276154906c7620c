"""Row-block probabilities (scoring.rowprobs): the estimators' lazy rows equal their matrices, and
`score` streams them without materialising any (N, K) matrix."""

import numpy as np
import pyarrow.parquet as pq
import pytest
from workdirgen import make_clustered, make_workdir

from labelclean.scoring import rowprobs
from labelclean.scoring.linear import LinearModel
from labelclean.scoring.logreg import LogRegOptions, out_of_fold_probs
from labelclean.scoring.robust import robust_probs, trusted_rows, trusted_samples
from labelclean.scoring.zero_shot import class_prob_rows, class_probs
from labelclean.stages.score import ScoreConfig, run_score
from labelclean.store.workdir import Workdir


def _model(d, k, seed):
    rng = np.random.default_rng(seed)
    return LinearModel(rng.standard_normal((d, k)).astype(np.float32), rng.standard_normal(k).astype(np.float32), 0)


@pytest.mark.parametrize("rows", [1, 7, 256, None])
def test_fold_rows_score_each_row_with_its_own_folds_model_in_any_blocking(rows):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 6)).astype(np.float16)
    fold = rng.integers(0, 3, size=500)
    models = [_model(6, 4, s) for s in range(3)]
    src = rowprobs.FoldProbs(X, fold, models, 4)
    got = np.concatenate([b for _, b in src.blocks(rows)])
    for f in range(3):
        want = models[f].predict_proba(X[fold == f])
        np.testing.assert_allclose(got[fold == f], want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(src.dense(), got, rtol=1e-6, atol=1e-7)
    given, pred = src.given_and_pred(np.zeros(500, np.int64))
    np.testing.assert_array_equal(given, got[:, 0])
    np.testing.assert_array_equal(pred, got.argmax(axis=1))


def test_a_fold_without_rows_needs_no_model():
    X = np.eye(4, dtype=np.float32)
    src = rowprobs.FoldProbs(X, np.array([0, 0, 2, 2]), [_model(4, 3, 0), None, _model(4, 3, 1)], 3)
    assert src.dense().shape == (4, 3) and np.allclose(src.dense().sum(axis=1), 1.0)


def test_zero_shot_rows_equal_the_matrix():
    d = make_clustered(3000, dim=16, n_classes=5, seed=2)
    P = class_probs(d.X, d.T, d.prompt_class_ids, n_classes=5, temperature=0.05, block_size=128)
    src = class_prob_rows(d.X, d.T, d.prompt_class_ids, n_classes=5, temperature=0.05, block_size=128)
    np.testing.assert_allclose(np.concatenate([b for _, b in src.blocks(1000)]), P, rtol=1e-6, atol=1e-8)


def test_trusted_rows_over_blocks_equal_the_matrix_version():
    d = make_clustered(2000, dim=16, n_classes=4, seed=3)
    noisy = d.labels.copy()
    noisy[:300] = (noisy[:300] + 1) % 4
    res = out_of_fold_probs(d.X, noisy, n_classes=4, device="cpu")
    want = trusted_samples(noisy, res.probs)
    assert 0 < want.sum() < noisy.size
    np.testing.assert_array_equal(trusted_rows(noisy, res.rows), want)


def test_minibatch_logreg_and_robust_keep_models_not_matrices():
    d = make_clustered(3000, dim=16, n_classes=4, seed=4)
    opts = LogRegOptions(minibatch_above=1000, path_samples=800)
    first = out_of_fold_probs(d.X, d.labels, n_classes=4, device="cpu", options=opts)
    assert first.minibatch and isinstance(first.rows, rowprobs.FoldProbs)
    assert sum(m is not None for m in first.rows.models) == 5
    rob = robust_probs(d.X, d.labels, n_classes=4, device="cpu", options=opts, first_pass=first)
    assert isinstance(rob.rows, rowprobs.FoldProbs) and rob.rows.models[0] is not first.rows.models[0]
    assert (rob.probs.argmax(axis=1) == d.labels).mean() > 0.8


def test_score_streams_every_estimator_without_a_matrix(tmp_path, monkeypatch):
    d = make_clustered(1500, dim=16, n_classes=4, seed=5)
    wd = make_workdir(tmp_path / "w", d.X, d.labels, d.class_names, T=d.T, prompt_class_ids=d.prompt_class_ids)

    def refuse(self):
        raise AssertionError(f"{type(self).__name__}.dense() called in score")

    monkeypatch.setattr(rowprobs.FoldProbs, "dense", refuse)
    monkeypatch.setattr(rowprobs.RowProbs, "dense", refuse)
    monkeypatch.setattr(rowprobs, "block_rows", lambda k: 400)  # several blocks per estimator
    report = run_score(Workdir(wd.root), ScoreConfig(device="cpu", estimators="zeroshot,logreg,robust"))
    assert report.agreement["robust"] > 0.8
    meta = pq.ParquetFile(wd.root / "probs" / "robust.parquet").metadata
    assert meta.num_rows == 1500 and meta.num_row_groups == 4  # written block by block
