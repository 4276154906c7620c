"""Write export tables as CSV, JSONL or Parquet, byte-identically on every run.

Rows are written in the order given (callers sort them), floats with a fixed number of
decimals, no timestamps; every file is written to a temp file and renamed into place.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.store.workdir import atomic_path

FORMATS = ("csv", "jsonl", "parquet")
FLOAT_DECIMALS = 6


def _cell(value: object) -> object:
    if isinstance(value, float):
        return round(value, FLOAT_DECIMALS)
    return value


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{FLOAT_DECIMALS}f}"
    return str(value)


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow([_csv_cell(v) for v in row.values()])
    return buf.getvalue().encode("utf-8")


def jsonl_bytes(table: pa.Table) -> bytes:
    lines = [
        json.dumps({k: _cell(v) for k, v in row.items()}, ensure_ascii=False, separators=(",", ":"))
        for row in table.to_pylist()
    ]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes) -> Path:
    """Atomically write ``data`` with the usual file mode (0644 under umask 022)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o666 & ~_umask())
    return path


def write(table: pa.Table, path: Path, fmt: str) -> Path:
    """Write ``table`` to ``path`` in ``fmt`` (csv, jsonl or parquet) atomically."""
    if fmt == "csv":
        return write_bytes(path, csv_bytes(table))
    if fmt == "jsonl":
        return write_bytes(path, jsonl_bytes(table))
    if fmt == "parquet":
        buf = pa.BufferOutputStream()
        pq.write_table(table.replace_schema_metadata(None), buf, compression="zstd")
        return write_bytes(path, buf.getvalue().to_pybytes())
    raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS}")
