"""Discover WebDataset tar shards: ``{key}.jpg|jpeg|png|webp`` with a label member.

DATA is one ``.tar`` file or a folder holding ``.tar`` files (any depth, sorted). Only the
tar headers are read (plus each key's small label member), never the images: each image
becomes a `Candidate` with ``member = "tar:OFFSET:SIZE"`` (see `labelclean.ingest.members`)
and ``sample_id = "<tar path relative to the data root>/<key>"``.

The label comes from ``label_field``: ``cls`` (``{key}.cls``, text), ``txt``
(``{key}.txt``), ``json:FIELD`` (a field of ``{key}.json``), or ``auto`` (default: the first
of cls, txt, json's ``label`` that the key has). Per key, problems get reason codes like
files do: no image member -> ``not_image``; no label -> ``unlabeled``; a key with several
image members uses the first in the order jpg, jpeg, png, webp and lists the others in
``detail``. A tar that cannot be read becomes one ``unreadable`` row, one whose end is cut
off keeps the members before the damage and gets one ``truncated`` row.
Compressed tars (``.tar.gz``) are not supported: members need byte offsets.

Listing streams: tar headers are read one at a time and not kept (``TarFile`` would keep a
``TarInfo`` per member), the members of a key are held only until the next key starts
(WebDataset writes a key's files one after another), and rows go into a
`CandidateBuilder`, so memory per member is that of the candidate table. A tar whose keys
are not consecutive (a key turning up again later) is listed a second time, gathering
every key's members first.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Iterator

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.table import CandidateBuilder, same_name_error
from labelclean.ingest.types import Discovered, nfc

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
LABEL_HINT = "use --label-field cls, txt or json:FIELD"


def tar_files(data: Path) -> list[Path]:
    """The .tar files of a folder (recursively, sorted), or [data] for one .tar file."""
    if data.is_file():
        return [data]
    return sorted(p for p in data.rglob("*.tar") if p.is_file() and not p.name.startswith("."))


def is_webdataset(data: Path) -> bool:
    """A .tar file, or a folder with .tar files and no class sub-folders beside them."""
    if data.is_file():
        return data.suffix.lower() == ".tar"
    if not data.is_dir():
        return False
    entries = [e for e in os.scandir(data) if not e.name.startswith(".")]
    tars = [e for e in entries if e.is_file() and e.name.lower().endswith(".tar")]
    return bool(tars) and not any(e.is_dir() for e in entries)


def discover_webdataset(data: Path, named: list[tuple[str, str]] | None, label_field: str = "auto") -> Discovered:
    from labelclean.ingest.manifest import classes_of_table, unlisted_detail

    field = _check_field(label_field)
    root = data.parent if data.is_file() else data
    listed = {n for n, _ in named} if named is not None else None
    rows = CandidateBuilder(root)
    for tar in tar_files(data):
        part = _tar_rows(tar, root, field, listed, unlisted_detail, consecutive=True)
        if part.has_repeats():  # a key's members are not next to each other: gather each key over the whole tar
            part = _tar_rows(tar, root, field, listed, unlisted_detail, consecutive=False)
        rows.extend(part)
    if not rows.rows:
        raise InputError(f"{data} holds no tar members", "pass WebDataset .tar shards with {key}.jpg and {key}.cls members")
    table = rows.finish(lambda a, b: same_name_error(root, a["path"], b["path"]))
    return Discovered(root, data, "webdataset", classes_of_table(table, named, data), table, [])


def _check_field(label_field: str) -> str:
    field = (label_field or "auto").strip()
    if field in ("auto", "cls", "txt") or (field.startswith("json:") and len(field) > 5):
        return field
    raise InputError(f"--label-field {label_field} is not cls, txt, json:FIELD or auto", LABEL_HINT)


def _tar_rows(tar: Path, root: Path, field: str, listed: set[str] | None, unlisted, *,
              consecutive: bool) -> CandidateBuilder:
    """The rows of one tar. ``consecutive``: a key's members end when another key starts
    (else every key is gathered over the whole tar first). ``listed``: the --classes names."""
    rel = nfc(tar.relative_to(root).as_posix())
    rows = CandidateBuilder(root)
    try:
        with open(tar, "rb") as f, tarfile.open(fileobj=f, mode="r:") as tf:

            def read(span: tuple[int, int]) -> bytes:
                f.seek(span[0])
                return f.read(span[1])

            def emit(key: str, members: dict[str, tuple[int, int]]) -> None:
                sample_id, label, status, detail, member = _row(f"{rel}/{nfc(key)}", members, read, field)
                if status is None and listed is not None and label not in listed:
                    status, detail = Reason.unlabeled, unlisted(label)
                rows.add(sample_id, str(tar), label, status, detail, member)

            size = os.fstat(f.fileno()).st_size
            end = emitted = 0
            keys: dict[str, dict[str, tuple[int, int]]] = {}  # key -> extension -> (data offset, size)
            try:
                for info in _headers(tf):
                    if info.offset_data + info.size > size:
                        raise EOFError(f"{info.name} ends after the end of the file")
                    end = info.offset_data + -(-info.size // 512) * 512
                    if info.isfile():
                        key, ext = _split(info.name)
                        if consecutive and keys and key not in keys:
                            (done, members), = keys.items()
                            emitted += len(members)
                            emit(done, members)
                            keys.clear()
                        keys.setdefault(key, {})[ext] = (info.offset_data, info.size)
                if end and size < end + 1024:
                    raise EOFError("no end-of-archive marker")
            except (tarfile.ReadError, EOFError, OSError) as e:
                seen = emitted + sum(map(len, keys.values()))
                rows.add(rel + "/", str(tar), None, Reason.truncated,
                         f"the tar is damaged or cut short after {seen} members: {e}")
            for key, members in keys.items():
                emit(key, members)
    except (tarfile.ReadError, OSError) as e:
        rows = CandidateBuilder(root)
        rows.add(rel + "/", str(tar), None, Reason.unreadable, f"cannot read the tar: {e}")
    return rows


def _headers(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The tar's members in order, without the list of all of them TarFile would keep."""
    while (info := tf.next()) is not None:
        tf.members.clear()
        yield info


