"""Every command-line option and argument, declared once.

An entry of `OPTIONS` holds an option's flags, help and constraints; its default lives in the
field of the stage config dataclass it feeds (labelclean/stages/configs.py), named as
``"<stage>.<field>"`` in ``feeds``, and its type is that field's type. An option may feed several
stages (``--seed`` feeds score and select): every listed field must have the same default.
Options that feed no config (``--workdir``, ``--json``, ``--force``) carry ``default`` and ``type``.

A command takes its options with `uses`, which builds the typer signature from the entries and
calls the command with one `Given` (the values by key; ``given.config("score")`` is the
ScoreConfig made of them)::

    @app.command()
    @command_boundary
    @uses("workdir", *stage_options("score"), "json_out")
    def score(o: Given) -> None: ...

`stage_options(stage)` lists the entries feeding ``stage`` (those with ``own=True``), in the
order of this file; `pipeline_options(stages)` those with ``pipeline=True``, which `run` and
`check` pass through.

**Adding an option** = one field with its default in the stage's config dataclass
(stages/configs.py) + one entry here, placed in its stage's block::

    "knn_metric": Opt(("--knn-metric",), "cosine or dot.", feeds=("score.knn_metric",)),

Add ``pipeline=True`` if `run`/`check` should offer it too, and ``needs=("method", ("criteria",))``
if it only acts under some values of another option: passing it with any other value is then a
usage error (exit 2) naming the value it needs. (A `select` option reaches the selection library
when `selection.SelectionOptions` has a field of the same name.) Nothing else changes: `labelclean score --help`
shows it with its default, and ``given.config("score").knn_metric`` holds its value.

This module imports no heavy library (the config module is plain dataclasses): `--help` stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from labelclean.core.errors import UsageError
from labelclean.stages.configs import CONFIGS
from labelclean.store.workdir import DEFAULT_WORKDIR

_REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class Opt:
    flags: tuple[str, ...]  # ("--model", "-m"); empty for an argument
    help: str
    feeds: tuple[str, ...] = ()  # "<stage>.<field>" whose default this option uses and whose value it sets
    default: Any = _REQUIRED  # only for options that feed no config field
    type: Any = None  # only for options that feed no config field
    argument: bool = False  # a positional argument (DATA)
    required: bool = False  # required even though the field has a default
    pipeline: bool = False  # offered by `run` / `check` too
    own: bool = True  # offered by the command of the stage it feeds
    needs: Optional[tuple[str, tuple[str, ...]]] = None  # (other key, values under which this option acts)
    extra: tuple[tuple[str, Any], ...] = ()  # more typer.Option/Argument settings: (("min", 0),)
    param: Optional[str] = None  # the parameter's name when not the key (an argument shows it in --help)

    def name(self) -> str:
        return self.flags[0] if self.flags else "DATA"


def _opt(*flags: str, help: str, feeds: str | tuple[str, ...] = (), **kw: Any) -> Opt:
    return Opt(tuple(flags), help, (feeds,) if isinstance(feeds, str) else feeds, **kw)


OPTIONS: dict[str, Opt] = {
    # shared by every workdir command
    "workdir": _opt("--workdir", "-w", help="Work directory holding every stage's output.",
                    default=Path(DEFAULT_WORKDIR), type=Path, extra=(("show_default", True),)),
    "device": _opt("--device", help="auto, cpu, cuda, cuda:N or mps.", pipeline=True,
                   feeds=("embed.device", "score.device", "train.device", "predict.device")),
    "seed": _opt("--seed", help="Random seed (recorded in run.json).", pipeline=True,
                 feeds=("score.seed", "select.seed", "noise.seed", "train.seed")),
    # embed
    "data": _opt(help="Image folder (root/<class>/<image>), a .csv/.tsv/.jsonl/.parquet manifest with path and "
                 "label columns, WebDataset .tar shards (a .tar or a folder of them) or Parquet files holding the "
                 "image bytes (img2dataset, Hugging Face).", feeds="embed.data", argument=True, pipeline=True,
                 extra=(("show_default", False),)),
    "model": _opt("--model", "-m", help="open_clip model name (e.g. ViT-B-32, ViT-L-14), local-dir:PATH or "
                  "hf-hub:ORG/REPO, or demo (the bundled tiny model: it knows only the demo's synthetic shapes) (default: ViT-B-32). With --from-features: the model whose text tower embeds the "
                  "prompts (default: none, no zero-shot).", feeds="embed.model", pipeline=True),
    "pretrained": _opt("--pretrained", help="Pretrained tag (e.g. laion2b_s34b_b79k; default: the usual one for the "
                       "model) or a local weights file (.pt/.bin/.safetensors).", feeds="embed.pretrained",
                       pipeline=True),
    "precision": _opt("--precision", help="auto (fp16 on CUDA, bf16 on a CPU that supports it), fp32, fp16 or bf16.",
                      feeds="embed.precision", pipeline=True),
    "batch_size": _opt("--batch-size", help="Images per forward pass (default 64 on CPU, 256 on CUDA).",
                       feeds="embed.batch_size", pipeline=True),
    "workers": _opt("--workers", help="DataLoader processes (default: 0 on a CPU with <= 2 cores, more with more "
                    "cores or a GPU).", feeds="embed.workers"),
    "classes": _opt("--classes", help="Class list fixing order and prompt names (.txt one per line, or .json/.yaml "
                    "name -> prompt name).", feeds="embed.classes_file", pipeline=True),
    "templates": _opt("--templates", help="Prompt template set (simple, imagenet80) or a .txt file with one template "
                      "per line containing {}.", feeds="embed.templates", pipeline=True),
    "descriptions": _opt("--descriptions", help="Class descriptions (bundled name or .yaml file); uncovered classes "
                         "use --templates.", feeds="embed.descriptions", pipeline=True),
    "shard": _opt("--shard", help="Embed only slice I of N (I/N; files are assigned by a hash of their relative "
                  "path, and a shard reads only its own), or `auto`: I from JOB_COMPLETION_INDEX, "
                  "AWS_BATCH_JOB_ARRAY_INDEX or SLURM_ARRAY_TASK_ID.", feeds="embed.shard"),
    "num_shards": _opt("--num-shards", help="N for --shard auto (else the LABELCLEAN_NUM_SHARDS environment "
                       "variable).", feeds="embed.num_shards"),
    "from_features": _opt("--from-features", help="Import precomputed embeddings instead of running a model: .npy "
                          "(one row per file, in sample_id order) or .parquet (embedding + sample_id or path).",
                          feeds="embed.from_features"),
    "text_features": _opt("--text-features", help="With --from-features: the same model's prompt embeddings, "
                          ".parquet (class, prompt, embedding) or .npy with --text-prompts.",
                          feeds="embed.text_features"),
    "text_prompts": _opt("--text-prompts", help="With a .npy --text-features: .csv/.jsonl/.parquet with class and "
                         "prompt columns, one row per row of the array.", feeds="embed.text_prompts"),
    "max_pixels": _opt("--max-pixels", help="Refuse images with more pixels (too_large).", feeds="embed.max_pixels"),
    "dtype": _opt("--dtype", help="Stored embedding type: float16 or float32.", feeds="embed.dtype"),
    "label_field": _opt("--label-field", help="WebDataset tars: cls, txt or json:FIELD (the {key}.cls, {key}.txt or "
                        "a {key}.json field); Parquet files with image bytes: the label column; auto: the first "
                        "present.", feeds="embed.label_field", pipeline=True),
    "chunk_size": _opt("--chunk-size", help="Rows per part file.", feeds="embed.chunk_size",
                       extra=(("hidden", True),)),
    "root": _opt("--root", help="Manifests: the folder relative paths resolve against (default: the manifest's "
                 "folder). Absolute paths are used as written.", feeds="embed.root", pipeline=True),
    # score
    "estimators": _opt("--estimators", help="Comma-separated estimators: zeroshot, logreg, robust (logreg refitted "
                       "on the samples it trusts), knn, multimodal (LEMoN-style image and text neighbours) "
                       "(default: zeroshot, robust, those the workdir allows; zeroshot needs prompt "
                       "embeddings); select also takes deft and css when `train` wrote W/deft.parquet or W/css.parquet.",
                       feeds=("score.estimators", "select.estimators"), pipeline=True),
    "prompts": _opt("--prompts", help="Zero-shot prompts: the ones `embed` encoded (default), or learned:css / "
                    "learned:deft, the prompts `train --method css` (or DeFT's positive prompts) learned, read from "
                    "W/prompts/<method>.parquet.", feeds="score.prompts", pipeline=True),
    "temperature": _opt("--temperature", help="Zero-shot temperature tau in exp(cos/tau) (default: 1 / the model's "
                        "learned logit scale, 0.01 for released CLIP models; 0.07, CLIPCleaner's, when the model "
                        "has none). The value used is recorded in run.json.", feeds="score.temperature"),
    "prompt_aggregation": _opt("--prompt-aggregation", help="Zero-shot prompts per class: mean (no bonus for classes "
                               "with more prompts), sum (paper-exact) or mean-embedding (classic CLIP ensemble).",
                               feeds="score.prompt_aggregation"),
    "folds": _opt("--folds", help="Logreg out-of-fold folds (>= 2).", feeds="score.folds"),
    "in_sample": _opt("--in-sample", help="Logreg scores the samples it was fitted on (official CLIPCleaner; "
                      "memorises noisy labels).", feeds="score.in_sample"),
    "l2": _opt("--l2", help="Logreg L2 penalty (default: chosen by held-out log-loss among 3e-3, 1e-3, 3e-4, 1e-4).",
               feeds="score.l2"),
    "k": _opt("--k", help="Neighbours of knn (self and identical files excluded) and of multimodal (self excluded).", feeds="score.k"),
    "knn_index": _opt("--knn-index", help="auto (exact up to 20,000 samples, IVF with 8-bit quantised lists above), "
                      "exact, ivf (float32 lists), ivfsq or hnsw (approximate ones are exact anyway below 1,000 "
                      "samples).", feeds="score.knn_index"),
    "knn_backend": _opt("--knn-backend", help="auto (faiss-gpu if usable, else torch on CUDA, else faiss, else numpy), "
                        "faiss, torch or numpy.",
                        feeds="score.knn_backend"),
    "robust_rounds": _opt("--robust-rounds", help="robust: refits on the trusted samples (confident-learning "
                          "survivors labelled with the previous pass's argmax), each still out-of-fold.",
                          feeds="score.robust_rounds"),
    "knn_nprobe": _opt("--knn-nprobe", help="IVF lists searched per query (default about 0.75*sqrt(lists), top-10 "
                       "recall >= 0.95; lower is faster).", feeds="score.knn_nprobe"),
    # select
    "method": _opt("--method", help="ensemble (default: 2-D GMM + confident-learning pruning on the estimators' "
                   "mean), criteria (CLIPCleaner: consistency and per-class loss GMM per estimator) or css (2-D GMM "
                   "on logreg loss and zero-shot p).", feeds="select.method", pipeline=True),
    "criteria": _opt("--criteria", help="--method criteria: consistency, gmm or both.", feeds="select.criteria",
                     needs=("method", ("criteria",))),
    "combine": _opt("--combine", help="--method criteria: all (clean only if every estimator passes all criteria; "
                    "the paper's), any, or vote:K.", feeds="select.combine", pipeline=True,
                    needs=("method", ("criteria",))),
    "theta_cons": _opt("--theta-cons", help="--method criteria: consistency threshold p(y)/max p.",
                       feeds="select.theta_cons", pipeline=True, needs=("method", ("criteria",))),
    "theta_gmm": _opt("--theta-gmm", help="--method criteria: clean posterior needed by the loss GMM.",
                      feeds="select.theta_gmm", pipeline=True, needs=("method", ("criteria",))),
    "theta_relabel": _opt("--theta-relabel", help="Mean probability the estimators must agree on to suggest another "
                          "label.", feeds="select.theta_relabel", pipeline=True),
    "theta_outlier": _opt("--theta-outlier", help="Outlier when no estimator gives any class this much (default: "
                          "min(2/K, half the median best probability)).", feeds="select.theta_outlier"),
    "css_eps": _opt("--css-eps", help="Clean posterior needed by the 2-D GMM (methods ensemble and css).",
                    feeds="select.css_eps", needs=("method", ("ensemble", "css"))),
    "css_per_class": _opt("--css-per-class", help="Fit the 2-D GMM per class, not globally (methods ensemble and "
                          "css).", feeds="select.css_per_class", needs=("method", ("ensemble", "css"))),
    "weighting": _opt("--weighting", help="How estimators are weighted in the ensemble and clean_score: fixed (1 each, "
                      "knn 0.5*(1-2*noise)) or reliability (fitted without the truth: the mixture of the estimators "
                      "and a uniform wrong-label component that best predicts the given labels; drops useless "
                      "estimators but favours those that learnt structured noise). Weights and reliabilities are in "
                      "the summary and selection.parquet's metadata.", feeds="select.weighting", pipeline=True),
    "flag_count": _opt("--flag-count", help="--method ensemble: how many samples are flagged. criteria (default): "
                       "those failing the 2-D GMM or confident-learning pruning (errs towards flagging more, so the "
                       "kept set stays clean). mixture: the share of wrong labels estimated by a mixture of the ensemble and a uniform wrong-label component, "
                       "lowest clean_score first; when that estimate is under half the confident joint's (the "
                       "ensemble predicts the wrong labels: structured noise) the criteria decide instead, and the "
                       "summary says so (better detection F1 under random noise, but it under-counts a little, "
                       "leaving some wrong labels kept). noise-rate: the confident joint's estimated share, lowest clean_score first. Both estimates "
                       "are in the summary and selection.parquet's metadata.", feeds="select.flag_count",
                       pipeline=True, needs=("method", ("ensemble",))),
    "fallback": _opt("--fallback/--no-fallback", help="Keep the best-scored samples of a class that would lose all "
                     "of them.", feeds="select.fallback"),
    # export
    "format": _opt("--format", "-f", help="csv, jsonl or parquet lists; hf (class tree + metadata.csv for datasets' "
                   "imagefolder), imagefolder (class tree for torchvision/timm) or label-studio (the suspects as "
                   "Label Studio tasks with pre-annotations, + labelling config).", feeds="export.format",
                   pipeline=True),
    "out": _opt("--out", "-o", help="Output folder (default: W/export).", feeds="export.out", pipeline=True),
    "link": _opt("--link", help="How tree formats place files: symlink, hardlink or copy.", feeds="export.link",
                 pipeline=True),
    "apply_relabels": _opt("--apply-relabels", help="Also keep unreviewed flagged samples with their suggested label "
                           "when its confidence is >= --min-confidence.", feeds="export.apply_relabels",
                           pipeline=True),
    "min_confidence": _opt("--min-confidence", help="Threshold for --apply-relabels, in [0, 1].",
                           feeds="export.min_confidence", pipeline=True),
    "absolute_paths": _opt("--absolute-paths", help="Write absolute paths instead of paths relative to the data "
                           "root.", feeds="export.absolute_paths"),
    "allow_outside_root": _opt("--allow-outside-root", help="Use files outside the data root: follow symlinks "
                               "leading out of it, accept relative manifest paths escaping it, and export them "
                               "(with absolute paths).", feeds=("embed.allow_outside_root",
                                                                "export.allow_outside_root"), pipeline=True),
    "overwrite": _opt("--overwrite", help="Replace an existing export in --out.", feeds="export.overwrite"),
    # report
    "report_out": _opt("--out", "-o", help="HTML file to write (default: W/report.html).", feeds="report.out"),
    "run_report": _opt("--report", help="Report file (default: W/report.html).", feeds="report.out", own=False,
                       pipeline=True),
    "thumbs_per_class": _opt("--thumbs-per-class", help="Thumbnails of suspects per class.",
                             feeds="report.thumbs_per_class", extra=(("min", 0),)),
    "max_thumbs": _opt("--max-thumbs", help="Thumbnails of suspects in all.", feeds="report.max_thumbs",
                       extra=(("min", 0),)),
    # evaluate
    "truth": _opt("--truth", help="Manifest column holding the true label (e.g. clean_label from `labelclean "
                  "noise`), or a .csv/.jsonl/.parquet file with path,label.", feeds="evaluate.truth"),
    # review
    "decisions": _opt("--decisions", "-d", help="Edited relabels.csv, any CSV/JSONL with sample_id or path, and "
                      "decision columns, or Label Studio's JSON export (.json) of `export --format label-studio` "
                      "tasks.", feeds="review.decisions"),
    "replace": _opt("--replace", help="Discard previously imported decisions first.", feeds="review.replace"),
    "serve": _opt("--serve", help="Review in the browser: a local web app over the workdir (after importing "
                  "--decisions, if given).", feeds="review.serve"),
    "host": _opt("--host", help="--serve: address to listen on; anything but loopback is reachable from other "
                 "machines (a warning says so).", feeds="review.host"),
    "port": _opt("--port", help="--serve: port (default 8765, or any free port when it is taken; 0 = any free "
                 "port).", feeds="review.port"),
    "open_browser": _opt("--browser/--no-browser", help="--serve: open the printed URL in a browser.",
                         feeds="review.open_browser"),
    # noise
    "noise_data": _opt(help="Clean dataset: image folder (root/<class>/<image>) or a manifest with path and label "
                       "columns.", feeds="noise.data", argument=True, required=True, param="data",
                       extra=(("show_default", False),)),
    "noise_out": _opt("--out", "-o", help="Noisy manifest to write (.csv, .tsv, .jsonl or .parquet), in a folder "
                      "containing every image.", feeds="noise.out", required=True, extra=(("show_default", False),)),
    "rate": _opt("--rate", help="Fraction of samples to flip (of the mapped classes for asym and pairflip), in "
                 "[0, 1].", feeds="noise.rate"),
    "mode": _opt("--mode", help="sym (to a random other class), asym (by --mapping), pairflip (class c -> c+1) or "
                 "instance (towards the most similar class, near-boundary samples first; needs -w).",
                 feeds="noise.mode"),
    "mapping": _opt("--mapping", help="asym: YAML/JSON of source: target class names (default: the bundled "
                    "CIFAR-10 one).", feeds="noise.mapping", needs=("mode", ("asym",))),
    "noise_workdir": _opt("--workdir", "-w", help="instance: a workdir embedded from the same clean data.",
                          feeds="noise.workdir", needs=("mode", ("instance",))),
    "noise_classes": _opt("--classes", help="Class list fixing order and names.", feeds="noise.classes_file"),
    "sharpness": _opt("--sharpness", help="instance: how strongly flips concentrate on ambiguous samples "
                      "(0 = uniform).", feeds="noise.sharpness", needs=("mode", ("instance",))),
    "noise_overwrite": _opt("--overwrite", help="Replace an existing --out.", feeds="noise.overwrite"),
    # train
    "train_method": _opt("--method", help="mixfix (CLIPCleaner), deft (DeFT) or css (CSS: per-epoch 2-D GMM split "
                         "on the network's loss and CLIP p(given), FixMatch + contrastive training, CoOp prompts "
                         "co-trained; paper-scale runs need a GPU).", feeds="train.method"),
    "manifest": _opt("--manifest", help="Train on an exported manifest (path,label[,clean_score]; all rows clean) "
                     "instead of the workdir selection.", feeds="train.manifest"),
    "val": _opt("--val", help="Held-out labelled folder or manifest; accuracy per epoch.", feeds="train.val"),
    "train_truth": _opt("--truth", help="Manifest column with true labels, for absorb/relabel and detection "
                        "accuracy (default: clean_label if present).", feeds="train.truth"),
    "backbone": _opt("--backbone", help="clip (the workdir's CLIP image tower), preact_resnet18 (32 px), or a timm "
                     "name such as resnet18, resnet50, vit_small_patch16_224. Default: preact_resnet18 for mixfix, "
                     "clip for deft.", feeds="train.backbone"),
    "pretrained_backbone": _opt("--pretrained-backbone", help="Local state dict for a timm backbone (never "
                                "downloaded).", feeds="train.pretrained_backbone"),
    "image_size": _opt("--image-size", help="Input size (default: the backbone's).", feeds="train.image_size"),
    "epochs": _opt("--epochs", help="Epochs (mixfix 300; deft 10 per phase; css 310, warm-up included).",
                   feeds="train.epochs"),
    "train_batch_size": _opt("--batch-size", help="Batch size (mixfix 128, deft 64, css 128).",
                             feeds="train.batch_size"),
    "lr": _opt("--lr", help="Learning rate (mixfix 0.02; deft phase 1 0.03; css 0.02).", feeds="train.lr"),
    "schedule": _opt("--schedule", help="step (x0.1 at 2/3 and 5/6; css: halfway after warm-up) or cosine.",
                     feeds="train.schedule"),
    "weight_decay": _opt("--weight-decay", help="SGD weight decay (default 5e-4; css --preset clothing1m 1e-3).",
                         feeds="train.weight_decay"),
    "augment": _opt("--augment", help="auto, strong (AutoAugment/RandAugment), light or none.", feeds="train.augment"),
    "beta": _opt("--beta", help="MixFix: mixup Beta(beta, beta).", feeds="train.beta",
                 needs=("train_method", ("mixfix",))),
    "theta_r": _opt("--theta-r", help="MixFix: absorb threshold.", feeds="train.theta_r",
                    needs=("train_method", ("mixfix",))),
    "theta_r2": _opt("--theta-r2", help="MixFix: relabel threshold.", feeds="train.theta_r2",
                     needs=("train_method", ("mixfix",))),
    "warmup": _opt("--warmup", help="DeFT and CSS: warm-up epochs on all samples with their given labels, counted "
                   "in --epochs (deft 1, css 10).", feeds="train.warmup", needs=("train_method", ("deft", "css"))),
    "ft_epochs": _opt("--ft-epochs", help="DeFT phase 2 epochs (default: --epochs).", feeds="train.ft_epochs",
                      needs=("train_method", ("deft",))),
    "ft_lr": _opt("--ft-lr", help="DeFT phase 2 learning rate.", feeds="train.ft_lr",
                  needs=("train_method", ("deft",))),
    "detect_only": _opt("--detect-only", help="DeFT: stop after detection (writes deft.parquet).",
                        feeds="train.detect_only", needs=("train_method", ("deft",))),
    "preset": _opt("--preset", help="CSS: the paper's schedule for cifar, clothing1m or webvision (backbone, "
                   "pre-training, warm-up, epochs, batch, lr, weight decay; explicit options win).",
                   feeds="train.preset", needs=("train_method", ("css",))),
    "pretrain_epochs": _opt("--pretrain-epochs", help="CSS: self-supervised contrastive pre-training epochs "
                            "(default 800 for a backbone trained from scratch, 0 with --pretrained-backbone or "
                            "clip).", feeds="train.pretrain_epochs", needs=("train_method", ("css",))),
    "lambda_u": _opt("--lambda-u", help="CSS: weight of the FixMatch loss on U (network and prompts).",
                     feeds="train.lambda_u", needs=("train_method", ("css",))),
    "lambda_c": _opt("--lambda-c", help="CSS: weight of the NT-Xent contrastive loss.", feeds="train.lambda_c",
                     needs=("train_method", ("css",))),
    "lambda_r": _opt("--lambda-r", help="CSS: weight of the uniform-prior regulariser.", feeds="train.lambda_r",
                     needs=("train_method", ("css",))),
    "delta": _opt("--delta", help="CSS: confidence a pseudo-label on U needs.", feeds="train.delta",
                  needs=("train_method", ("css",))),
    "train_css_eps": _opt("--css-eps", help="CSS: clean posterior of the 2-D GMM needed to be in X.",
                          feeds="train.css_eps", needs=("train_method", ("css",))),
    "train_css_per_class": _opt("--css-per-class", help="CSS: fit the 2-D GMM per given class, not globally.",
                                feeds="train.css_per_class", needs=("train_method", ("css",))),
    "prompt_training": _opt("--prompt-training", help="CSS prompts: ssl (L^P_X + lambda_u L^P_U on weak/strong "
                            "views through the CLIP image tower; the paper's), sl (X only, on cached image "
                            "embeddings: cheap on a CPU) or none (fixed 'a photo of a {}.' prompts).",
                            feeds="train.prompt_training", needs=("train_method", ("css",))),
    "prompt_lr": _opt("--prompt-lr", help="CSS: SGD learning rate of the prompt context vectors.",
                      feeds="train.prompt_lr", needs=("train_method", ("css",))),
    "prompt_guard": _opt("--prompt-guard/--no-prompt-guard", help="CSS: undo an epoch's prompt updates when they "
                         "leave the mean CLIP p(given) over X more than 0.05 below the starting prompts' (labelclean's "
                         "guard against the prompts fitting X's mislabelled samples; not in the paper).",
                         feeds="train.prompt_guard", needs=("train_method", ("css",))),
    "ctx_tokens": _opt("--ctx-tokens", help="DeFT and CSS: learned context vectors per prompt (CSS: the first 4 "
                       "start from 'a photo of a').", feeds="train.ctx_tokens",
                       needs=("train_method", ("deft", "css"))),
    "train_workers": _opt("--workers", help="Image loading processes (0: in the main process).",
                          feeds="train.workers"),
    "resume": _opt("--resume", help="Continue from train/<method>/last.pt.", feeds="train.resume"),
    # predict
    "predict_data": _opt(help="Image folder (class folders or plain images) or a manifest.", feeds="predict.data",
                         argument=True, param="data"),
    "predict_method": _opt("--method", help="mixfix, deft or css (default: the only trained model in W/train/).",
                           feeds="predict.method"),
    "predict_out": _opt("--out", help="Predictions CSV (default: W/train/<method>/predictions.csv).",
                        feeds="predict.out"),
    "predict_batch_size": _opt("--batch-size", help="Images per batch.", feeds="predict.batch_size"),
    "predict_workers": _opt("--workers", help="Image loading processes.", feeds="predict.workers"),
    # demo
    "demo_domain": _opt("--domain", help="easy (images like the bundled model's training renders, labels flipped to "
                        "any class) or hard (a domain gap: the model is about 82 % accurate; labels flipped between "
                        "look-alike classes).", feeds="demo.domain"),
    "demo_noise": _opt("--noise", help="Fraction of labels flipped to another class (--domain hard: that fraction "
                       "of every class, to its look-alike).", feeds="demo.noise"),
    "demo_size": _opt("--size", help="Number of generated images (10 classes, 64 px).", feeds="demo.size"),
    "demo_seed": _opt("--seed", help="Seed for the data, the noise and every stage.", feeds="demo.seed"),
    "demo_descriptions": _opt("--descriptions", help="Zero-shot with the class descriptions in "
                              "templates/descriptions/demo.yaml instead of 'a photo of a {}.'.",
                              feeds="demo.descriptions"),
    "demo_workdir": _opt("--workdir", "-w", help="Work directory holding every stage's output.",
                         default=Path("labelclean-demo"), type=Path, extra=(("show_default", True),)),
    # run / check
    "force": _opt("--force", help="Redo every stage even when nothing changed.", default=False, type=bool),
    "max_noise": _opt("--max-noise", help="Highest acceptable estimated noise rate, in [0, 1].", type=float,
                      extra=(("show_default", False),)),
    # every command
    "json_out": _opt("--json", help="Print a machine-readable JSON summary on stdout.", default=False, type=bool),
}


def stage_options(stage: str) -> tuple[str, ...]:
    """Keys of the options the command of ``stage`` offers (those feeding its config), in registry order."""
    return tuple(k for k, o in OPTIONS.items() if o.own and any(f.split(".")[0] == stage for f in o.feeds))


def pipeline_options(stages: tuple[str, ...]) -> tuple[str, ...]:
    """Keys of the options `run` / `check` offer for ``stages``, in registry order."""
    return tuple(k for k, o in OPTIONS.items() if o.pipeline and any(f.split(".")[0] in stages for f in o.feeds))


def _field(ref: str) -> dataclasses.Field:
    stage, name = ref.split(".")
    return {f.name: f for f in dataclasses.fields(CONFIGS[stage])}[name]


def default_of(key: str) -> Any:
    """The option's default: that of the (first) config field it feeds, else its own."""
    opt = OPTIONS[key]
    if not opt.feeds:
        return opt.default
    f = _field(opt.feeds[0])
    return _REQUIRED if opt.required or f.default is dataclasses.MISSING else f.default


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def type_of(key: str) -> Any:
    opt = OPTIONS[key]
    if not opt.feeds:
        return opt.type
    stage, name = opt.feeds[0].split(".")
    return _hints(CONFIGS[stage])[name]


