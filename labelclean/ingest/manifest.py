"""Read a dataset manifest (CSV, TSV, JSONL or Parquet) into discovery candidates.

Columns:

- the path column is the first present of ``path``, ``filepath``, ``file_path``, ``file``,
  ``filename``, ``image``, ``image_path``; the label column the first present of ``label``,
  ``class``, ``class_name``, ``target``. All other columns are carried through as extras
  (an empty CSV cell becomes null).
- Labels are text: numbers become their decimal string (3.0 -> "3"), spaces are trimmed,
  and an empty or null label means ``unlabeled``. Classes are the sorted unique labels,
  numerically when every label is an integer ("2" before "10"), else in string order
  (labels of missing or outside-root files count too);
  ``--classes`` fixes them instead, and labels it does not list become ``unlabeled``.

Paths: absolute paths are used as written (the manifest is the user's statement of where
the data is); their sample id is relative to the root when they lie inside it, else the
absolute path. Relative paths resolve against the manifest's folder (or an explicit root),
normalised lexically (``a/../b`` -> ``b``); one that then lies outside the root gets
``outside_root``, and one that is a symlink leading out of the root
``symlink_outside_root``, unless ``allow_outside_root`` (an outside sample's id is its
absolute path). Files not on disk get ``missing``.

Reading: CSV/TSV and JSONL are parsed with pyarrow's readers (every CSV cell as text);
when pyarrow refuses a file, the standard-library reader re-reads it to say where and why.
A ``.csv`` whose header only splits into path and label columns on ``;`` or TAB is read
with that delimiter. A list or object in the label column is an error (one label per
image). Listing the same file
twice is an error naming both rows. Row positions are reported as ``line N`` for CSV/JSONL
and ``row N`` (1-based) for Parquet.
"""

from __future__ import annotations

import csv
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Sequence

from labelclean.ingest.classes_file import default_prompt_name
from labelclean.ingest.types import DATA_HINT, Candidate, ClassInfo, Discovered, nfc, sort_unique
from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason

KINDS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
PATH_COLUMNS = ("path", "filepath", "file_path", "file", "filename", "image", "image_path")
LABEL_COLUMNS = ("label", "class", "class_name", "target")
JSONL_HINT = "write one JSON object per line"

Row = tuple[str, dict[str, Any]]  # (where, values), e.g. ("line 3", {...})


def discover_manifest(
    source: Path, named: list[tuple[str, str]] | None, *, root: Path | None, allow_outside_root: bool
) -> Discovered:
    kind = KINDS.get(source.suffix.lower())
    if kind is None:
        raise InputError(
            f"{source} is neither a folder nor a manifest (unknown extension {source.suffix!r})", DATA_HINT
        )
    rows, columns = _read_rows(source, kind)
    if not rows:
        raise InputError(f"the manifest {source} has no rows", "add one row per image with path and label columns")
    path_col, label_col = _pick_columns(columns, source)
    extra_columns = [c for c in columns if c not in (path_col, label_col)]
    root = Path(root).expanduser().resolve() if root is not None else source.parent
    seen: dict[str, str] = {}
    candidates: list[Candidate] = []
    paths = _Paths(root)
    for where, values in rows:
        c = _candidate(values, where, path_col, label_col, extra_columns, paths, allow_outside_root, source)
        if c.sample_id in seen:
            raise InputError(
                f"the manifest {source} lists {c.sample_id} twice ({seen[c.sample_id]} and {where})",
                "keep one row per file",
            )
        seen[c.sample_id] = where
        candidates.append(c)
    classes = _classes(candidates, named, source)
    return Discovered(root, source, kind, classes, sort_unique(candidates, root), extra_columns)


def _read_rows(source: Path, kind: str) -> tuple[Sequence[Row], list[str]]:
    try:
        if kind == "parquet":
            return _parquet_rows(source)
        delimiter = _sniff_delimiter(source)
        fast = _arrow_rows(source, kind, delimiter)
        if fast is not None:
            return fast
        with open(source, encoding="utf-8-sig", newline="") as f:  # slow path: exact error messages
            if kind == "csv":
                return _csv_rows(f, source, delimiter)
            return _jsonl_rows(f, source)
    except UnicodeDecodeError as e:
        raise InputError(f"the manifest {source} is not UTF-8 text", "save it as UTF-8") from e
    except OSError as e:
        hint = "check the path and permissions"
        raise InputError(f"cannot read the manifest {source}: {e.strerror or e}", hint) from e


