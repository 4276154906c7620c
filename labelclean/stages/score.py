"""`score`: embeddings (+ prompt embeddings) -> per-estimator probabilities and scores.

Each estimator returns its probabilities as row blocks computed on demand
(``scoring.rowprobs``), streamed once into its probs file and its score columns, so no
estimator's (N, K) matrix is held. Writes ``probs/<estimator>.parquet`` (the full (N, K) matrix, so `select` can be re-run
with other thresholds without recomputing) and ``scores.parquet`` (per sample and
estimator: p_given, consistency, norm_logp, pred, top-3, margin; plus the same columns for
``ensemble``, the mean of the estimators' probabilities). Rows follow the embeddings'
order and are keyed by sample_id.
"""

from __future__ import annotations


from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pyarrow as pa

from labelclean.core import console

from labelclean.store import parquet_io, schemas
from labelclean.core.errors import UsageError, WorkdirError
from labelclean.stages.configs import ScoreConfig
from labelclean.scoring import DEFAULT_ESTIMATORS, ESTIMATORS
from labelclean.stages.configs import comma_list
from labelclean.core.report import StageReport, Timer, config_dict
from labelclean.store.tables import Embedded, load_classes, load_embeddings, load_text
from labelclean.store.workdir import Workdir

if TYPE_CHECKING:
    from labelclean.scoring.rowprobs import RowProbs

ENSEMBLE = "ensemble"
KNN_INDEXES = ("auto", "exact", "ivf", "ivfsq", "hnsw")


def resolve_estimators(requested: str | None, has_text: bool) -> list[str]:
    """The estimators to run, in canonical order; UsageError for unknown or impossible ones."""
    if requested is None or not requested.strip():
        return [e for e in DEFAULT_ESTIMATORS if has_text or e != "zeroshot"]
    names = comma_list(requested)
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown:
        raise UsageError(f"unknown estimator(s) {', '.join(unknown)} in --estimators", f"choose from {', '.join(ESTIMATORS)}")
    if "zeroshot" in names and not has_text:
        raise UsageError(
            "--estimators zeroshot needs prompt embeddings, but this workdir has no text.parquet "
            "(made with --from-features?)",
            "drop zeroshot from --estimators, or embed with a CLIP model",
        )
    return [e for e in ESTIMATORS if e in names]


@dataclass(kw_only=True)
class ScoreReport(StageReport):
    stage: str = "score"
    estimators: list[str]
    samples: int
    classes: int
    agreement: dict[str, float]  # estimator -> share of samples whose argmax is the given label
    estimator_info: dict[str, dict[str, Any]]  # estimator -> its settings and seconds
    model_id: Optional[str] = None
    device: str = "cpu"  # where the fits and torch searches ran (--device resolved)
    notes: list[str] = field(default_factory=list)  # warnings the user should read (also printed)


def run_score(wd: Workdir, cfg: ScoreConfig) -> ScoreReport:
    """Compute every estimator's probabilities and write probs/ and scores.parquet."""
    _check_config(cfg)
    wd.require(wd.manifest, "embed")
    with Timer() as t, wd.lock():
        emb = load_embeddings(wd, dtype=np.float16)
        classes = load_classes(wd)
        emb, dropped = _labelled(emb, len(classes))
        text = load_text(wd)
        logit_scale = parquet_io.read_meta(wd.text).get("logit_scale") if text is not None else None
        if cfg.prompts is not None:
            text = _learned_prompts(wd, cfg.prompts)
        estimators = resolve_estimators(cfg.estimators, text is not None)
        out = _Outputs(wd, emb, len(estimators), cfg)
        info, shared, agreement = {}, {}, {}
        for est in estimators:
            with Timer() as te:
                rows, info[est] = _estimate(est, emb, text, len(classes), cfg, logit_scale, shared)
                agreement[est] = out.add(est, rows)  # computes the rows block by block as it writes them
            info[est]["seconds"] = round(te.seconds, 3)
            console.info(f"{est}: {te.seconds:.1f}s")
            del rows
            if est == "robust":
                shared.pop("logreg", None)
        outputs = out.finish()
    report = ScoreReport(
        counts={"scored": int(len(emb.labels)), "unlabelled_skipped": dropped}, outputs=outputs, seconds=t.seconds,
        estimators=estimators, samples=int(len(emb.labels)), classes=len(classes),
        agreement=agreement,
        estimator_info=info, model_id=emb.model_id, device=_resolved_device(cfg.device),
    )
    report.notes = _domain_notes(report.agreement, emb.model_id)
    for note in report.notes:
        console.warn(note)
    wd.update_run("score", report.run_record(cfg))
    return report


