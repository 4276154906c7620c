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

Reading: CSV/TSV and JSONL are parsed with pyarrow's readers (every CSV cell as text) and
turned into candidates one batch of rows at a time (`labelclean.ingest.table`: extra
columns stay Arrow arrays, no Python object per row is kept), so memory does not grow with
the file beyond the candidate table: CSV is streamed block by block, Parquet by record
batch, and JSONL in pieces of about `JSONL_BLOCK_BYTES` ending at a newline, each parsed on
its own (`_jsonl_parts`; types are inferred per piece, as the standard library's chunks
are, so a label that is 3 in one piece and "cat" in another, or a column that first
appears late, is read like any other). A JSONL file is read twice: first for its columns
(and its JSON errors, which are reported before any row's), then for its rows. When
pyarrow refuses a CSV file or a JSONL piece (or a piece has blank lines, which pyarrow
skips, or ISO dates, which it would turn into timestamps), the standard-library reader
re-reads it to say where and why, or to read it as Python values.
A ``.csv`` whose header only splits into path and label columns on ``;`` or TAB is read
with that delimiter. A list or object in the label column is an error (one label per
image). Listing the same file
twice is an error naming both rows. Row positions are reported as ``line N`` for CSV/JSONL
and ``row N`` (1-based) for Parquet.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Iterator

from labelclean.ingest.classes_file import default_prompt_name
from labelclean.ingest import table as candidate_table
from labelclean.ingest.table import CandidateBuilder, extra_array
from labelclean.ingest.types import DATA_HINT, ClassInfo, Discovered, nfc
from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason

KINDS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
PATH_COLUMNS = ("path", "filepath", "file_path", "file", "filename", "image", "image_path")
LABEL_COLUMNS = ("label", "class", "class_name", "target")
JSONL_HINT = "write one JSON object per line"
JSONL_BLOCK_BYTES = 1 << 22  # JSONL is parsed in pieces of about this size (tests set it tiny)

Row = tuple[str, dict[str, Any]]  # (where, values), e.g. ("line 3", {...})


def discover_manifest(
    source: Path, named: list[tuple[str, str]] | None, *, root: Path | None, allow_outside_root: bool
) -> Discovered:
    kind = KINDS.get(source.suffix.lower())
    if kind is None:
        raise InputError(
            f"{source} is neither a folder nor a manifest (unknown extension {source.suffix!r})", DATA_HINT
        )
    root = Path(root).expanduser().resolve() if root is not None else source.parent
    reader = _Reader(source, root, named, allow_outside_root, candidate_table.CHUNK_ROWS)
    try:
        rows, extra_columns, word = reader.read(kind)
    except UnicodeDecodeError as e:
        raise InputError(f"the manifest {source} is not UTF-8 text", "save it as UTF-8") from e
    except OSError as e:
        hint = "check the path and permissions"
        raise InputError(f"cannot read the manifest {source}: {e.strerror or e}", hint) from e

    def twice(a: dict, b: dict) -> InputError:
        return InputError(
            f"the manifest {source} lists {a['sample_id']} twice ({word} {a['where']} and {word} {b['where']})",
            "keep one row per file",
        )

    candidates = rows.finish(twice)
    classes = _classes_of(candidates.labels(), named, source)
    return Discovered(root, source, kind, classes, candidates, extra_columns)


class _Refused(Exception):
    """pyarrow cannot parse the file: the standard-library reader re-reads it."""


class _Reader:
    """Reads a manifest batch by batch into a `CandidateBuilder`: pyarrow's readers first
    (CSV streamed block by block, JSONL piece by piece, Parquet by record batch), the
    standard library when pyarrow refuses the file or a JSONL piece (it says where and why)."""

    def __init__(self, source: Path, root: Path, named, allow_outside_root: bool, chunk_rows: int):
        self.source, self.named, self.allow, self.chunk_rows = source, named, allow_outside_root, chunk_rows
        self.listed = {n for n, _ in named} if named is not None else None
        self.paths = _Paths(root)
        self.root = root

    def read(self, kind: str) -> tuple[CandidateBuilder, list[str], str]:
        if kind == "parquet":
            columns, batches = _parquet_batches(self.source, self.chunk_rows)
            return self._arrow(columns, batches, "row", 1)
        if kind == "jsonl":
            return self._jsonl()
        delimiter = _sniff_delimiter(self.source)
        try:
            opened = _arrow_batches(self.source, delimiter, self.chunk_rows)
            if opened is not None:
                return self._arrow(*opened)
        except _Refused:
            pass
        with open(self.source, encoding="utf-8-sig", newline="") as f:  # slow path: exact error messages
            rows, columns = _csv_rows(f, self.source, delimiter)
        return self._python(rows, columns)

    def _start(self, columns: list[str]) -> tuple[str, str, list[str], CandidateBuilder]:
        self.path_col, self.label_col = path_col, label_col = _pick_columns(columns, self.source)
        extra = [c for c in columns if c not in (path_col, label_col)]
        return path_col, label_col, extra, CandidateBuilder(self.root, extra, self.chunk_rows)

    def _arrow(self, columns: list[str], batches, word: str, first: int) -> tuple[CandidateBuilder, list[str], str]:
        import pyarrow as pa

        started = None
        n = first
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if started is None:
                    started = self._start(columns)
                path_col, label_col, extra, rows = started
                where = range(n, n + batch.num_rows)
                self._add(rows, batch.column(path_col).to_pylist(), batch.column(label_col).to_pylist(),
                          where, word, {c: batch.column(c) for c in extra})
                n += batch.num_rows
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            if word == "row":  # Parquet has no second reader
                raise InputError(f"cannot read the Parquet manifest {self.source}: {e}",
                                 "check that it is a Parquet file") from e
            raise _Refused() from e
        if started is None:
            raise _no_rows(self.source)
        return started[3], started[2], word

    def _python(self, rows: list[Row], columns: list[str]) -> tuple[CandidateBuilder, list[str], str]:
        if not rows:
            raise _no_rows(self.source)
        started = self._start(columns)
        self._add_rows(started, rows)
        return started[3], started[2], "line"

    def _add_rows(self, started, rows: list[Row]) -> None:
        """Standard-library rows (``("line N", values)``), ``chunk_rows`` at a time."""
        path_col, label_col, extra, builder = started
        for k in range(0, len(rows), self.chunk_rows):
            chunk = rows[k:k + self.chunk_rows]
            where = [int(w.split()[1]) for w, _ in chunk]
            extras = {c: extra_array([v.get(c) for _, v in chunk]) for c in extra}
            self._add(builder, [v.get(path_col) for _, v in chunk], [v.get(label_col) for _, v in chunk],
                      where, "line", extras)

    def _jsonl(self) -> tuple[CandidateBuilder, list[str], str]:
        """JSONL in two passes over `_jsonl_parts`: every column (and every JSON error) first,
        then the rows, one piece at a time; a column a piece lacks is null there."""
        import pyarrow as pa

        columns: dict[str, None] = {}
        n = 0
        for _, part in _jsonl_parts(self.source):
            if isinstance(part, list):
                for _, values in part:
                    columns.update(dict.fromkeys(values))
            else:
                columns.update(dict.fromkeys(part.column_names))
            n += len(part) if isinstance(part, list) else part.num_rows
        if n == 0:
            raise _no_rows(self.source)
        started = self._start(list(columns))
        path_col, label_col, extra, builder = started
        for first, part in _jsonl_parts(self.source):
            if isinstance(part, list):
                self._add_rows(started, part)
                continue
            for batch in _rebatched(part.to_batches(), self.chunk_rows):
                names = set(batch.schema.names)

                def col(c: str) -> pa.Array:
                    return batch.column(c) if c in names else pa.nulls(batch.num_rows)

                self._add(builder, col(path_col).to_pylist(), col(label_col).to_pylist(),
                          range(first, first + batch.num_rows), "line", {c: col(c) for c in extra})
                first += batch.num_rows
        return builder, extra, "line"

    def _add(self, rows: CandidateBuilder, paths: list, labels: list, where, word: str, extras: dict) -> None:
        out: dict[str, list] = {n: [] for n in ("sample_id", "path", "label", "status", "detail")}
        for raw, value, n in zip(paths, labels, where):
            here = f"{word} {n}"
            sid, full, label, status, detail = _candidate(raw, value, here, self.path_col, self.label_col,
                                                          self.paths, self.allow, self.source)
            if status is None and label is not None and self.listed is not None and label not in self.listed:
                status, detail = Reason.unlabeled, unlisted_detail(label)
            for key, v in zip(out, (sid, full, label, status, detail)):
                out[key].append(v)
        out["where"] = list(where)
        rows.add_columns(out, extras)


def _read_rows(source: Path, kind: str) -> tuple[list[Row], list[str]]:
    """Every row as (where, values) and the column names, read as `discover_manifest` reads
    (for a small side file such as evaluate's ``--truth``: this holds a dict per row)."""
    import pyarrow as pa

    try:
        if kind == "parquet":
            columns, batches = _parquet_batches(source, candidate_table.CHUNK_ROWS)
            return _dict_rows(columns, batches, "row", 1), columns
        if kind == "jsonl":
            return _jsonl_dict_rows(source)
        delimiter = _sniff_delimiter(source)
        try:
            opened = _arrow_batches(source, delimiter, candidate_table.CHUNK_ROWS)
            if opened is not None:
                return _dict_rows(*opened), opened[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        with open(source, encoding="utf-8-sig", newline="") as f:
            return _csv_rows(f, source, delimiter)
    except UnicodeDecodeError as e:
        raise InputError(f"the manifest {source} is not UTF-8 text", "save it as UTF-8") from e
    except OSError as e:
        raise InputError(f"cannot read the manifest {source}: {e.strerror or e}", "check the path and permissions") from e


def _dict_rows(columns: list[str], batches, word: str, first: int) -> list[Row]:
    rows: list[Row] = []
    for batch in batches:
        for values in batch.to_pylist():
            rows.append((f"{word} {first + len(rows)}", values))
    return rows


def _jsonl_dict_rows(source: Path) -> tuple[list[Row], list[str]]:
    """Every row of a JSONL file as ("line N", values), with its columns in order of appearance."""
    rows: list[Row] = []
    columns: dict[str, None] = {}
    for first, part in _jsonl_parts(source):
        if not isinstance(part, list):
            part = [(f"line {first + k}", values) for k, values in enumerate(part.to_pylist())]
        for _, values in part:
            columns.update(dict.fromkeys(values))
        rows.extend(part)
    return rows, list(columns)


def _no_rows(source: Path) -> InputError:
    return InputError(f"the manifest {source} has no rows", "add one row per image with path and label columns")


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


def _arrow_batches(source: Path, delimiter: str, chunk_rows: int):
    """(columns, record batches, word, first row number) of a CSV file from pyarrow's streaming
    reader; None when pyarrow refuses the file up front (a refusal while streaming raises
    `_Refused`)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        columns = _csv_header(source, delimiter)
        if not columns or len(set(columns)) != len(columns):
            return None
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(column_names=columns, skip_rows=1, block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns}, null_values=[""], strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return columns, _rebatched(reader, chunk_rows), "line", 2


def _jsonl_pieces(source: Path) -> Iterator[tuple[int, bytes]]:
    """(number of its first line, bytes) of consecutive pieces of a JSONL file, each about
    `JSONL_BLOCK_BYTES` long and ending at a newline (the last one may not); a leading
    UTF-8 byte-order mark is dropped. Lines are counted as the standard library's reader
    counts them (``\\n``, ``\\r\\n`` or a lone ``\\r`` ends one)."""
    line, rest, start = 1, b"", True
    with open(source, "rb") as f:
        while True:
            data = f.read(JSONL_BLOCK_BYTES)
            if start:
                data, start = data.removeprefix(b"\xef\xbb\xbf"), False
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:  # one line longer than a block: read on
                rest = data
                continue
            piece, rest = data[:cut], data[cut:]
            yield line, piece
            line += _line_count(piece)
    if rest:
        yield line, rest


def _line_count(piece: bytes) -> int:
    """Lines the standard library's reader sees in ``piece`` (a last unterminated one included)."""
    n = piece.count(b"\n") + piece.count(b"\r") - piece.count(b"\r\n")
    return n + (not piece.endswith((b"\n", b"\r")))


def _jsonl_parts(source: Path) -> Iterator[tuple[int, Any]]:
    """(first line number, rows) for each piece of a JSONL file (`_jsonl_pieces`): an Arrow
    table with one row per line when pyarrow parses the piece on its own, has a row for
    every line (it skips blank ones) and makes no timestamp of an ISO date string; else the
    standard library's ``("line N", values)`` rows, which raise an `InputError` naming the
    line and why when a line is not a JSON object."""
    import pyarrow as pa
    import pyarrow.json as pajson

    for first, piece in _jsonl_pieces(source):
        table = None
        if piece.count(b"\r") == piece.count(b"\r\n"):  # a lone CR ends a line for Python, not for pyarrow
            try:
                table = pajson.read_json(io.BytesIO(piece), read_options=pajson.ReadOptions(
                    block_size=len(piece) + 1, use_threads=False))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                table = None
        if table is not None and table.num_rows == _line_count(piece) \
                and not any(pa.types.is_temporal(t) for t in table.schema.types):
            yield first, table
        else:
            yield first, _jsonl_rows(io.StringIO(piece.decode("utf-8"), newline=""), source, first)[0]


def _rebatched(batches, chunk_rows: int):
    """Record batches of at most ``chunk_rows`` rows."""
    for batch in batches:
        for k in range(0, batch.num_rows, chunk_rows):
            yield batch.slice(k, chunk_rows)


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


def _jsonl_rows(f, source: Path, first: int = 1) -> tuple[list[Row], list[str]]:
    """The standard library's reading of JSONL lines (numbered from ``first``): ("line N",
    values) per non-blank line and the columns in order of appearance."""
    rows: list[Row] = []
    columns: dict[str, None] = {}
    for n, line in enumerate(f, first):
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


def _parquet_batches(source: Path, chunk_rows: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source, pre_buffer=False)  # pre-buffering keeps every row group read until close
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"cannot read the Parquet manifest {source}: {e}", "check that it is a Parquet file") from e
    return pf.schema_arrow.names, pf.iter_batches(batch_size=chunk_rows)


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


def _candidate(raw, value, where, path_col, label_col, paths: _Paths, allow_outside_root, source):
    """(sample_id, absolute path, label, status, detail) of one manifest row."""
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(
            f"the manifest {source} has no path on {where} (found {raw!r})",
            f"fill the `{path_col}` column with a file path on every row",
        )
    raw = os.path.expanduser(raw) if raw.startswith("~") else raw
    absolute = os.path.isabs(raw)
    full = os.path.normpath(raw if absolute else os.path.join(paths.root, raw))
    label = _label(value, where, label_col, source)
    escapes = not paths.inside(full)
    sample_id = nfc(full if escapes else full[len(paths.prefix):]).replace(os.sep, "/")
    if escapes and not absolute and not allow_outside_root:
        detail = f"{where} points outside the data root {paths.root} (pass --allow-outside-root to use it)"
        return sample_id, full, label, Reason.outside_root, detail
    try:
        is_link = stat.S_ISLNK(os.lstat(full).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return sample_id, full, label, Reason.missing, f"listed on {where} but not on disk"
    except OSError:  # e.g. permission denied on a parent: decoding records it as unreadable
        is_link = False
    if not escapes and not allow_outside_root and not paths.really_inside(full, is_link):
        detail = f"{where} is a symlink to {os.path.realpath(full)}, outside the data root {paths.root} " \
                 "(pass --allow-outside-root to use it)"
        return sample_id, full, label, Reason.symlink_outside_root, detail
    if label is None:
        return sample_id, full, None, Reason.unlabeled, f"no label on {where}"
    return sample_id, full, label, None, ""


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


def unlisted_detail(label: str) -> str:
    """The detail of a sample whose label the --classes file does not list (it is ``unlabeled``)."""
    return f"label {label!r} is not in the --classes file"


def classes_of_table(candidates, named: list[tuple[str, str]] | None, source: Path) -> list[ClassInfo]:
    """Classes of a `CandidateTable` (tar and Parquet image containers): ``named``, else its
    labels sorted (labels ``named`` does not list were made ``unlabeled`` when added)."""
    return _classes_of(candidates.labels(), named, source)


def _classes_of(labels: set[str], named: list[tuple[str, str]] | None, source: Path) -> list[ClassInfo]:
    """``named`` as classes, else the labels sorted (numerically when all are integers)."""
    if named is not None:
        return [ClassInfo(i, n, p) for i, (n, p) in enumerate(named)]
    if not labels:
        raise InputError(f"the manifest {source} has no labelled rows", "fill the label column")
    numeric = all(_is_int(x) for x in labels)
    names = sorted(labels, key=lambda x: (int(x), x)) if numeric else sorted(labels)
    return [ClassInfo(i, n, default_prompt_name(n)) for i, n in enumerate(names)]


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()
