"""Discover Parquet files that hold the images themselves (img2dataset, Hugging Face datasets).

DATA is one ``.parquet`` file with an image column, or a folder of such files (any depth,
sorted, no class sub-folders). The image column is the first binary column named ``jpg``,
``jpeg``, ``png``, ``webp``, ``image``, ``img`` or ``bytes``, or a struct column with a binary
``bytes`` field (Hugging Face's ``Image`` feature). Discovery reads only the other columns,
one row group at a time; each row becomes a `Candidate` with ``member =
"pq:ROW_GROUP:ROW:COLUMN"`` and ``sample_id = "<file relative to the data root>/<key>"``, the
key being the ``key`` column (img2dataset) or the row number, zero-padded.

Label: ``label_field`` names the column (``auto``: the first of label, class, cls, target).
Integer labels with Hugging Face ``ClassLabel`` names in the file's metadata become those
names. Other scalar columns (e.g. ``caption``, ``url``) are carried through as extras. A
null image cell gets ``empty``, an undecodable one its decode reason, a missing label
``unlabeled``.

Listing streams: every file's schema is read first (for the extra columns), then each
file one row group of its non-image columns at a time, its rows going into a
`CandidateBuilder` (no Python object per row outlives its chunk).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.table import CandidateBuilder, same_name_error
from labelclean.ingest.types import Discovered, nfc

IMAGE_COLUMNS = ("jpg", "jpeg", "png", "webp", "image", "img", "bytes")
LABEL_COLUMNS = ("label", "class", "cls", "target")


def image_column(schema: pa.Schema) -> str | None:
    for name in IMAGE_COLUMNS:
        if name not in schema.names:
            continue
        t = schema.field(name).type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return name
        if pa.types.is_struct(t) and any(t.field(i).name == "bytes" for i in range(t.num_fields)):
            return name
    return None


def _has_images(path: Path) -> bool:
    try:
        return image_column(pq.read_schema(path)) is not None
    except (pa.ArrowException, OSError):
        return False


def parquet_files(data: Path) -> list[Path]:
    if data.is_file():
        return [data]
    return sorted(p for p in data.rglob("*.parquet") if p.is_file() and not p.name.startswith("."))


def is_parquet_images(data: Path) -> bool:
    """A .parquet file with an image column, or a folder of them without sub-folders."""
    if data.is_file():
        return data.suffix.lower() in (".parquet", ".pq") and _has_images(data)
    if not data.is_dir() or any(p.is_dir() and not p.name.startswith(".") for p in data.iterdir()):
        return False
    files = parquet_files(data)
    return bool(files) and _has_images(files[0])


def discover_parquet_images(data: Path, named: list[tuple[str, str]] | None, label_field: str = "auto") -> Discovered:
    from labelclean.ingest.manifest import classes_of_table, unlisted_detail

    root = data.parent if data.is_file() else data
    files = parquet_files(data)
    extras: dict[str, None] = {}
    for path in files:  # the extra columns of every file, in order, before any row
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError):
            continue  # an unreadable row, below
        image = image_column(schema)
        if image is not None:
            extras.update(dict.fromkeys(_extra_columns(schema, image, _label_column(schema, label_field, path))))
    listed = {n for n, _ in named} if named is not None else None
    rows = CandidateBuilder(root, list(extras))
    for path in files:
        _file_rows(path, root, label_field, rows, listed, unlisted_detail)
    if not rows.rows:
        raise InputError(f"{data} holds no image rows", "pass Parquet files with a binary jpg/png/image column")
    table = rows.finish(lambda a, b: same_name_error(root, a["path"], b["path"]))
    return Discovered(root, data, "parquet-images", classes_of_table(table, named, data), table, list(extras))


def _extra_columns(schema: pa.Schema, image: str, label: str | None) -> list[str]:
    """Scalar columns other than the image, the label and ``key``: carried through as extras."""
    return [f.name for f in schema if f.name not in (image, label, "key") and _scalar(f.type)]


def _file_rows(path: Path, root: Path, label_field: str, rows: CandidateBuilder, listed: set[str] | None,
               unlisted) -> None:
    """Add one file's rows (one row group of its non-image columns at a time)."""
    rel = nfc(path.relative_to(root).as_posix())
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        rows.add(rel + "/", str(path), None, Reason.unreadable, f"cannot read the Parquet file: {e}")
        return
    schema = pf.schema_arrow
    image = image_column(schema)
    if image is None:
        rows.add(rel + "/", str(path), None, Reason.not_image, "no jpg/png/image bytes column")
        return
    label = _label_column(schema, label_field, path)
    names = _class_label_names(schema, label)
    extra = _extra_columns(schema, image, label)
    wanted = [c for c in (label, "key", *extra) if c and c in schema.names]
    width = len(str(max(pf.metadata.num_rows - 1, 0)))
    start = 0
    for group in range(pf.metadata.num_row_groups):
        table = pf.read_row_group(group, columns=wanted)
        values = table.to_pydict()
        for row in range(table.num_rows):
            key = values["key"][row] if "key" in values and values["key"][row] not in (None, "") else None
            sample_id = f"{rel}/{nfc(str(key)) if key is not None else str(start + row).zfill(width)}"
            lab = _text(values[label][row], names) if label else None
            ex = {c: values[c][row] for c in extra}
            member = f"pq:{group}:{row}:{image}"
            if lab is None:
                detail = f"no label in column {label!r}" if label else "no label column"
                rows.add(sample_id, str(path), None, Reason.unlabeled, detail, member, ex)
            elif listed is not None and lab not in listed:
                rows.add(sample_id, str(path), lab, Reason.unlabeled, unlisted(lab), member, ex)
            else:
                rows.add(sample_id, str(path), lab, None, "", member, ex)
        start += table.num_rows


def _label_column(schema: pa.Schema, label_field: str, path: Path) -> str | None:
    field = (label_field or "auto").strip()
    if field == "auto":
        return next((c for c in LABEL_COLUMNS if c in schema.names), None)
    if field not in schema.names:
        raise InputError(f"--label-field {field}: {path} has no such column", f"its columns: {', '.join(schema.names)}")
    return field


def _class_label_names(schema: pa.Schema, label: str | None) -> list[str] | None:
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw or not label:
        return None
    try:
        feature = json.loads(raw)["info"]["features"][label]
    except (KeyError, TypeError, json.JSONDecodeError):
        return None
    names = feature.get("names") if isinstance(feature, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else None


def _text(value: Any, names: list[str] | None) -> str | None:
    if value is None:
        return None
    if names is not None and isinstance(value, int) and 0 <= value < len(names):
        return nfc(names[value])
    text = nfc(str(value).strip())
    return text or None


def _scalar(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t) or pa.types.is_boolean(t)