def _resolved_device(device: str) -> str:
    from labelclean.scoring.linear import resolve_device

    return resolve_device(device)


LEARNED = ("css", "deft")


def _learned_prompts(wd: Workdir, prompts: str):
    """The class text features a trainer learned (``learned:<method>``) in place of embed's prompts."""
    from labelclean.store.tables import load_learned_prompts

    method = prompts.strip().lower().removeprefix("learned:")
    if not prompts.strip().lower().startswith("learned:") or method not in LEARNED:
        raise UsageError(f"--prompts {prompts!r} is not one of: {', '.join('learned:' + m for m in LEARNED)}",
                         "leave --prompts out to use the prompts `embed` encoded")
    return load_learned_prompts(wd, method)


def _domain_notes(agreement: dict[str, float], model_id: str | None) -> list[str]:
    """A warning when zero-shot agrees with the labels far less than an image-only estimator."""
    from labelclean.scoring.quality import zero_shot_gap

    gap = zero_shot_gap(agreement)
    if gap is None:
        return []
    note = (f"zeroshot agrees with the given labels on {agreement['zeroshot']:.0%} of samples against "
            f"{gap[1]:.0%} for {gap[0]}: the model's text side does not seem to know these images or class names, "
            "so zero-shot scores are unreliable here")
    if (model_id or "").split("@")[0] == "demo":
        note += ("; the demo model only knows the demo domain (coloured shapes on cluttered backgrounds): "
                 "use a real CLIP model (e.g. --model ViT-B-32) for your own data")
    else:
        note += "; try --descriptions, other --templates, or --estimators robust"
    return [note]


def _check_config(cfg: ScoreConfig) -> None:
    from labelclean.scoring.zero_shot import AGGREGATIONS

    if cfg.prompt_aggregation not in AGGREGATIONS:
        raise UsageError(f"--prompt-aggregation must be one of {', '.join(AGGREGATIONS)}, got {cfg.prompt_aggregation!r}")
    if cfg.knn_index not in KNN_INDEXES:
        raise UsageError(f"--knn-index must be one of {', '.join(KNN_INDEXES)}, got {cfg.knn_index!r}")
    if cfg.knn_nprobe is not None and cfg.knn_index in ("exact", "hnsw"):
        raise UsageError(f"--knn-nprobe has no effect with --knn-index {cfg.knn_index}", "drop it, or use an IVF index")
    if cfg.knn_backend not in ("auto", "faiss", "torch", "numpy"):
        raise UsageError(f"--knn-backend must be auto, faiss, torch or numpy, got {cfg.knn_backend!r}")
    if cfg.knn_nprobe is not None and cfg.knn_nprobe < 1:
        raise UsageError(f"--knn-nprobe must be >= 1, got {cfg.knn_nprobe}")
    if (cfg.temperature is not None and not cfg.temperature > 0) or cfg.k < 1 or cfg.folds < 2 or \
            (cfg.l2 is not None and cfg.l2 < 0):
        raise UsageError("need --temperature > 0, --k >= 1, --folds >= 2 and --l2 >= 0")
    if cfg.robust_rounds < 1:
        raise UsageError(f"--robust-rounds must be >= 1, got {cfg.robust_rounds}")


