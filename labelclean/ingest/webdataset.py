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
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.table import sort_unique
from labelclean.ingest.types import Candidate, Discovered, nfc

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
    from labelclean.ingest.manifest import _classes

    field = _check_field(label_field)
    root = data.parent if data.is_file() else data
    candidates: list[Candidate] = []
    for tar in tar_files(data):
        candidates.extend(_tar_candidates(tar, root, field))
    if not candidates:
        raise InputError(f"{data} holds no tar members", "pass WebDataset .tar shards with {key}.jpg and {key}.cls members")
    classes = _classes(candidates, named, data)
    return Discovered(root, data, "webdataset", classes, sort_unique(candidates, root), [])


def _check_field(label_field: str) -> str:
    field = (label_field or "auto").strip()
    if field in ("auto", "cls", "txt") or (field.startswith("json:") and len(field) > 5):
        return field
    raise InputError(f"--label-field {label_field} is not cls, txt, json:FIELD or auto", LABEL_HINT)


def _tar_candidates(tar: Path, root: Path, field: str) -> list[Candidate]:
    rel = nfc(tar.relative_to(root).as_posix())
    keys: dict[str, dict[str, tarfile.TarInfo]] = {}
    out: list[Candidate] = []
    try:
        with open(tar, "rb") as f, tarfile.open(fileobj=f, mode="r:") as tf:
            size = os.fstat(f.fileno()).st_size
            end = 0
            try:
                for info in tf:
                    if info.offset_data + info.size > size:
                        raise EOFError(f"{info.name} ends after the end of the file")
                    end = info.offset_data + -(-info.size // 512) * 512
                    if info.isfile():
                        key, ext = _split(info.name)
                        keys.setdefault(key, {})[ext] = info
                if end and size < end + 1024:
                    raise EOFError("no end-of-archive marker")
            except (tarfile.ReadError, EOFError, OSError) as e:
                out.append(Candidate(rel + "/", tar, None, {}, Reason.truncated, f"the tar is damaged or cut short "
                                     f"after {sum(map(len, keys.values()))} members: {e}"))
            for key, members in keys.items():
                out.append(_candidate(f"{rel}/{nfc(key)}", tar, members, tf, field))
    except (tarfile.ReadError, OSError) as e:
        return [Candidate(rel + "/", tar, None, {}, Reason.unreadable, f"cannot read the tar: {e}")]
    return out


def _split(name: str) -> tuple[str, str]:
    """WebDataset's key/extension split: the extension starts at the first dot of the basename."""
    head, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    return (f"{head}/{stem}" if head else stem), ext.lower()


def _candidate(sample_id: str, tar: Path, members: dict, tf: tarfile.TarFile, field: str) -> Candidate:
    images = [e for e in IMAGE_EXTS if e in members]
    label, problem = _label(members, tf, field)
    if not images:
        found = ", ".join(sorted(members)) or "nothing"
        return Candidate(sample_id, tar, label, {}, Reason.not_image,
                         f"no .jpg/.jpeg/.png/.webp member for this key (found: {found})")
    info = members[images[0]]
    member = f"tar:{info.offset_data}:{info.size}"
    detail = f"also has {', '.join(images[1:])} members (used .{images[0]})" if len(images) > 1 else ""
    if label is None:
        return Candidate(sample_id, tar, None, {}, Reason.unlabeled, problem, member=member)
    return Candidate(sample_id, tar, label, {}, None, detail, member=member)


def _label(members: dict, tf: tarfile.TarFile, field: str) -> tuple[str | None, str]:
    order = ["cls", "txt", "json:label"] if field == "auto" else [field]
    for f in order:
        ext, _, name = f.partition(":")
        if ext not in members:
            continue
        raw = tf.extractfile(members[ext]).read()
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
