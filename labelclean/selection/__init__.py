"""Choosing the clean subset from estimator probabilities (pure numpy; sklearn for the GMMs).

``select_samples(labels, probs, ...)`` decides clean / flagged with one of three methods:

- ``ensemble`` (default): on the weighted mean of the estimators' probabilities. Its
  criteria: a sample must pass both a seeded 2-component 2-D GMM on (ensemble loss
  -log p(given), clean_score) — CSS's selection with the ensemble in place of the
  in-training network — and confident-learning noise-rate pruning (scoring.confident).
  ``flag_count`` decides how many are flagged: ``criteria`` (default) flags what fails the
  criteria; ``mixture`` flags the share of wrong labels estimated by a uniform-noise mixture,
  lowest clean_score first, and leaves the decision to the criteria when the wrong labels look
  structured (selection.flagcount; better F1, but it under-counts a little, so some wrong
  labels stay kept); ``noise-rate`` flags the confident joint's estimate.
- ``criteria``: CLIPCleaner's per-estimator consistency and per-class loss-GMM criteria,
  combined with ``all`` (the paper's conservative intersection), ``any`` or ``vote:K``.
- ``css``: the CSS paper's 2-D GMM on (logreg loss, zero-shot p(given)).

Then it adds the duplicate-conflict criterion, fills classes that lost every sample, and
derives the ranking score, relabel suggestions and outliers. Every score it returns is
higher = more likely clean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelclean.scoring.confident import confident_joint_blocks, lowest_share_pass, noise_rate_of, prune_blocks
from labelclean.scoring.quality import per_class_log_minmax
from labelclean.selection.combine import (
    class_fallback,
    clean_score,
    combine,
    ensemble_given,
    estimator_verdicts,
    estimator_weights,
    parse_combine,
)
from labelclean.selection.criteria import consistency_pass, css_posterior, gmm_clean_posterior
from labelclean.selection.flagcount import criteria_decide, mixture_rate_from_given
from labelclean.selection.reliability import reliability_from_given
from labelclean.selection.source import ProbSource, as_source, weighted_blocks
from labelclean.selection.suggest import best_probability, default_outlier_threshold, duplicate_conflicts, suggest_labels
from labelclean.selection.views import Views, summarize

METHODS = ("ensemble", "criteria", "css")
CRITERIA = ("consistency", "gmm")
WEIGHTINGS = ("reliability", "fixed")
FLAG_COUNTS = ("mixture", "criteria", "noise-rate")


@dataclass(frozen=True)
class SelectionOptions:
    method: str = "ensemble"  # ensemble | criteria | css
    weighting: str = "fixed"  # fixed (knn rule of estimator_weights) | reliability (estimated per dataset)
    flag_count: str = "criteria"  # ensemble only: criteria (2-D GMM + confident learning) | mixture | noise-rate
    criteria: tuple[str, ...] = CRITERIA
    combine: str = "all"
    theta_cons: float = 0.8
    theta_gmm: float = 0.5
    theta_relabel: float = 0.5
    theta_outlier: float | None = None  # None: default_outlier_threshold(K)
    css_eps: float = 0.5
    css_per_class: bool = False
    fallback: bool = True
    seed: int = 0


@dataclass
class SelectionResult:
    clean: np.ndarray  # (N,) bool
    clean_score: np.ndarray  # (N,) float32 in [0, 1], higher = more likely correctly labelled
    failed: np.ndarray  # (N,) object: comma-separated failed criteria, "" when none
    votes_clean: np.ndarray  # (N,) int32: estimators whose criteria all pass
    suggested: np.ndarray  # (N,) int64, -1 when none
    suggested_confidence: np.ndarray  # (N,) float32, NaN when none
    outlier: np.ndarray  # (N,) bool
    decision: np.ndarray  # (N,) object: keep | flag | relabel
    p_clean: np.ndarray | None = None  # (N,) CSS posterior (method css only)
    fallback: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    theta_outlier: float = 0.0  # the outlier threshold used
    weights: dict[str, float] = field(default_factory=dict)  # estimator weights in the ensemble
    reliability: dict[str, float] = field(default_factory=dict)  # estimator -> truth-free reliability
    estimated_noise_rate: float = 0.0  # confident-joint estimate on the ensemble probabilities
    mixture_noise_rate: float = 0.0  # uniform-noise mixture estimate on the ensemble probabilities (flagcount)
    flag_rule: str = ""  # what set the flagged count: mixture | criteria | noise-rate ("" for other methods)


def select_samples(
    labels: np.ndarray,
    probs: "dict[str, np.ndarray] | ProbSource",
    *,
    n_classes: int,
    groups: np.ndarray | None = None,
    extra_clean: dict[str, np.ndarray] | None = None,
    extra_eps: dict[str, float] | None = None,
    options: SelectionOptions = SelectionOptions(),
) -> SelectionResult:
    """Decide clean / flagged / relabel for every sample.

    Parameters
    ----------
    labels : (N,) given class ids in [0, K).
    probs : estimator name -> (N, K) class probabilities (zeroshot, logreg, knn, deft...), or
        a ``selection.source.ProbSource`` that yields them in row blocks (`select` streams
        probs/ this way; the result is the same, only fewer rows are held at once).
    groups : (N,) duplicate-group key per sample; samples of one group with different
        labels fail the ``duplicate_conflict`` criterion.
    extra_clean : estimator name -> (N,) clean probability (DeFT's and CSS's p_clean); it acts
        as one more estimator verdict and enters the ranking score.
    extra_eps : estimator name -> the p_clean its verdict needs, p >= eps (CSS's ``--css-eps``
        from training); an estimator not listed needs p > 0.5 (DeFT's rule).
    """
    labels = np.asarray(labels, dtype=np.int64)
    source = as_source(probs)
    _validate(labels, source, n_classes, options)
    views = summarize(labels, source)
    extra_clean = extra_clean or {}
    weights, reliability = _weights(labels, views, n_classes, options)
    score = clean_score(views, weights, list(extra_clean.values()))
    ens = _Ensemble(labels, source, views, weights, n_classes)
    eta = ens.noise_rate()
    mix = mixture_rate_from_given(ens.given, n_classes) if options.method == "ensemble" else 0.0
    notes: list[str] = []
    if options.method == "css":
        passed, p_clean, more = _css_criteria(labels, views, options)
    elif options.method == "ensemble" and options.flag_count == "noise-rate":
        passed, p_clean, more = {"ensemble:noise_rate": lowest_share_pass(score, eta)}, None, []
    elif options.method == "ensemble":
        passed, p_clean, more = _ensemble_criteria(labels, ens, score, options)
        if options.flag_count == "mixture":
            passed, more = _mixture_count(score, mix, eta, passed, more)
    else:
        passed, p_clean, more = _paper_criteria(labels, views, options), None, []
    notes += more
    for name, p in extra_clean.items():
        eps = (extra_eps or {}).get(name)
        passed[f"{name}:p_clean"] = np.asarray(p) > 0.5 if eps is None else np.asarray(p) >= eps
    estimators = list(dict.fromkeys(k.split(":", 1)[0] for k in passed))
    verdicts = estimator_verdicts(passed, estimators) if passed else np.ones((len(labels), 0), dtype=bool)
    clean = combine(verdicts, options.combine if options.method == "criteria" else "all")
    if groups is not None:
        passed["duplicate_conflict"] = ~duplicate_conflicts(np.asarray(groups), labels)
        clean &= passed["duplicate_conflict"]
    notices: list[dict] = []
    if options.fallback and labels.size:
        clean, notices = class_fallback(clean, labels, score, eligible=passed.get("duplicate_conflict"))
    result = _finish(labels, views, passed, verdicts, clean, score, p_clean, notices, notes, n_classes, options)
    result.weights, result.reliability, result.estimated_noise_rate = weights, reliability, eta
    result.mixture_noise_rate, result.flag_rule = mix, _flag_rule(passed, options)
    return result


class _Ensemble:
    """The weighted ensemble, read block by block from the source when a criterion needs its rows.

    ``given`` (its p(given)) comes from the views; the confident joint and its pruning take
    one pass over the source each, so the (N, K) ensemble matrix is never built.
    """

    def __init__(self, labels, source, views: Views, weights: dict[str, float], n_classes: int):
        self.labels, self.source, self.weights, self.k = labels, source, weights, n_classes
        self.given = ensemble_given(views, weights)
        self._joint: np.ndarray | None = None

    def joint(self) -> np.ndarray:
        if self._joint is None:
            self._joint = confident_joint_blocks(self.labels, self.given,
                                                 weighted_blocks(self.source, self.weights), self.k)
        return self._joint

    def noise_rate(self) -> float:
        if self.labels.size == 0 or self.k < 2:
            return 0.0
        return noise_rate_of(self.joint(), self.labels.size)

    def noise_rate_pass(self) -> np.ndarray:
        if self.labels.size == 0 or self.k < 2:
            return np.ones(self.labels.shape[0], dtype=bool)
        return prune_blocks(self.labels, self.joint(), weighted_blocks(self.source, self.weights))


def _weights(labels, views: Views, n_classes: int, options) -> tuple[dict[str, float], dict[str, float]]:
    """Estimator weights (and reliabilities, empty for fixed weights)."""
    if options.weighting == "fixed" or len(views.est) == 1:
        return estimator_weights(labels, views), {}
    rel = reliability_from_given(views.given(), n_classes)
    return rel.weights, rel.reliability


def _validate(labels, source, n_classes, options) -> None:
    if options.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {options.method!r}")
    unknown = set(options.criteria) - set(CRITERIA)
    if unknown:
        raise ValueError(f"unknown criteria {sorted(unknown)}; choose from {', '.join(CRITERIA)}")
    parse_combine(options.combine)
    if options.weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {options.weighting!r}")
    if options.flag_count not in FLAG_COUNTS:
        raise ValueError(f"flag_count must be one of {', '.join(FLAG_COUNTS)}, got {options.flag_count!r}")
    shapes = source.shapes() if hasattr(source, "shapes") else {e: (source.n, source.k) for e in source.names}
    for name, shape in shapes.items():
        if tuple(shape) != (labels.shape[0], n_classes):
            raise ValueError(f"{name} probabilities must be ({labels.shape[0]}, {n_classes}), got {tuple(shape)}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}]")


def _paper_criteria(labels, views: Views, options) -> dict[str, np.ndarray]:
    passed: dict[str, np.ndarray] = {}
    for est, v in views.est.items():
        if "consistency" in options.criteria:
            passed[f"{est}:consistency"] = consistency_pass(v.consistency, theta=options.theta_cons)
        if "gmm" in options.criteria:
            post = gmm_clean_posterior(per_class_log_minmax(labels, v.p_given), labels, seed=options.seed)
            passed[f"{est}:gmm"] = post >= options.theta_gmm
    return passed


def _given_loss(p_given: np.ndarray) -> np.ndarray:
    """Cross-entropy of the given label, -log p(y), with p clipped to [1e-6, 1] (higher = label less likely right)."""
    return -np.log(np.clip(p_given, 1e-6, 1.0))


def _ensemble_criteria(labels, ens: _Ensemble, score, options):
    res = css_posterior(_given_loss(ens.given), score, labels=labels if options.css_per_class else None,
                        seed=options.seed)
    passed = {"ensemble:gmm2d": res.posterior >= options.css_eps, "ensemble:confident": ens.noise_rate_pass()}
    return passed, res.posterior.astype(np.float32), res.notes


def _mixture_count(score, rate, eta, passed, notes):
    """flag_count mixture: the mixture's estimated share, lowest clean_score first, unless the noise looks structured."""
    if criteria_decide(rate, eta):
        why = (f"flag count: the uniform-noise mixture estimates {rate:.3f} wrong labels, the confident joint {eta:.3f}; "
               "the ensemble predicts many wrong labels (they do not look uniformly random to it), so the criteria "
               "(2-D GMM + confident learning) decided")
        return passed, notes + [why]
    return {"ensemble:mixture_count": lowest_share_pass(score, rate)}, notes


def _flag_rule(passed, options) -> str:
    if options.method != "ensemble":
        return ""
    if options.flag_count == "mixture":
        return "mixture" if "ensemble:mixture_count" in passed else "criteria"
    return options.flag_count


def _css_criteria(labels, views: Views, options):
    induced = next((e for e in ("logreg", "robust") if e in views.est), None)
    if induced is None:
        raise ValueError("method css needs the logreg or robust estimator (its loss is the first GMM dimension)")
    second = next((e for e in ("zeroshot", "deft", "knn") if e in views.est), None)
    if second is None:
        raise ValueError("method css needs zeroshot (or knn) probabilities for its second GMM dimension")
    notes = [] if second == "zeroshot" else [f"css: no zero-shot scores, used {second} p(given) as the second dimension"]
    res = css_posterior(
        _given_loss(views.est[induced].p_given), views.est[second].p_given,
        labels=labels if options.css_per_class else None, seed=options.seed
    )
    return {"css:p_clean": res.posterior >= options.css_eps}, res.posterior.astype(np.float32), notes + res.notes


def _finish(labels, views, passed, verdicts, clean, score, p_clean, notices, notes, n_classes, options):
    failed = np.full(labels.shape[0], "", dtype=object)
    for name, ok in passed.items():
        bad = ~ok
        failed[bad] = np.where(failed[bad] == "", name, failed[bad] + "," + name)
    suggested, conf = suggest_labels(labels, views, theta=options.theta_relabel)
    suggested = np.where(clean, -1, suggested)
    conf = np.where(clean, np.nan, conf).astype(np.float32)
    best = best_probability(views)
    theta_out = default_outlier_threshold(best, n_classes) if options.theta_outlier is None else options.theta_outlier
    decision = np.where(clean, "keep", np.where(suggested >= 0, "relabel", "flag")).astype(object)
    return SelectionResult(
        clean=clean,
        clean_score=score,
        failed=failed,
        votes_clean=verdicts.sum(axis=1).astype(np.int32),
        suggested=suggested,
        suggested_confidence=conf,
        outlier=best < theta_out,
        decision=decision,
        p_clean=p_clean,
        fallback=notices,
        notes=notes,
        theta_outlier=float(theta_out),
    )
