"""Every stage's config dataclass: the single home of each option's default.

This module imports nothing heavy (no numpy, pyarrow, Pillow or torch): the CLI reads the
defaults from these fields to build `--help`, which must stay fast. Validation that needs
a library imports it inside the method. The option registry (labelclean/cli/options.py)
names a field here as ``"<stage>.<field>"``; `CONFIGS` maps the stage to its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from labelclean.core.errors import UsageError
from labelclean.evaluation.config import NoiseConfig
from labelclean.train.common.config import TrainConfig

EMBED_DTYPES = ("float16", "float32")
DEFAULT_MODEL = "ViT-B-32"  # what `embed` runs when --model is not given (with --from-features: no model)
DEMO_DOMAINS = ("easy", "hard")  # = demo.dataset.DOMAINS (a test checks), not imported: numpy
DEFAULT_MAX_PIXELS = 89_478_485  # = ingest.decode.DEFAULT_MAX_PIXELS (a test checks), not imported: Pillow
EXPORT_FORMATS = ("csv", "jsonl", "parquet", "hf", "imagefolder", "label-studio")


def comma_list(value: Optional[str]) -> list[str]:
    """``" Zeroshot, knn,"`` -> ``["zeroshot", "knn"]`` (options such as --estimators and --criteria)."""
    return [part.strip().lower() for part in (value or "").split(",") if part.strip()]


@dataclass
class EmbedConfig:
    data: Path
    model: Optional[str] = None  # None: DEFAULT_MODEL, or with from_features no text tower
    pretrained: Optional[str] = None
    device: str = "auto"
    precision: str = "auto"
    batch_size: Optional[int] = None  # default: 64 on CPU, 256 on CUDA
    workers: Optional[int] = None  # default: see embed.images.auto_workers
    classes_file: Optional[Path] = None
    templates: str = "simple"
    descriptions: Optional[str] = None
    shard: Optional[str] = None  # "I/N" or "auto"
    num_shards: Optional[int] = None
    from_features: Optional[Path] = None
    text_features: Optional[Path] = None  # with from_features: prompt embeddings (.parquet, or .npy + text_prompts)
    text_prompts: Optional[Path] = None  # with a .npy text_features: class,prompt per row
    max_pixels: int = DEFAULT_MAX_PIXELS
    dtype: str = "float16"
    chunk_size: int = 1024
    root: Optional[Path] = None  # manifests: the folder relative paths resolve against
    allow_outside_root: bool = False  # use files (and follow links) outside the data root
    label_field: str = "auto"  # WebDataset tars / Parquet image files: cls, txt, json:FIELD or a column

    def validate(self) -> None:
        if self.dtype not in EMBED_DTYPES:
            raise UsageError(f"--dtype {self.dtype} is not one of: {', '.join(EMBED_DTYPES)}")
        for name in ("batch_size", "chunk_size", "max_pixels", "num_shards"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.from_features is None:
            for name in ("text_features", "text_prompts"):
                if getattr(self, name) is not None:
                    raise UsageError(f"--{name.replace('_', '-')} needs --from-features",
                                     "image embeddings computed elsewhere come with --from-features IMG")
        elif self.text_features is not None and self.model is not None:
            raise UsageError("--text-features and --model both give the prompt embeddings", "drop one of them")
        elif self.pretrained is not None and self.model is None:
            raise UsageError("--pretrained with --from-features needs --model (the text tower to load)",
                             "add --model NAME, or drop --pretrained")
        if self.text_prompts is not None and self.text_features is None:
            raise UsageError("--text-prompts needs --text-features TXT.npy", "drop --text-prompts")
        if self.workers is not None and self.workers < 0:
            raise UsageError(f"--workers must be 0 or more, got {self.workers}")


@dataclass
class ScoreConfig:
    estimators: Optional[str] = None  # comma-separated; None = the default estimators the workdir allows
    prompts: Optional[str] = None  # zero-shot prompts: None = text.parquet (embed's); learned:css | learned:deft
    temperature: Optional[float] = None  # zero-shot tau; None = 1 / the model's logit scale, else 0.07
    prompt_aggregation: str = "mean"  # mean | sum | mean-embedding
    folds: int = 5
    in_sample: bool = False
    l2: Optional[float] = None  # logistic-regression penalty; None = chosen by held-out loss
    k: int = 10
    knn_index: str = "auto"  # auto | exact | ivf | ivfsq | hnsw
    knn_backend: str = "auto"  # auto | faiss | torch | numpy
    knn_nprobe: Optional[int] = None  # IVF lists visited per query; None = about 0.75 * sqrt(nlist)
    robust_rounds: int = 1  # refits of the robust estimator on its trusted samples
    device: str = "auto"
    seed: int = 0


@dataclass
class SelectConfig:
    estimators: Optional[str] = None  # comma-separated; None = every scored estimator (+ deft, css if trained)
    method: str = "ensemble"  # ensemble | criteria | css
    criteria: str = "consistency,gmm"  # method criteria only
    combine: str = "all"  # method criteria only: all | any | vote:K
    theta_cons: float = 0.8
    theta_gmm: float = 0.5
    theta_relabel: float = 0.5
    theta_outlier: Optional[float] = None  # None = min(2/K, half the median best probability)
    css_eps: float = 0.5
    css_per_class: bool = False
    weighting: str = "fixed"  # fixed | reliability
    flag_count: str = "criteria"  # method ensemble: criteria | mixture | noise-rate
    fallback: bool = True
    seed: int = 0


@dataclass
class ExportConfig:
    format: str = "csv"
    out: Optional[Path] = None  # default: W/export
    link: str = "symlink"  # symlink | hardlink | copy (tree formats)
    apply_relabels: bool = False
    min_confidence: float = 0.0
    absolute_paths: bool = False
    allow_outside_root: bool = False
    overwrite: bool = False

    def validate(self) -> None:
        from labelclean.export.tree import LINK_MODES

        if self.format not in EXPORT_FORMATS:
            raise UsageError(f"--format {self.format} is not one of: {', '.join(EXPORT_FORMATS)}")
        if self.link not in LINK_MODES:
            raise UsageError(f"--link {self.link} is not one of: {', '.join(LINK_MODES)}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise UsageError(f"--min-confidence {self.min_confidence} is outside [0, 1]")


@dataclass
class ReportConfig:
    out: Optional[Path] = None  # default: W/report.html
    thumbs_per_class: int = 60  # thumbnails of suspects per class
    max_thumbs: int = 2000  # thumbnails of suspects in all


@dataclass
class EvaluateConfig:
    truth: str = "clean_label"  # manifest column, or a .csv/.tsv/.jsonl/.parquet file of path,label


@dataclass
class ReviewConfig:
    decisions: Optional[Path] = None  # CSV/JSONL, or Label Studio's JSON export (.json)
    replace: bool = False  # discard previously imported decisions first
    serve: bool = False  # then serve the review app (labelclean/review/server)
    host: str = "127.0.0.1"
    port: Optional[int] = None  # None: 8765, or any free port when 8765 is taken
    open_browser: bool = True

    def validate(self) -> None:
        if self.decisions is None and not self.serve:
            raise UsageError("pass --decisions FILE to import decisions, or --serve to review in the browser",
                             "labelclean review -w W --serve")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port} is outside [0, 65535]", "0 picks any free port")


@dataclass
class PredictConfig:
    data: Path  # folder (class folders, or plain images) or manifest
    method: Optional[str] = None  # mixfix | deft | css; default: the only trained model
    out: Optional[Path] = None  # default: W/train/<method>/predictions.csv
    batch_size: int = 64
    device: str = "auto"
    workers: int = 0


@dataclass
class DemoConfig:
    size: int = 5000
    noise: float = 0.3
    seed: int = 0
    image_size: int = 64
    descriptions: bool = False  # also score with the class descriptions of templates/descriptions/demo.yaml
    domain: str = "easy"  # easy: the bundled model's render style; hard: domain gap + look-alike noise

    def validate(self) -> None:
        if self.domain not in DEMO_DOMAINS:
            raise UsageError(f"--domain must be one of {', '.join(DEMO_DOMAINS)}, got {self.domain!r}",
                             "e.g. --domain hard")
        if not 0.0 <= self.noise < 0.9:
            raise UsageError(f"--noise must be in [0, 0.9), got {self.noise}")
        if self.size < 100:
            raise UsageError(f"--size must be at least 100, got {self.size}")


PIPELINE = ("embed", "score", "select", "export", "report")  # the stages `run` chains, in order
CONFIGS: dict[str, type] = {
    "embed": EmbedConfig, "score": ScoreConfig, "select": SelectConfig, "export": ExportConfig,
    "report": ReportConfig, "evaluate": EvaluateConfig, "review": ReviewConfig, "noise": NoiseConfig,
    "predict": PredictConfig, "demo": DemoConfig, "train": TrainConfig,
}
