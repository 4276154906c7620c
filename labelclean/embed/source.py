"""Where `embed` gets its vectors: one protocol for a CLIP image model and for imported features.

`ImageSource` (embed/images.py) decodes every file and runs the model's image tower;
`Features` (embed/features.py) looks vectors up by sample_id in a precomputed file. The embed
stage sees only this protocol, so it never asks which one it holds.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

from labelclean.embed.parts import Rows
from labelclean.ingest.types import Candidate


class Source(Protocol):
    model_id: str  # written into every table made from these vectors
    identity: dict[str, Any]  # run.json's "model" record
    dim: int
    has_text: bool  # can embed class prompts (zero-shot)
    logit_scale: float | None  # the text model's learned logit scale (zero-shot temperature = 1/scale)
    no_text: str  # why there are no prompt embeddings, when has_text is False
    decodes_files: bool  # False: a file missing on disk is fine, its vector does not come from it

    def summary(self) -> dict[str, Any]:
        """What the embed report shows of this source (device and batch size, or the features file)."""
        ...

    def rows(self, items: list[Candidate], sha256: dict[str, str | None]) -> Iterator[Rows]:
        """One `Rows` per batch of ``items``, in their order."""
        ...

    def encode_texts(self, texts: list[str]) -> Any:
        """Unit vectors of ``texts`` (only when has_text)."""
        ...
