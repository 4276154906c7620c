"""Discovery's columnar store: candidates as Arrow columns, not one Python object per file.

`CandidateBuilder` collects rows (a folder walk adds one at a time, a manifest reader a
batch at a time) into Arrow arrays of ``chunk_rows`` rows, so at most one chunk of Python
values exists at any moment; `CandidateBuilder.finish` sorts the chunks by sample_id
with Arrow (stable, so rows with one id keep their input order) and finds repeated ids.
`CandidateTable` is the result: a read-only `Sequence[Candidate]` (``len``, indexing,
slices, iteration that builds `Candidate` objects one batch at a time) over the sorted
table, with the columns themselves for consumers that work column-wise (`ids`,
`column`, `mask`, `filter`).

About 60 bytes per file instead of about 800: a file's ``path`` is stored only when it
differs from ``root/sample_id`` (symlinked or outside-root entries, absolute manifest
paths), an empty ``detail`` and an absent status or member are nulls, and extra manifest
columns stay in the Arrow type they were read with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.types import Candidate

CHUNK_ROWS = 16_384  # rows per Arrow chunk while building; rows per batch while iterating
EXTRA = "extra:"  # column-name prefix of extra manifest columns (a manifest may have a `status` column)
BASE = pa.schema([
    ("sample_id", pa.string()), ("path", pa.string()), ("label", pa.string()), ("status", pa.string()),
    ("detail", pa.string()), ("member", pa.string()), ("where", pa.int32()),
])
_REASONS = {r.value: r for r in Reason}


class CandidateTable(Sequence):
    """Sorted, unique candidates as an Arrow table; reads like a list of `Candidate`.

    Parameters
    ----------
    table : pyarrow.Table
        Columns of `BASE` plus ``extra:<name>`` ones, sorted by ``sample_id``.
    prefix : str
        The data root with a trailing separator: a null ``path`` means ``prefix + sample_id``.
    batch_rows : int, optional
        Rows converted to Python objects at a time while iterating (default `CHUNK_ROWS`).
    """

    def __init__(self, table: pa.Table, prefix: str, batch_rows: int | None = None):
        self.table, self.prefix, self.batch_rows = table, prefix, batch_rows or CHUNK_ROWS
        self.extra_names = [n[len(EXTRA):] for n in table.column_names if n.startswith(EXTRA)]

    def __len__(self) -> int:
        return self.table.num_rows

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> "CandidateTable": ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                return [self[k] for k in range(start, stop, step)]
            return self._like(self.table.slice(start, max(0, stop - start)))
        n = len(self)
        k = i + n if i < 0 else i
        if not 0 <= k < n:
            raise IndexError(f"candidate {i} of {n}")
        return next(self._rows(self.table.slice(k, 1)))

    def __iter__(self) -> Iterator[Any]:
        for batch in self.table.to_batches(max_chunksize=self.batch_rows):
            yield from self._rows(batch)

    def __repr__(self) -> str:
        return f"CandidateTable({len(self)} candidates)"

    def _like(self, table: pa.Table) -> "CandidateTable":
        return CandidateTable(table, self.prefix, self.batch_rows)

    def _rows(self, batch) -> Iterator[Any]:
        col = {n: batch.column(n).to_pylist() for n in ("sample_id", "path", "label", "status", "detail", "member")}
        extras = [batch.column(EXTRA + n).to_pylist() for n in self.extra_names]
        names, prefix = self.extra_names, self.prefix
        for k, (sid, path, label, status, detail, member) in enumerate(zip(
                col["sample_id"], col["path"], col["label"], col["status"], col["detail"], col["member"])):
            yield Candidate(sid, Path(prefix + sid if path is None else path), label,
                            {n: e[k] for n, e in zip(names, extras)},
                            None if status is None else _REASONS[status], detail or "", member)

    # column-wise access -------------------------------------------------------------
    def column(self, name: str) -> pa.ChunkedArray:
        """A column of the table (``sample_id``, ``label``, ``status``, ``extra:<name>``, ...)."""
        return self.table[name]

    def ids(self) -> list[str]:
        """Every sample_id, in order."""
        return self.table["sample_id"].to_pylist()

    def paths(self) -> pa.ChunkedArray:
        """Every absolute path as text (``root/sample_id`` where none is stored)."""
        joined = pc.binary_join_element_wise(pa.scalar(self.prefix), self.table["sample_id"], "")
        return pc.coalesce(self.table["path"], joined)

    def mask(self, keep: Callable[[str, str | None], bool]) -> np.ndarray:
        """A boolean array: ``keep(sample_id, member)`` for every row."""
        return self.values(keep, bool)

    def values(self, fn: Callable[[str, str | None], Any], dtype=np.int64) -> np.ndarray:
        """``fn(sample_id, member)`` for every row as an array (Python per row, no object)."""
        out = np.zeros(len(self), dtype=dtype)
        k = 0
        for batch in self.table.select(["sample_id", "member"]).to_batches(max_chunksize=self.batch_rows):
            ids, members = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            out[k:k + len(ids)] = [fn(s, m) for s, m in zip(ids, members)]
            k += len(ids)
        return out

    def usable_mask(self, *, missing_ok: bool) -> np.ndarray:
        """Rows without a discovery status (or, with ``missing_ok``, with status ``missing``)."""
        status = self.table["status"]
        ok = pc.is_null(status)
        if missing_ok:
            ok = pc.or_(ok, pc.fill_null(pc.equal(status, Reason.missing.value), False))
        return ok.to_numpy(zero_copy_only=False).astype(bool, copy=False)

    def filter(self, mask: np.ndarray) -> "CandidateTable":
        """The rows where ``mask`` is true, in order (a new view; nothing is copied to Python)."""
        if mask.all():
            return self
        return self._like(self.table.filter(pa.array(mask, type=pa.bool_())))

    def labels(self) -> set[str]:
        """The distinct non-null labels."""
        return {x for x in pc.unique(self.table["label"]).to_pylist() if x is not None}


class CandidateBuilder:
    """Collects candidate rows into Arrow chunks of ``chunk_rows`` rows.

    ``root`` is the folder sample ids are relative to; a row whose path is exactly
    ``root/sample_id`` stores no path. ``extra_names``: the extra manifest columns.
    ``chunk_rows`` defaults to the module's `CHUNK_ROWS` at the time of the call (tests
    set it tiny to cross chunk boundaries).
    """

    def __init__(self, root: Path | str, extra_names: Sequence[str] = (), chunk_rows: int | None = None):
        self.prefix = str(root).rstrip(os.sep) + os.sep
        self.extra_names = list(extra_names)
        self.chunk_rows = chunk_rows or CHUNK_ROWS
        self.chunks: list[pa.Table] = []
        self.rows = 0
        self.n_ok = 0  # rows without a status (a class folder "has a file" when this grows)
        self._new()

    def _new(self) -> None:
        self._buf: tuple[list, ...] = ([], [], [], [], [], [], [])
        self._extras: list[list] = [[] for _ in self.extra_names]

    def add(self, sample_id: str, path: str, label: str | None, status: Reason | None = None, detail: str = "",
            member: str | None = None, extras: dict[str, Any] | None = None, where: int | None = None) -> None:
        """One row; ``path`` is the absolute path as text."""
        b = self._buf
        b[0].append(sample_id)
        b[1].append(None if path == self.prefix + sample_id else path)
        b[2].append(label)
        b[3].append(None if status is None else status.value)
        b[4].append(detail or None)
        b[5].append(member)
        b[6].append(where)
        for values, name in zip(self._extras, self.extra_names):
            values.append(None if extras is None else extras.get(name))
        self.rows += 1
        self.n_ok += status is None
        if len(b[0]) >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self._buf[0]:
            return
        arrays = [pa.array(values, type=f.type) for values, f in zip(self._buf, BASE)]
        arrays += [extra_array(values) for values in self._extras]
        self.chunks.append(pa.Table.from_arrays(arrays, names=BASE.names + [EXTRA + n for n in self.extra_names]))
        self._new()

    def add_columns(self, columns: dict[str, list], extras: dict[str, pa.Array]) -> None:
        """A batch of rows given as lists under the `BASE` names (``path`` as absolute text,
        ``status`` as `Reason` or None) and extra columns already in Arrow form."""
        self.flush()
        n = len(columns["sample_id"])
        prefix = self.prefix
        columns = dict(columns)
        columns["path"] = [None if p == prefix + s else p for s, p in zip(columns["sample_id"], columns["path"])]
        statuses = columns["status"]
        self.n_ok += sum(s is None for s in statuses)
        columns["status"] = [None if s is None else s.value for s in statuses]
        columns["detail"] = [d or None for d in columns["detail"]]
        arrays = [pa.array(columns[f.name], type=f.type) if f.name in columns else pa.nulls(n, f.type) for f in BASE]
        arrays += [extras[name] for name in self.extra_names]
        self.chunks.append(pa.Table.from_arrays(arrays, names=BASE.names + [EXTRA + n for n in self.extra_names]))
        self.rows += n

    def extend(self, other: "CandidateBuilder") -> None:
        """Take over the rows of ``other`` (a builder with the same root and extra columns)."""
        self.flush()
        other.flush()
        self.chunks.extend(other.chunks)
        self.rows += other.rows
        self.n_ok += other.n_ok
        other.chunks, other.rows, other.n_ok = [], 0, 0

    def has_repeats(self) -> bool:
        """Whether some sample_id was added twice (Arrow only: no Python object per row)."""
        self.flush()
        if self.rows < 2:
            return False
        ids = pa.chunked_array([part for t in self.chunks for part in t["sample_id"].chunks], pa.string())
        return pc.count_distinct(ids).as_py() < self.rows

    def finish(self, on_duplicate: Callable[[dict, dict], Exception]) -> CandidateTable:
        """Sort by sample_id; raise ``on_duplicate(first_row, second_row)`` (rows as dicts of
        the `BASE` columns, ``path`` filled in, the first in input order) when an id repeats."""
        self.flush()
        table = self._sorted()
        ids = table["sample_id"]
        if len(ids) > 1:
            same = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))
            if pc.any(same).as_py():
                k = pc.index(same, True).as_py()
                first, second = (self._row(table, k), self._row(table, k + 1))
                raise on_duplicate(first, second)
        return CandidateTable(table.drop_columns(["where"]), self.prefix, self.chunk_rows)

    def _sorted(self) -> pa.Table:
        """The chunks as one table sorted by sample_id (stable), copied one column at a time
        so that the peak is the table plus one column, not two tables."""
        table = _concat(self.chunks, self.extra_names)
        self.chunks = []
        order = pc.sort_indices(table, sort_keys=[("sample_id", "ascending")])
        names, columns = table.column_names, table.columns
        del table
        out = []
        for k in range(len(columns)):
            out.append(columns[k].take(order))
            columns[k] = None
        return pa.Table.from_arrays(out, names=names)

    def _row(self, table: pa.Table, k: int) -> dict:
        row = {n: table[n][k].as_py() for n in BASE.names}
        if row["path"] is None:
            row["path"] = self.prefix + row["sample_id"]
        return row


def sort_unique(candidates: list[Candidate], root: Path):
    """Sort by sample_id into a `CandidateTable`; two files with the same NFC-normalised id
    are an InputError."""
    names = list(dict.fromkeys(n for c in candidates for n in c.extras))
    builder = CandidateBuilder(root, names)
    for c in candidates:
        builder.add(c.sample_id, str(c.path), c.label, c.status, c.detail, c.member, c.extras)
    return builder.finish(lambda a, b: same_name_error(root, a["path"], b["path"]))


def same_name_error(root: Path, a: str, b: str) -> InputError:
    return InputError(
        f"two files in {root} have the same name after unicode normalisation: {a} and {b}",
        "rename one of them",
    )


def extra_array(values: list[Any]) -> pa.Array:
    """Python values as an Arrow array; as text when their types do not mix."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _concat(chunks: list[pa.Table], extra_names: list[str]) -> pa.Table:
    if not chunks:
        return pa.Table.from_arrays([pa.array([], type=f.type) for f in BASE]
                                    + [pa.array([], type=pa.null()) for _ in extra_names],
                                    names=BASE.names + [EXTRA + n for n in extra_names])
    try:
        return pa.concat_tables(chunks, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    # an extra column read as numbers in one chunk and as text in another: that column as text
    mixed = []
    for name in extra_names:
        fields = [t.schema.field(EXTRA + name) for t in chunks]
        try:
            pa.unify_schemas([pa.schema([f]) for f in fields], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            mixed.append(EXTRA + name)

    def as_text(t: pa.Table) -> pa.Table:
        for name in mixed:
            i = t.schema.get_field_index(name)
            if not pa.types.is_string(t.schema.field(i).type):
                col = pa.array([None if v is None else str(v) for v in t.column(i).to_pylist()], pa.string())
                t = t.set_column(i, name, col)
        return t
    return pa.concat_tables([as_text(t) for t in chunks], promote_options="permissive")
