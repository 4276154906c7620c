"""Matching rows between two Arrow tables on several key columns (a hash join, no Python object per row)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def last_matching_rows(probe: pa.Table, stored: pa.Table) -> np.ndarray:
    """(probe.num_rows,) int64: per probe row, the last row of ``stored`` equal on every probe column, or -1.

    ``stored`` holds (at least) the probe's columns, of the same types. A null key matches
    nothing (Arrow's join semantics): callers that mean "no value" as a key give it a value
    (an empty string or bytes).
    """
    n = probe.num_rows
    out = np.full(n, -1, dtype=np.int64)
    if n == 0 or stored.num_rows == 0:
        return out
    keys = probe.column_names
    left = probe.append_column("_probe_row", pa.array(np.arange(n)))
    right = stored.select(keys).append_column("_stored_row", pa.array(np.arange(stored.num_rows)))
    joined = left.join(right, keys=keys, join_type="inner", use_threads=False)
    if joined.num_rows:
        rows, found = joined["_probe_row"].to_numpy(), joined["_stored_row"].to_numpy()
        order = np.argsort(found, kind="stable")  # assigned in stored order: the last match wins
        out[rows[order]] = found[order]
    return out
