"""Small numpy helpers shared across layers."""

from __future__ import annotations

import numpy as np

NORM_FLOOR = 1e-12  # an all-zero vector stays zero instead of dividing by zero


def unit_rows(a: np.ndarray) -> np.ndarray:
    """``a`` with every vector along the last axis scaled to L2 norm 1 (zero vectors stay zero); same dtype."""
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), NORM_FLOOR)