def _parameter(key: str) -> inspect.Parameter:
    opt = OPTIONS[key]
    settings = dict(opt.extra, help=opt.help)
    info = typer.Argument(**settings) if opt.argument else typer.Option(*opt.flags, **settings)
    return inspect.Parameter(opt.param or key, inspect.Parameter.KEYWORD_ONLY, default=default_of(key),
                             annotation=Annotated[type_of(key), info])


class Given(dict):
    """The values of a command's options, by registry key."""

    def __init__(self, values: dict[str, Any], ctx: Optional[typer.Context] = None) -> None:
        super().__init__(values)
        self._ctx = ctx
        self._params = {key: OPTIONS[key].param or key for key in values}

    def config(self, stage: str) -> Any:
        """The config of ``stage`` from the given options that feed it (the others keep their defaults)."""
        values = {}
        for key, value in self.items():
            for ref in OPTIONS[key].feeds:
                s, name = ref.split(".")
                if s == stage:
                    values[name] = value
        return CONFIGS[stage](**values)

    def explicit(self, key: str) -> bool:
        """Whether the user set this option (command line or environment), rather than leaving its default."""
        source = self._ctx.get_parameter_source(self._params[key]) if self._ctx is not None else None
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def check_needs(given: Given) -> None:
    """UsageError for an option given explicitly while the option it depends on has a value it ignores."""
    for key in given:
        needs = OPTIONS[key].needs
        if needs is None or needs[0] not in given or given[needs[0]] in needs[1] or not given.explicit(key):
            continue
        other = OPTIONS[needs[0]].name()
        wanted = " or ".join(f"{other} {v}" for v in needs[1])
        raise UsageError(f"{OPTIONS[key].name()} only has an effect with {wanted} (got {other} {given[needs[0]]})",
                         f"add {other} {needs[1][0]}, or drop {OPTIONS[key].name()}")


def uses(*keys: str) -> Callable[[Callable[[Given], Any]], Callable[..., Any]]:
    """Give a command the registry options ``keys``; it is called with one `Given`."""
    unknown = [k for k in keys if k not in OPTIONS]
    if unknown or len(set(keys)) != len(keys):
        raise ValueError(f"unknown or repeated option keys: {unknown or keys}")

    def decorate(fn: Callable[[Given], Any]) -> Callable[..., Any]:
        params = [_parameter(k) for k in keys]

        by_param = {OPTIONS[k].param or k: k for k in keys}

        @functools.wraps(fn)
        def command(ctx: typer.Context, **values: Any) -> Any:
            given = Given({by_param[p]: v for p, v in values.items()}, ctx)
            check_needs(given)
            return fn(given)

        ctx = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
        command.__signature__ = inspect.Signature([ctx, *params])  # type: ignore[attr-defined]
        command.__annotations__ = {"ctx": typer.Context, **{p.name: p.annotation for p in params}}
        return command

    return decorate