def _sniff_delimiter(source: Path) -> str:
    """',' (or TAB for .tsv); ';' or TAB when only that split of the header names a path
    and a label column (spreadsheets in many locales save CSV with ';')."""
    default = "\t" if source.suffix.lower() == ".tsv" else ","
    if source.suffix.lower() not in (".csv", ".tsv"):
        return default
    with open(source, encoding="utf-8-sig", errors="replace", newline="") as f:
        header = f.readline()
    for delimiter in (default, ";", "\t", ","):
        names = {c.strip().strip('"') for c in header.rstrip("\r\n").split(delimiter)}
        if names & set(PATH_COLUMNS) and names & set(LABEL_COLUMNS):
            return delimiter
    return default


def _arrow_rows(source: Path, kind: str, delimiter: str) -> tuple[Sequence[Row], list[str]] | None:
    """Parse with pyarrow's multi-threaded readers; None when pyarrow refuses the file (the
    stdlib reader then says where and why)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson

    try:
        if kind == "csv":
            columns = _csv_header(source, delimiter)
            if not columns or len(set(columns)) != len(columns):
                return None
            table = pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(column_names=columns, skip_rows=1),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in columns}, null_values=[""], strings_can_be_null=True
                ),
            )
            first_line = 2
        else:
            table = pajson.read_json(source)
            if any(pa.types.is_temporal(t) for t in table.schema.types):
                return None  # pyarrow turns ISO date strings into timestamps: keep the text
            first_line = None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if first_line is None:  # JSONL: pyarrow skips blank lines, so row numbers need the stdlib path
        with open(source, "rb") as f:
            if any(not line.strip() for line in f):
                return None
        first_line = 1
    return _Columns(table, "line", first_line), table.column_names


def _csv_header(source: Path, delimiter: str) -> list[str]:
    with open(source, encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f, delimiter=delimiter), [])
    return [c.strip() for c in header]


def _csv_rows(f, source: Path, delimiter: str) -> tuple[list[Row], list[str]]:
    reader = csv.DictReader(f, delimiter=delimiter)
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        rows = []
        for values in reader:
            if None in values:
                raise InputError(
                    f"the manifest {source} has more fields than header columns on line {reader.line_num}",
                    "quote values that contain the delimiter",
                )
            rows.append((f"line {reader.line_num}", {k: (v if v != "" else None) for k, v in values.items()}))
    except csv.Error as e:
        raise InputError(f"the manifest {source} is not valid CSV (line {reader.line_num}): {e}", DATA_HINT) from e
    return rows, columns


def _jsonl_rows(f, source: Path) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    columns: dict[str, None] = {}
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"the manifest {source} has invalid JSON on line {n}: {e.msg}", JSONL_HINT) from e
        if not isinstance(values, dict):
            raise InputError(f"line {n} of the manifest {source} is not a JSON object", JSONL_HINT)
        columns.update(dict.fromkeys(values))
        rows.append((f"line {n}", values))
    return rows, list(columns)


def _parquet_rows(source: Path) -> tuple[Sequence[Row], list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"cannot read the Parquet manifest {source}: {e}", "check that it is a Parquet file") from e
    return _Columns(table, "row", 1), table.column_names


class _Columns:
    """The rows of a pyarrow table as (where, values) pairs, made one at a time (no list of
    a dict per row is ever held)."""

    def __init__(self, table, word: str, first: int):
        self.names = table.column_names
        self.cols = [table[c].to_pylist() for c in self.names]
        self.word, self.first, self.n = word, first, table.num_rows

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for n, values in enumerate(zip(*self.cols), self.first):
            yield f"{self.word} {n}", dict(zip(self.names, values))


def _pick_columns(columns: list[str], source: Path) -> tuple[str, str]:
    path_col = next((c for c in PATH_COLUMNS if c in columns), None)
    label_col = next((c for c in LABEL_COLUMNS if c in columns), None)
    if path_col is None or label_col is None:
        hint = (f"name them `path` and `label` (also accepted: {', '.join(PATH_COLUMNS[1:])}; "
                f"{', '.join(LABEL_COLUMNS[1:])})")
        joined = [d for d in (";", "\t", "|") if len(columns) == 1 and d in columns[0]]
        if joined:
            hint += f"; the header is one column holding {joined[0]!r}: separate columns with ',' (or TAB in a .tsv)"
        raise InputError(
            f"the manifest {source} needs a path and a label column; it has: {', '.join(columns) or 'none'}", hint
        )
    return path_col, label_col


class _Paths:
    """Resolves manifest paths against the root with string operations and one ``lstat`` per
    row (real paths of parent folders are cached; only symlinks cost a ``realpath``)."""

    def __init__(self, root: Path):
        self.root = str(root)
        self.prefix = self.root.rstrip(os.sep) + os.sep
        self.real_root = os.path.realpath(self.root)
        self.real_prefix = self.real_root.rstrip(os.sep) + os.sep
        self._real_dirs: dict[str, str] = {}

    def inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.prefix)

    def really_inside(self, full: str, is_link: bool) -> bool:
        if is_link:
            real = os.path.realpath(full)
        else:
            parent, name = os.path.split(full)
            if parent not in self._real_dirs:
                self._real_dirs[parent] = os.path.realpath(parent)
            real = os.path.join(self._real_dirs[parent], name)
        return real == self.real_root or real.startswith(self.real_prefix)


def _candidate(values, where, path_col, label_col, extra_columns, paths: _Paths, allow_outside_root, source):
    raw = values.get(path_col)
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(
            f"the manifest {source} has no path on {where} (found {raw!r})",
            f"fill the `{path_col}` column with a file path on every row",
        )
    raw = os.path.expanduser(raw) if raw.startswith("~") else raw
    absolute = os.path.isabs(raw)
    full = os.path.normpath(raw if absolute else os.path.join(paths.root, raw))
    label = _label(values.get(label_col), where, label_col, source)
    extras = {c: values.get(c) for c in extra_columns}
    escapes = not paths.inside(full)
    sample_id = nfc(full if escapes else full[len(paths.prefix):]).replace(os.sep, "/")
    path = Path(full)
    if escapes and not absolute and not allow_outside_root:
        detail = f"{where} points outside the data root {paths.root} (pass --allow-outside-root to use it)"
        return Candidate(sample_id, path, label, extras, Reason.outside_root, detail)
    try:
        is_link = stat.S_ISLNK(os.lstat(full).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return Candidate(sample_id, path, label, extras, Reason.missing, f"listed on {where} but not on disk")
    except OSError:  # e.g. permission denied on a parent: decoding records it as unreadable
        is_link = False
    if not escapes and not allow_outside_root and not paths.really_inside(full, is_link):
        detail = f"{where} is a symlink to {os.path.realpath(full)}, outside the data root {paths.root} " \
                 "(pass --allow-outside-root to use it)"
        return Candidate(sample_id, path, label, extras, Reason.symlink_outside_root, detail)
    if label is None:
        return Candidate(sample_id, path, None, extras, Reason.unlabeled, f"no label on {where}")
    return Candidate(sample_id, path, label, extras)


def _label(value: Any, where: str, column: str, source: Path) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, tuple, dict, bytes)):
        raise InputError(
            f"the manifest {source} has a {type(value).__name__} in the `{column}` column on {where} ({value!r})",
            "store one class name per row (labelclean takes one label per image)",
        )
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = nfc(str(value).strip())
    return text or None


def _classes(candidates: list[Candidate], named: list[tuple[str, str]] | None, source: Path) -> list[ClassInfo]:
    if named is not None:
        listed = {n for n, _ in named}
        for c in candidates:
            if c.status is None and c.label is not None and c.label not in listed:
                c.status, c.detail = Reason.unlabeled, f"label {c.label!r} is not in the --classes file"
        return [ClassInfo(i, n, p) for i, (n, p) in enumerate(named)]
    labels = {c.label for c in candidates if c.label is not None}
    if not labels:
        raise InputError(f"the manifest {source} has no labelled rows", "fill the label column")
    numeric = all(_is_int(x) for x in labels)
    names = sorted(labels, key=lambda x: (int(x), x)) if numeric else sorted(labels)
    return [ClassInfo(i, n, default_prompt_name(n)) for i, n in enumerate(names)]


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()
