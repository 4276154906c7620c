"""Selection: criteria, combination, fallback, suggestions, degenerate cases, end to end."""

import numpy as np
import pytest
from workdirgen import make_clustered

from labelclean.evaluation.metrics import detection_metrics
from labelclean.evaluation.noise import symmetric_noise
from labelclean.scoring.knn import knn_probs
from labelclean.scoring.logreg import out_of_fold_probs
from labelclean.scoring.zero_shot import class_probs
from labelclean.selection import SelectionOptions, select_samples
from labelclean.selection.combine import class_fallback, combine, estimator_weights, parse_combine
from labelclean.scoring.confident import confident_joint, noise_rate_pass
from labelclean.selection.criteria import consistency_pass, css_posterior, gmm_clean_posterior
from labelclean.selection.suggest import duplicate_conflicts, suggest_labels

METHODS = [SelectionOptions(), SelectionOptions(method="criteria"), SelectionOptions(method="criteria", combine="any"),
           SelectionOptions(method="css")]


def _toy():
    """3 classes, 4 samples each; sample 3 is labelled 0 but every estimator says class 2."""
    labels = np.repeat([0, 1, 2], 4)
    probs = np.full((12, 3), 0.05, dtype=np.float32)
    probs[np.arange(12), labels] = 0.9
    probs[3] = [0.05, 0.05, 0.9]
    return labels, {"zeroshot": probs.copy(), "logreg": probs.copy()}


def test_toy_flags_the_wrong_label_and_suggests_the_right_one():
    labels, probs = _toy()
    res = select_samples(labels, probs, n_classes=3, options=SelectionOptions(method="criteria"))
    assert np.flatnonzero(~res.clean).tolist() == [3]
    assert res.suggested[3] == 2 and res.suggested_confidence[3] == pytest.approx(0.9)
    assert res.decision[3] == "relabel" and res.decision[0] == "keep"
    assert "logreg:consistency" in res.failed[3] and "zeroshot:consistency" in res.failed[3]
    assert res.clean_score[3] < res.clean_score[0]
    assert (res.suggested[res.clean] == -1).all()


def test_consistency_threshold():
    assert consistency_pass(np.array([0.79, 0.8, 1.0]), theta=0.8).tolist() == [False, True, True]


def test_gmm_posterior_separates_two_modes_and_is_monotone():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(0.9, 0.03, 80), rng.normal(0.2, 0.05, 20)]
    post = gmm_clean_posterior(scores, np.zeros(100, dtype=int), seed=0)
    assert (post[:80] > 0.5).all() and (post[80:] < 0.5).all()
    order = np.argsort(scores)
    assert (np.diff(post[order]) >= 0).all()


@pytest.mark.parametrize("scores, labels", [(np.array([0.3]), np.array([0])), (np.full(10, 0.5), np.zeros(10, int)),
                                            (np.array([0.1, 0.9, 0.5]), np.array([0, 1, 2]))])
def test_gmm_degenerate_classes_pass(scores, labels):
    assert np.array_equal(gmm_clean_posterior(scores, labels), np.ones(len(scores)))


def test_css_posterior_and_its_degenerate_fallback():
    rng = np.random.default_rng(1)
    loss = np.r_[rng.normal(0.2, 0.1, 150), rng.normal(3.0, 0.5, 50)]
    p = np.r_[rng.normal(0.8, 0.05, 150), rng.normal(0.2, 0.05, 50)]
    res = css_posterior(loss, p, seed=0)
    assert (res.posterior[:150] > 0.5).mean() > 0.95 and (res.posterior[150:] < 0.5).mean() > 0.95
    assert res.notes == []
    wrong = css_posterior(loss, 1 - p, seed=0)  # low loss comes with low p: components disagree
    assert wrong.notes and "1-D GMM" in wrong.notes[0]
    assert np.array_equal(css_posterior(np.ones(3), np.ones(3)).posterior, np.ones(3))


def test_combine_rules():
    v = np.array([[True, True], [True, False], [False, False]])
    assert combine(v, "all").tolist() == [True, False, False]
    assert combine(v, "any").tolist() == [True, True, False]
    assert combine(v, "vote:1").tolist() == [True, True, False]
    assert combine(v, "vote:5").tolist() == [True, False, False]
    for bad in ("most", "vote:0", "vote:x"):
        with pytest.raises(ValueError, match="combine must be"):
            parse_combine(bad)