def _labelled(emb: Embedded, n_classes: int) -> tuple[Embedded, int]:
    """Drop samples without a known label (they cannot be scored against one)."""
    ok = (emb.labels >= 0) & (emb.labels < n_classes)
    if ok.all():
        return emb, 0
    if not ok.any():
        raise WorkdirError("no usable sample has a label", "give labels with class folders or a label column")
    keep = np.flatnonzero(ok)
    return Embedded(emb.sample_ids[keep], emb.labels[keep], emb.X[keep], emb.canonical[keep], emb.model_id), int((~ok).sum())


def _estimate(est: str, emb: Embedded, text, n_classes: int, cfg: ScoreConfig, logit_scale=None,
              shared: dict | None = None) -> tuple[RowProbs, dict]:
    """One estimator's (N, K) probabilities (as row blocks) and its info; ``shared`` passes logreg's fit on to robust."""
    from labelclean.scoring.rowprobs import DenseProbs

    shared = {} if shared is None else shared
    if est == "zeroshot":
        from labelclean.scoring.zero_shot import class_prob_rows, resolve_temperature

        _require_prompts(text, n_classes)
        tau, source = resolve_temperature(cfg.temperature, logit_scale)
        p = class_prob_rows(emb.X, text.T, text.class_ids, n_classes=n_classes, temperature=tau,
                            aggregation=cfg.prompt_aggregation)
        return p, {"prompts": int(len(text.class_ids)), "prompt_source": cfg.prompts or "embed",
                   "temperature": round(tau, 6), "temperature_from": source}
    if est == "robust":
        from labelclean.scoring.logreg import LogRegOptions
        from labelclean.scoring.robust import robust_probs

        res = robust_probs(emb.X, emb.labels, n_classes=n_classes, folds=cfg.folds, rounds=cfg.robust_rounds,
                           seed=cfg.seed, device=cfg.device, options=LogRegOptions(l2=cfg.l2),
                           first_pass=shared.get("logreg"))
        for note in res.notes:
            console.warn(note)
        return res.rows, {"folds": cfg.folds, "l2": res.l2, "rounds": res.rounds, "trusted": int(res.trusted.sum())}
    if est == "multimodal":
        from labelclean.scoring.multimodal import MultimodalOptions, multimodal_probs
        from labelclean.scoring.zero_shot import class_text_embeddings

        class_text = None
        if text is not None:
            _require_prompts(text, n_classes)
            class_text = class_text_embeddings(text.T, text.class_ids, n_classes)
        res = multimodal_probs(emb.X, emb.labels, n_classes=n_classes, class_text=class_text, seed=cfg.seed,
                               options=MultimodalOptions(k=cfg.k, backend=cfg.knn_backend))
        return DenseProbs(res.probs), {"search": res.search, "k": cfg.k, "text": class_text is not None}
    if est == "logreg":
        from labelclean.scoring.logreg import LogRegOptions, out_of_fold_probs

        res = out_of_fold_probs(emb.X, emb.labels, n_classes=n_classes, folds=cfg.folds, in_sample=cfg.in_sample,
                                seed=cfg.seed, device=cfg.device, options=LogRegOptions(l2=cfg.l2))
        if not cfg.in_sample:
            shared["logreg"] = res  # robust's first pass is this very fit
        return res.rows, {"folds": 0 if cfg.in_sample else cfg.folds, "l2": res.l2, "minibatch": res.minibatch,
                           "held_out_loss": {str(k): round(v, 5) for k, v in res.held_out_loss.items()}}
    from labelclean.scoring.knn import KnnOptions, knn_probs
    from labelclean.scoring.neighbors import EXACT_MAX

    exact_max = {"auto": EXACT_MAX, "exact": 2**62}.get(cfg.knn_index, 0)
    approx = None if cfg.knn_index in ("auto", "exact") else cfg.knn_index
    res = knn_probs(emb.X, emb.labels, n_classes=n_classes, groups=emb.canonical, seed=cfg.seed,
                    options=KnnOptions(k=cfg.k, backend=cfg.knn_backend, exact_max=exact_max, nprobe=cfg.knn_nprobe,
                                       approx=approx))
    return DenseProbs(res.probs), {"search": res.method, "k": cfg.k}


