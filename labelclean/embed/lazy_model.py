"""An image encoder that is loaded only when something needs it.

`embed` needs the model's identity (``model_id``) to check the workdir's part files, but
the model itself only when there is an image to embed or a prompt table to (re)write. A
re-run over an unchanged folder (e.g. `run` after a standalone `embed`) then costs a hash
of the weights file instead of building the model (~11 s for ViT-B-32 on the development
machine). ``identity`` comes from ``recorded(model_id)`` (the embed stage looks it up in
the part files' metadata) when that knows this model, else from loading the model.
"""

from __future__ import annotations

import time
from typing import Any, Callable


class LazyEncoder:
    """Stands for `labelclean.model.encoder.Encoder`; ``loaded`` says whether it was built."""

    def __init__(self, model: str, pretrained: str | None, device: str, precision: str,
                 recorded: Callable[[str], dict[str, Any] | None] = lambda model_id: None):
        from labelclean.model.encoder import peek_model_id

        self._args = (model, pretrained, device, precision)
        self.model_id = peek_model_id(model, pretrained)
        self._lookup = recorded
        self._encoder: Any = None
        self.load_seconds = 0.0

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def load(self) -> Any:
        if self._encoder is None:
            from labelclean.model.encoder import load_encoder

            start = time.perf_counter()
            model, pretrained, device, precision = self._args
            self._encoder = load_encoder(model, pretrained, device=device, precision=precision)
            self.load_seconds = time.perf_counter() - start
            self.model_id = self._encoder.model_id
        return self._encoder

    @property
    def identity(self) -> dict[str, Any]:
        if self._encoder is None:
            known = self._lookup(self.model_id)
            if known is not None and known.get("model_id") == self.model_id:
                return {k: v for k, v in known.items() if k != "model_id"}
        return self.load().identity

    @property
    def device(self) -> Any:
        if self._encoder is not None:
            return self._encoder.device
        from labelclean.model.encoder import resolve_device

        return resolve_device(self._args[2])

    @property
    def precision(self) -> str:
        if self._encoder is not None:
            return self._encoder.precision
        from labelclean.model.encoder import resolve_precision

        return resolve_precision(self._args[3], self.device)

    def __getattr__(self, name: str) -> Any:  # dim, has_text, model, encode_images, encode_texts, ...
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.load(), name)