def test_fallback_keeps_the_best_scored_samples_of_an_emptied_class():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1])
    clean = np.array([True, True, False, False, False, False, False, False, False])
    score = np.array([0.9, 0.8, 0.1, 0.2, 0.7, 0.1, 0.6, 0.3, 0.05])
    new, notices = class_fallback(clean, labels, score)
    assert np.flatnonzero(new & (labels == 1)).tolist() == [4, 6]  # highest scores, not lowest
    assert notices == [{"class_id": 1, "samples": 6, "kept_by_fallback": 2}]


def test_fallback_is_reported_by_select_samples():
    labels = np.array([0] * 6 + [1] * 6)
    probs = np.zeros((12, 2), dtype=np.float32)
    probs[:, 0] = 0.95
    probs[:, 1] = 0.05  # every estimator says every sample is class 0
    res = select_samples(labels, {"logreg": probs}, n_classes=2, options=SelectionOptions(method="criteria"))
    assert res.fallback and res.fallback[0]["class_id"] == 1 and res.clean[labels == 1].any()
    off = select_samples(labels, {"logreg": probs}, n_classes=2,
                         options=SelectionOptions(method="criteria", fallback=False))
    assert not off.clean[labels == 1].any() and off.fallback == []


@pytest.mark.parametrize("opts", METHODS, ids=["ensemble", "criteria-all", "criteria-any", "css"])
@pytest.mark.parametrize("case", ["single_class", "empty_and_singleton_class", "all_equal", "two_samples"])
def test_degenerate_inputs_never_crash_or_nan(opts, case):
    rng = np.random.default_rng(0)
    if case == "single_class":
        labels, k = np.zeros(20, dtype=int), 1
        probs = np.ones((20, 1), dtype=np.float32)
    elif case == "empty_and_singleton_class":
        labels, k = np.r_[np.zeros(15, int), np.ones(14, int), [3]], 4  # class 2 empty, class 3 has one
        probs = rng.dirichlet(np.ones(4), size=30).astype(np.float32)
    elif case == "all_equal":
        labels, k = np.arange(30) % 3, 3
        probs = np.full((30, 3), 1 / 3, dtype=np.float32)
    else:
        labels, k = np.array([0, 1]), 2
        probs = np.array([[0.9, 0.1], [0.9, 0.1]], dtype=np.float32)
    res = select_samples(labels, {"zeroshot": probs, "logreg": probs, "knn": probs}, n_classes=k, options=opts)
    assert np.isfinite(res.clean_score).all() and ((res.clean_score >= 0) & (res.clean_score <= 1)).all()
    assert res.clean.dtype == bool and len(res.decision) == len(labels)
    for c in np.unique(labels):  # no class loses every sample
        assert res.clean[labels == c].any()


def test_duplicate_conflicts_fail_and_extra_clean_probabilities_count():
    labels, probs = _toy()
    groups = np.array([f"g{i}" for i in range(12)], dtype=object)
    groups[5] = "g4"  # samples 4 and 5 are one file with labels 1 and 1: no conflict
    groups[8] = "g0"  # samples 0 (label 0) and 8 (label 2): conflict
    deft = np.full(12, 0.9, dtype=np.float32)
    deft[1] = 0.2
    res = select_samples(labels, probs, n_classes=3, groups=groups, extra_clean={"deft": deft},
                         options=SelectionOptions(method="criteria"))
    assert "duplicate_conflict" in res.failed[0] and "duplicate_conflict" in res.failed[8]
    assert not res.clean[0] and not res.clean[8] and res.clean[4] and res.clean[5]
    assert "deft:p_clean" in res.failed[1] and not res.clean[1]
    assert duplicate_conflicts(groups, labels).sum() == 2


def test_suggestions_need_agreement_and_confidence():
    labels = np.array([0, 0])
    a = np.array([[0.1, 0.9], [0.1, 0.9]])
    b = np.array([[0.1, 0.9], [0.6, 0.4]])
    sugg, conf = suggest_labels(labels, {"a": a, "b": b}, theta=0.5)
    assert sugg.tolist() == [1, -1] and conf[0] == pytest.approx(0.9) and np.isnan(conf[1])
    assert suggest_labels(labels, {"a": a}, theta=0.95)[0].tolist() == [-1, -1]