def _require_prompts(text, n_classes: int) -> None:
    missing = sorted(set(range(n_classes)) - set(text.class_ids.tolist()))
    if missing:
        raise WorkdirError(f"text.parquet has no prompt for class ids {missing[:10]}", "re-run `labelclean embed`")


class _Outputs:
    """Writes probs/<estimator>.parquet as each estimator finishes and builds scores.parquet.

    Keeps per estimator only its score columns (a few values per sample); the ensemble (the
    plain mean of the estimators) is read back from probs/ in row blocks at the end, so
    `score` holds one estimator's (N, K) matrix at a time and never a second one for the sum.
    """

    def __init__(self, wd: Workdir, emb: Embedded, n_estimators: int, cfg: ScoreConfig):
        from labelclean.store.probs import remove_all

        self.wd, self.emb, self.n = wd, emb, n_estimators
        self.ids = pa.array(emb.sample_ids.tolist(), pa.string())
        self.meta = {"estimator_config": config_dict(cfg)}
        self.paths: list = []
        self.names: list[str] = []
        self.cols: dict[str, pa.Array] = {"sample_id": self.ids,
                                          "label_id": pa.array(emb.labels.astype(np.int32), pa.int32())}
        self.k = 0
        wd.probs_dir.mkdir(parents=True, exist_ok=True)
        remove_all(wd)  # this run's files only: a crash mid-way leaves no stale or mixed tables behind
        wd.scores.unlink(missing_ok=True)

    def add(self, est: str, rows: RowProbs) -> float:
        """Write ``est``'s probabilities and keep its score columns, in one pass over its row blocks.

        Returns the share of samples whose argmax is the given label.
        """
        from labelclean.scoring.quality import score_columns_blocks
        from labelclean.store.probs import ProbsWriter

        with ProbsWriter(self.wd, est, self.ids, self.emb.labels, rows.k, model_id=self.emb.model_id,
                         **self.meta) as writer:
            def written():
                for start, block in rows.blocks():
                    writer.add(block)
                    yield start, block

            sc = score_columns_blocks(self.emb.labels, written(), n_classes=rows.k)
        self.paths.append(writer.path)
        self.names.append(est)
        self.k = rows.k
        self._columns(est, sc)
        return float((sc.pred == self.emb.labels).mean()) if self.emb.labels.size else 0.0

    def finish(self) -> list:
        from labelclean.scoring.quality import score_columns_blocks
        from labelclean.selection.source import weighted_blocks
        from labelclean.store.probs import ProbFiles

        named = list(self.names)
        if self.n > 1:
            stored = ProbFiles(self.wd, self.names, self.ids, n_classes=self.k, model_id=self.emb.model_id)
            mean = weighted_blocks(stored, {e: 1.0 for e in self.names})
            self._columns(ENSEMBLE, score_columns_blocks(self.emb.labels, mean, n_classes=self.k))
            named.append(ENSEMBLE)
        table = pa.table(self.cols, schema=schemas.scores_schema(named))
        parquet_io.write_table(self.wd.scores, table, "scores", model_id=self.emb.model_id, estimators=self.names,
                               **self.meta)
        return [self.wd.scores, *self.paths]

    def _columns(self, est: str, sc) -> None:
        for name, typ in schemas.SCORE_FIELDS.items():
            value = getattr(sc, name)
            self.cols[f"{est}_{name}"] = parquet_io.fixed_list(value, typ.value_type) if value.ndim == 2 \
                else pa.array(value, typ)
