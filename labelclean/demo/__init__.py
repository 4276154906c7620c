"""labelclean's offline demo: a synthetic image domain and a tiny CLIP model trained on it.

``MODEL_DIR`` is an open_clip ``local-dir`` folder (config JSON + float16 safetensors) trained by
``scripts/train_demo_clip.py`` on :mod:`labelclean.demo.domain`; :func:`model_spec` is the value
to pass as ``--model``. :mod:`labelclean.demo.hard` renders the same classes with a domain gap
(``labelclean demo --domain hard``). Importing this package imports neither torch nor open_clip.
"""

from __future__ import annotations

from pathlib import Path

from labelclean.demo.domain import CLASSES, prompt_name

MODEL_DIR: Path = Path(__file__).resolve().parent / "model"


def model_spec() -> str:
    """The open_clip model identifier of the bundled demo model: ``"local-dir:<MODEL_DIR>"``."""
    return f"local-dir:{MODEL_DIR}"


__all__ = ["CLASSES", "MODEL_DIR", "model_spec", "prompt_name"]