def test_confident_joint_counts_the_flips():
    labels = np.array([0] * 10 + [1] * 10)
    probs = np.tile([0.9, 0.1], (20, 1))
    probs[10:] = [0.1, 0.9]
    probs[10:13] = [0.95, 0.05]  # three samples labelled 1 confidently look like class 0
    joint = confident_joint(labels, probs)
    assert joint[1, 0] == pytest.approx(3) and joint[0, 1] == 0
    assert np.flatnonzero(~noise_rate_pass(labels, probs)).tolist() == [10, 11, 12]


def test_knn_weight_shrinks_with_estimated_noise():
    labels = np.zeros(10, dtype=int)
    agree = np.tile([1.0, 0.0], (10, 1))
    disagree = np.tile([0.0, 1.0], (10, 1))
    assert estimator_weights(labels, {"logreg": agree, "knn": agree})["knn"] == 0.5
    assert estimator_weights(labels, {"logreg": disagree, "knn": agree})["knn"] == 0.0
    assert estimator_weights(labels, {"knn": agree}) == {"knn": 1.0}


def test_end_to_end_on_synthetic_noise_beats_chance_by_far():
    d = make_clustered(1500, dim=32, n_classes=6, spread=1.2, seed=4)
    noise = symmetric_noise(d.labels, n_classes=6, rate=0.3, seed=1)
    y = noise.labels
    probs = {"zeroshot": class_probs(d.X, d.T, d.prompt_class_ids), "logreg": out_of_fold_probs(d.X, y, n_classes=6).probs,
             "knn": knn_probs(d.X, y, n_classes=6).probs}
    for opts in (SelectionOptions(), SelectionOptions(method="criteria"), SelectionOptions(method="css")):
        res = select_samples(y, probs, n_classes=6, options=opts)
        m = detection_metrics(y, d.labels, res.clean, res.clean_score, suggested=res.suggested)
        assert m["auroc"] > 0.95, opts.method
        assert m["kept_precision"] > 0.93  # chance: 0.7
        assert m["flagged_f1"] > 0.75  # flagging at random at the true rate: 0.3
    default = select_samples(y, probs, n_classes=6)
    m = detection_metrics(y, d.labels, default.clean, default.clean_score, suggested=default.suggested)
    assert m["flagged_f1"] > 0.85 and m["relabel_accuracy"] > 0.85
    again = select_samples(y, probs, n_classes=6)
    np.testing.assert_array_equal(default.clean, again.clean)
    np.testing.assert_array_equal(default.clean_score, again.clean_score)


def test_rejects_bad_options():
    labels, probs = _toy()
    with pytest.raises(ValueError, match="method"):
        select_samples(labels, probs, n_classes=3, options=SelectionOptions(method="magic"))
    with pytest.raises(ValueError, match="criteria"):
        select_samples(labels, probs, n_classes=3, options=SelectionOptions(criteria=("loss",)))
    with pytest.raises(ValueError, match="logreg"):
        select_samples(labels, {"knn": probs["logreg"]}, n_classes=3, options=SelectionOptions(method="css"))
    with pytest.raises(ValueError, match=r"\(12, 4\)"):
        select_samples(labels, probs, n_classes=4)


def test_a_trained_estimators_clean_rule_uses_its_own_eps():
    d = make_clustered(300, dim=16, n_classes=3, seed=2)
    probs = {"logreg": out_of_fold_probs(d.X, d.labels, n_classes=3, device="cpu").probs}
    p_clean = np.full(300, 0.7, np.float32)
    p_clean[:10] = 0.95
    default = select_samples(d.labels, probs, n_classes=3, extra_clean={"css": p_clean})
    strict = select_samples(d.labels, probs, n_classes=3, extra_clean={"css": p_clean}, extra_eps={"css": 0.8})
    assert not any("css:p_clean" in (f or "") for f in default.failed.tolist())  # 0.7 > 0.5: DeFT's rule
    failed_css = np.array(["css:p_clean" in (f or "") for f in strict.failed.tolist()])
    assert failed_css[10:].all() and not failed_css[:10].any()
