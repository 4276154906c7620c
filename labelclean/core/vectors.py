"""Small numpy helpers shared across layers."""

from __future__ import annotations

import numpy as np

NORM_FLOOR = 1e-12  # an all-zero vector stays zero instead of dividing by zero


def unit_rows(a: np.ndarray) -> np.ndarray:
    """``a`` with every vector along the last axis scaled to L2 norm 1 (zero vectors stay zero); same dtype."""
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), NORM_FLOOR)


BLOCK_CELLS = 1 << 24  # float32 cells per estimator block of probabilities (64 MB)


def block_rows(k: int, budget_cells: int = BLOCK_CELLS) -> int:
    """Rows per block so that one (rows, k) float32 block holds about ``budget_cells`` values (at least 256 rows)."""
    return max(256, budget_cells // max(int(k), 1))
