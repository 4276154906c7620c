"""Store one reviewer decision at a time in W/decisions.parquet, on top of review.decisions.

Every call re-reads the file, upserts one row with `merge_decisions` (or removes it, for
undo) and writes it atomically with `write_table`, all under the workdir's lock, so two
tabs, two servers or a concurrent ``review --decisions`` never lose each other's rows.
"""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.compute as pc

from labelclean.core.errors import InputError, WorkdirError
from labelclean.review.decisions import load_decisions, merge_decisions, parse_decision
from labelclean.store.parquet_io import write_table
from labelclean.store.schemas import DECISIONS
from labelclean.ingest.types import ClassInfo
from labelclean.store.workdir import Workdir

SOURCE = "review-app"
_THREAD_LOCK = threading.Lock()  # flock is per open file: threads of one process must queue here first


def set_decision(
    wd: Workdir, sample_id: str, decision: str | None, classes: list[ClassInfo], *, wait_s: float = 10.0
) -> str | None:
    """Store ``decision`` (accept, reject, drop or relabel:<class>) for ``sample_id``.

    ``decision`` None or "" removes the sample's decision (it is "not reviewed" again).
    Returns the stored text form, or None after a removal. Raises InputError for an
    unknown decision or class, WorkdirError when the workdir stays locked for ``wait_s``.
    """
    try:
        parsed = parse_decision(decision or "", classes)
    except ValueError as e:
        raise InputError(str(e)) from None
    with _THREAD_LOCK, _locked(wd, wait_s):
        old = load_decisions(wd)
        if parsed is None:
            if old is None:
                return None
            merged = old.filter(pc.invert(pc.equal(old["sample_id"], sample_id))).select(DECISIONS.names)
        else:
            row = pa.table({"sample_id": [sample_id], "decision": [parsed.decision], "label": [parsed.label],
                            "source": [SOURCE]}, schema=DECISIONS)
            merged = merge_decisions(old, row)
        write_table(wd.decisions, merged.cast(DECISIONS), "decisions")
    if parsed is None:
        return None
    return f"relabel:{parsed.label}" if parsed.decision == "relabel" else parsed.decision


class _locked:
    """wd.lock(), retried until ``wait_s`` passes (another stage may hold it briefly)."""

    def __init__(self, wd: Workdir, wait_s: float):
        self.wd, self.wait_s, self.cm = wd, wait_s, None

    def __enter__(self):
        deadline = time.monotonic() + self.wait_s
        while True:
            cm = self.wd.lock()
            try:
                cm.__enter__()
            except WorkdirError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
                continue
            self.cm = cm
            return self

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)
