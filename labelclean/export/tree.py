"""Materialise a cleaned ``OUT/<class>/<file>`` tree (symlinks, hard links or copies).

Target names: ``OUT/<final class dir>/<sample_id minus its first folder when that folder is
the given class>``: ``cat/x.jpg`` stays ``cat/x.jpg``, ``dog/a/x.jpg`` relabelled to cat
becomes ``cat/a/x.jpg`` and ``imgs/x.jpg`` (a manifest dataset) becomes ``cat/imgs/x.jpg``.
In sample_id order, a name already taken (also case-insensitively) gets ``~<8 hex of
sha1(sample_id)>`` appended to its stem, so names are collision-free and deterministic. Every file is created under a temp name and renamed
into place, so the source data is never opened for writing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath

from labelclean.core import console
from labelclean.core.errors import InputError, os_error
from labelclean.export.rows import KeptFile
from labelclean.ingest.discover import EXPORT_MARKER
from labelclean.export.writers import write_bytes

LINK_MODES = ("symlink", "hardlink", "copy")
MARKER = EXPORT_MARKER  # discovery skips folders holding it


def class_dirname(name: str) -> str:
    """A folder name for a class: path separators and NUL become '_', '.'/'..' are prefixed."""
    safe = name.replace("/", "_").replace("\\", "_").replace("\0", "_")
    return f"_{safe}" if safe in ("", ".", "..") else safe


def class_dirs(names: list[str]) -> dict[str, str]:
    """Map class names to unique folder names; raises InputError when two collide."""
    dirs: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in names:
        d = class_dirname(name)
        if d.casefold() in seen:
            raise InputError(
                f"classes '{seen[d.casefold()]}' and '{name}' would share the folder '{d}'",
                "rename one of the classes, or export a list (--format csv/jsonl/parquet)",
            )
        seen[d.casefold()] = name
        dirs[name] = d
    return dirs


def plan(kept: list[KeptFile], dirs: dict[str, str]) -> list[tuple[str, KeptFile]]:
    """(target path relative to OUT, kept file) per kept file, collision-free, by sample_id."""
    used: set[str] = set()
    out = []
    for k in sorted(kept, key=lambda k: k.sample_id):
        parts = [p for p in PurePosixPath(k.sample_id.replace("\\", "/")).parts if p not in ("/", "")]
        if len(parts) > 1 and parts[0] == k.given_name:
            parts = parts[1:]
        parts = ["__" if p == ".." else p for p in parts]
        rel = "/".join([dirs[k.class_name], *parts])
        if rel.casefold() in used:
            p = PurePosixPath(rel)
            tag = hashlib.sha1(k.sample_id.encode()).hexdigest()[:8]
            rel = str(p.with_name(f"{p.stem}~{tag}{p.suffix}"))
        used.add(rel.casefold())
        out.append((rel, k))
    return out


def materialise(out: Path, targets: list[tuple[str, KeptFile]], link: str, shown: Path | None = None) -> None:
    """Create every target under ``out`` with the chosen link mode; errors name the target
    under ``shown`` (the real OUT when ``out`` is a staging folder)."""
    missing = [k.path for _, k in targets if not os.path.exists(k.path)]
    if missing:
        raise InputError(
            f"{len(missing)} kept files no longer exist (first: {missing[0]})",
            "re-run `labelclean embed` (or `labelclean run`) so the manifest matches the data",
        )
    with console.progress(f"export ({link})", total=len(targets), unit="file") as bar:
        for rel, k in targets:
            try:
                _place(k.path, out / rel, link)
            except OSError as e:
                raise os_error(e, (shown or out) / rel) from None
            bar.advance()


def _place(src: str, dst: Path, link: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)  # OSError: named by materialise
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    try:
        if link == "symlink":
            os.symlink(os.path.abspath(src), tmp)
        elif link == "hardlink":
            os.link(src, tmp)
        else:
            shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except OSError as e:
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        if link == "hardlink" and e.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise InputError(
                f"cannot hard-link {src} into {dst.parent} ({e.strerror})",
                "hard links need the same filesystem: use --link symlink or --link copy",
            ) from e
        raise


def read_marker(out: Path) -> list[str]:
    """Files a previous export created in ``out`` (relative paths), from its marker file."""
    try:
        return list(json.loads((out / MARKER).read_text()).get("files", []))
    except (OSError, ValueError, AttributeError):
        return []


def write_marker(out: Path, fmt: str, files: list[str]) -> None:
    text = json.dumps({"format": fmt, "files": sorted(files)}, indent=0, sort_keys=True)
    write_bytes(out / MARKER, (text + "\n").encode())


def remove_stale(out: Path, previous: list[str], current: set[str]) -> int:
    """Delete files an earlier export made that this one does not, then their empty folders."""
    removed = 0
    parents: set[Path] = set()
    for rel in previous:
        if rel in current or ".." in PurePosixPath(rel).parts or PurePosixPath(rel).is_absolute():
            continue
        p = out / rel
        if p.is_symlink() or p.is_file():
            p.unlink()
            removed += 1
            parents.update(q for q in p.parents if out in q.parents)
    for d in sorted(parents, key=lambda q: len(q.parts), reverse=True):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    return removed
