"""Find the samples of a dataset on disk: an ImageFolder or a CSV/JSONL/Parquet manifest.

Nothing here decodes images; every file found becomes a `Candidate` and only problems
visible without reading a file are set here (``missing``, ``outside_root``, ``unlabeled``,
and ``unreadable`` for a sub-folder that cannot be listed).

Folder layout ``root/<class>/**/<file>``:

- every file under a class folder is a candidate, whatever its extension (a text file is
  later recorded as ``not_image``); hidden files and folders (names starting with ``.``)
  and ``Thumbs.db``, ``desktop.ini`` and ``__MACOSX`` are skipped and listed in
  `Discovered.ignored`;
- files directly under the root get status ``unlabeled``;
- classes are the class folder names in Python string order (like torchvision's
  ImageFolder), empty folders included, unless ``--classes`` fixes order and names;
- symlinked files and folders are followed; a folder already visited is not entered again.

Manifest: see `labelclean.ingest.manifest` for columns, aliases and path rules.

Sample ids are paths relative to the data root with ``/`` separators, NFC-normalised.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from labelclean.ingest.classes_file import default_prompt_name, read_classes_file
from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.types import DATA_HINT, Candidate, ClassInfo, Discovered, nfc, sort_unique

__all__ = ["Candidate", "Discovered", "discover", "read_classes_file", "default_prompt_name", "nfc"]

IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", "__MACOSX"})
def discover(
    data: Path,
    *,
    classes_file: Path | None = None,
    root: Path | None = None,
    allow_outside_root: bool = False,
) -> Discovered:
    """List every sample of ``data`` (a folder or a manifest file) with its given label.

    Parameters
    ----------
    data : Path
        An ImageFolder root, or a ``.csv``/``.tsv``/``.jsonl``/``.parquet`` manifest.
    classes_file : Path, optional
        Fixes class order and prompt names (see `read_classes_file`).
    root : Path, optional
        Manifests only: the folder relative paths resolve against (default: the
        manifest's folder).
    allow_outside_root : bool, default=False
        Manifests only: accept paths outside the root (their sample id is then the
        absolute path) instead of marking them ``outside_root``.

    Raises
    ------
    InputError
        When ``data`` does not exist, has an unknown extension, holds no class folders
        or no rows, or disagrees with ``classes_file``.
    """
    data = Path(data).expanduser()
    if not data.exists():
        raise InputError(f"{data} does not exist", DATA_HINT)
    source = data.resolve()
    named = read_classes_file(Path(classes_file)) if classes_file is not None else None
    if source.is_dir():
        if root is not None:
            raise InputError(f"a separate data root applies to manifests only, but {data} is a folder", DATA_HINT)
        return _discover_folder(source, named)
    from labelclean.ingest.manifest import discover_manifest

    return discover_manifest(source, named, root=root, allow_outside_root=allow_outside_root)


def _discover_folder(root: Path, named: list[tuple[str, str]] | None) -> Discovered:
    class_dirs, loose, ignored = _scan_root(root)
    if not class_dirs:
        what = f"only {len(loose)} loose files" if loose else "nothing"
        raise InputError(f"{root} has no class folders ({what} found)", DATA_HINT)
    classes = _folder_classes(root, sorted(class_dirs), named)
    candidates = [
        Candidate(nfc(p.name), p, None, {}, Reason.unlabeled, "directly under the data root, not in a class folder")
        for p in loose
    ]
    for name in sorted(class_dirs):
        candidates.extend(_walk_class(root, class_dirs[name], name, ignored))
    return Discovered(root, root, "folder", classes, sort_unique(candidates, root), [], sorted(ignored))


def _scan_root(root: Path) -> tuple[dict[str, Path], list[Path], list[str]]:
    class_dirs: dict[str, Path] = {}
    loose: list[Path] = []
    ignored: list[str] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if is_ignored(entry.name):
            ignored.append(nfc(entry.name) + ("/" if entry.is_dir() else ""))
        elif entry.is_dir():
            class_dirs[nfc(entry.name)] = Path(entry.path)
        else:
            loose.append(Path(entry.path))
    return class_dirs, loose, ignored


def is_ignored(name: str) -> bool:
    """Hidden and operating-system files that are not data (never recorded as samples)."""
    return name.startswith(".") or name in IGNORED_NAMES


def _folder_classes(root: Path, names: list[str], named: list[tuple[str, str]] | None) -> list[ClassInfo]:
    if named is None:
        return [ClassInfo(i, n, default_prompt_name(n)) for i, n in enumerate(names)]
    listed = {n for n, _ in named}
    unlisted = [n for n in names if n not in listed]
    if unlisted:
        shown = ", ".join(unlisted[:10]) + (f" and {len(unlisted) - 10} more" if len(unlisted) > 10 else "")
        hint = "add them to the classes file (one name per line), or drop --classes to use the folder names"
        if any(" " in n for n in listed):
            hint += "; separate a name from its prompt name with a TAB, not spaces"
        raise InputError(f"{len(unlisted)} class folders in {root} are not in the --classes file: {shown}", hint)
    return [ClassInfo(i, n, p) for i, (n, p) in enumerate(named)]


def _walk_class(root: Path, class_dir: Path, label: str, ignored: list[str]) -> Iterator[Candidate]:
    seen: set[str] = set()
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True, onerror=errors.append):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        rel_dir = Path(dirpath).relative_to(root)
        ignored.extend(f"{_posix(rel_dir / d)}/" for d in dirnames if is_ignored(d))
        dirnames[:] = sorted(d for d in dirnames if not is_ignored(d))
        for name in sorted(filenames):
            if is_ignored(name):
                ignored.append(_posix(rel_dir / name))
            else:
                yield Candidate(_posix(rel_dir / name), Path(dirpath) / name, label, {})
    for e in errors:
        path = Path(e.filename)
        detail = f"cannot list this folder: {e.strerror or e}"
        yield Candidate(_posix(path.relative_to(root)) + "/", path, label, {}, Reason.unreadable, detail)


def _posix(rel: Path) -> str:
    return nfc(rel.as_posix())

