"""Find rows by sample_id without building a Python dict of a million strings.

The ids stay an Arrow string array; one sort at start-up (skipped when they are already
sorted, as labelclean writes them), then a binary search per lookup (about 20 element reads).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class IdIndex:
    """Row positions of sample_ids in one table column."""

    def __init__(self, ids: pa.Array | pa.ChunkedArray):
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks() if ids.num_chunks else pa.array([], pa.string())
        self.ids = ids
        n = len(ids)
        if n < 2 or _is_sorted(ids):
            self._order = None
            self._sorted = ids
        else:
            self._order = pc.sort_indices(ids).to_numpy()
            self._sorted = ids.take(pa.array(self._order))

    def __len__(self) -> int:
        return len(self.ids)

    def find(self, sample_id: str) -> int | None:
        """The row of ``sample_id``, or None when it is not in the column."""
        lo, hi = 0, len(self._sorted)
        arr = self._sorted
        while lo < hi:
            mid = (lo + hi) // 2
            if arr[mid].as_py() < sample_id:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(arr) and arr[lo].as_py() == sample_id:
            return int(self._order[lo]) if self._order is not None else lo
        return None

    def find_many(self, sample_ids: list[str]) -> np.ndarray:
        """Rows of ``sample_ids`` (-1 where absent), vectorised with Arrow."""
        if not sample_ids:
            return np.zeros(0, dtype=np.int64)
        pos = pc.index_in(pa.array(sample_ids, pa.string()), value_set=self.ids)
        return pos.fill_null(-1).to_numpy().astype(np.int64)


def _is_sorted(ids: pa.Array) -> bool:
    # compare each id with the next one, in Arrow (no Python strings)
    return bool(pc.all(pc.less_equal(ids.slice(0, len(ids) - 1), ids.slice(1))).as_py())