def _split(name: str) -> tuple[str, str]:
    """WebDataset's key/extension split: the extension starts at the first dot of the basename."""
    head, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{head}/{stem}" if head else stem), ext.lower()


def _row(sample_id: str, members: dict[str, tuple[int, int]], read, field: str):
    """(sample_id, label, status, detail, member locator) of one key."""
    images = [e for e in IMAGE_EXTS if e in members]
    label, problem = _label(members, read, field)
    if not images:
        found = ", ".join(sorted(members)) or "nothing"
        return sample_id, label, Reason.not_image, f"no .jpg/.jpeg/.png/.webp member for this key (found: {found})", None
    offset, size = members[images[0]]
    member = f"tar:{offset}:{size}"
    detail = f"also has {', '.join(images[1:])} members (used .{images[0]})" if len(images) > 1 else ""
    if label is None:
        return sample_id, None, Reason.unlabeled, problem, member
    return sample_id, label, None, detail, member


def _label(members: dict, read, field: str) -> tuple[str | None, str]:
    order = ["cls", "txt", "json:label"] if field == "auto" else [field]
    for f in order:
        ext, _, name = f.partition(":")
        if ext not in members:
            continue
        raw = read(members[ext])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, f"the .{ext} member is not UTF-8 text"
        if name:
            try:
                value = json.loads(text).get(name)
            except (json.JSONDecodeError, AttributeError):
                return None, "the .json member is not a JSON object"
            if value is None:
                return None, f"the .json member has no {name!r} field"
            text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        label = nfc(text.strip())
        return (label or None), ("" if label else f"the .{ext} member is empty")
    wanted = ".cls, .txt or .json" if field == "auto" else f".{field.partition(':')[0]}"
    return None, f"no label: the key has no {wanted} member"
