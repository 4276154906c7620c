"""Find the samples of a dataset on disk: an ImageFolder or a CSV/JSONL/Parquet manifest.

Nothing here decodes images; every file found becomes a row of a `CandidateTable` (Arrow
columns built while walking, ingest/table.py; read as `Candidate` objects) and only problems
visible without reading a file are set here (``missing``, ``outside_root``, ``unlabeled``,
and ``unreadable`` for a sub-folder that cannot be listed).

Folder layout ``root/<class>/**/<file>``:

- every file under a class folder is a candidate, whatever its extension (a text file is
  later recorded as ``not_image``); hidden files and folders (names starting with ``.``)
  and ``Thumbs.db``, ``desktop.ini`` and ``__MACOSX`` are skipped and listed in
  `Discovered.ignored`;
- files directly under the root get status ``unlabeled``;
- classes are the names of the class folders holding at least one file, in Python string
  order (like torchvision's ImageFolder), unless ``--classes`` fixes order and names; empty
  class folders are listed in `Discovered.empty_folders` and are no class;
- the work directory (``exclude``), any other labelclean work directory (a folder with
  ``run.json`` and ``manifest.parquet``) and folders holding a labelclean export marker are
  not scanned (`Discovered.excluded`);
- symlinks: a file symlink is used when its target lies inside the data root; a folder
  symlink into the data root (``loop -> ..``, ``sib -> ../red``) is not followed
  (``symlink_loop``: the folder is listed in its own right); symlinks leading out of the
  root are ``symlink_outside_root`` unless ``allow_outside_root``, and then a folder
  already visited is not entered again (``symlink_loop``).

Manifest: see `labelclean.ingest.manifest` for columns, aliases and path rules. WebDataset
tars and Parquet files holding image bytes: `labelclean.ingest.webdataset`,
`labelclean.ingest.parquet_images` (members carry a locator, `labelclean.ingest.members`).

Sample ids are paths relative to the data root with ``/`` separators, NFC-normalised.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from labelclean.ingest.classes_file import default_prompt_name, read_classes_file
from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.table import CandidateBuilder, same_name_error
from labelclean.ingest.types import DATA_HINT, Candidate, ClassInfo, Discovered, nfc

__all__ = ["Candidate", "Discovered", "discover", "read_classes_file", "default_prompt_name", "nfc"]

IGNORED_NAMES = frozenset({"Thumbs.db", "desktop.ini", "__MACOSX"})
EXPORT_MARKER = ".labelclean-export.json"  # written by `labelclean export` into its output folder


def discover(
    data: Path,
    *,
    classes_file: Path | None = None,
    root: Path | None = None,
    allow_outside_root: bool = False,
    exclude: Sequence[Path] = (),
    label_field: str = "auto",
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
        Folders: follow symlinks (to files or folders) that lead out of the data root
        instead of recording them as ``symlink_outside_root``. Manifests: accept relative
        paths that escape the root (their sample id is then the absolute path) instead of
        marking them ``outside_root``, and symlinks leading out of it.
    exclude : sequence of Path
        Folders never scanned, e.g. the work directory when it lies inside the data root
        (listed in `Discovered.excluded`).
    label_field : str, default="auto"
        WebDataset tars / Parquet image files only: where the label is (see
        `labelclean.ingest.webdataset`, `labelclean.ingest.parquet_images`).

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
    from labelclean.ingest.members import container_kind, discover_container

    if (kind := container_kind(source)) is not None:  # images inside tar / Parquet files
        return discover_container(source, kind, named, label_field)
    if source.is_dir():
        if root is not None:
            raise InputError(f"a separate data root applies to manifests only, but {data} is a folder", DATA_HINT)
        return _discover_folder(source, named, exclude, allow_outside_root)
    from labelclean.ingest.manifest import discover_manifest

    return discover_manifest(source, named, root=root, allow_outside_root=allow_outside_root)


def _discover_folder(
    root: Path, named: list[tuple[str, str]] | None, exclude: Sequence[Path], allow_outside_root: bool
) -> Discovered:
    rows = CandidateBuilder(root)
    walk = _Walk(root, exclude, allow_outside_root, rows)
    class_dirs, loose = walk.scan_root()
    for p in loose:
        rows.add(nfc(p.name), str(p), None, Reason.unlabeled, "directly under the data root, not in a class folder")
    walk.add_root_links()
    listed = {n for n, _ in named} if named is not None else set()
    used: list[str] = []
    for name in sorted(class_dirs):
        before, ok_before = rows.rows, rows.n_ok
        walk.walk_class(class_dirs[name], name)
        if rows.n_ok > ok_before or name in listed:
            used.append(name)
        elif rows.rows == before:
            walk.empty.append(name)
    if not class_dirs:
        what = f"only {len(loose)} loose files" if loose else "nothing"
        raise InputError(f"{root} has no class folders ({what} found)", DATA_HINT)
    if not used:
        raise InputError(f"{root} has no class folder with a file in it ({len(class_dirs)} folders)", DATA_HINT)
    classes = _folder_classes(root, used, named)
    candidates = rows.finish(lambda a, b: same_name_error(root, a["path"], b["path"]))
    found = Discovered(root, root, "folder", classes, candidates, [], sorted(walk.ignored))
    found.excluded, found.empty_folders = walk.excluded, walk.empty
    return found


class _Walk:
    """Streams the files of a class-folder tree, with the symlink and exclusion rules, into
    a `CandidateBuilder` (no Python object per file outlives its chunk).

    Directories are read with ``os.scandir`` one at a time (nothing but the current
    folder's entries is held); real paths are derived from the parent's real path, so
    only symlinks cost a ``realpath`` call.
    """

    def __init__(self, root: Path, exclude: Sequence[Path], allow_outside_root: bool, rows: CandidateBuilder):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.exclude = {os.path.realpath(p) for p in exclude}
        self.allow = allow_outside_root
        self.rows = rows
        self.visited: set[str] = {self.real_root}
        self.ignored: list[str] = []
        self.excluded: list[str] = []  # "rel/ (why)" for the workdir and export folders
        self.empty: list[str] = []  # class folders without any file
        self.root_links: list[tuple] = []  # rows for skipped folder symlinks at the root

    def inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep)

    def scan_root(self) -> tuple[dict[str, Path], list[Path]]:
        class_dirs: dict[str, Path] = {}
        loose: list[Path] = []
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            if is_ignored(entry.name):
                self.ignored.append(nfc(entry.name) + ("/" if entry.is_dir() else ""))
            elif entry.is_dir():
                if self._enter(entry, self.real_root, nfc(entry.name), None, self.root_links.append):
                    class_dirs[nfc(entry.name)] = Path(entry.path)
            else:
                loose.append(Path(entry.path))
        return class_dirs, loose

    def add_root_links(self) -> None:
        for row in self.root_links:
            self.rows.add(*row)

    def walk_class(self, class_dir: Path, label: str) -> None:
        add = self.rows.add
        real = os.path.realpath(class_dir)
        stack: list[tuple[str, str, str]] = [(str(class_dir), real, label)]  # (path, real path, sample id)
        while stack:
            path, real, rel = stack.pop()
            try:
                entries = sorted(os.scandir(path), key=lambda e: e.name)
            except OSError as e:
                add(f"{rel}/", path, label, Reason.unreadable, f"cannot list this folder: {e.strerror or e}")
                continue
            subdirs: list[tuple[str, str, str]] = []
            for entry in entries:
                sid = f"{rel}/{nfc(entry.name)}"
                if is_ignored(entry.name):
                    self.ignored.append(sid + ("/" if _is_dir(entry) else ""))
                elif _is_dir(entry):
                    target = self._enter(entry, real, sid, label, lambda row: add(*row))
                    if target is not None:
                        subdirs.append((entry.path, target, sid))
                elif entry.is_symlink() and not self.allow:
                    self._link(entry, sid, label)
                else:
                    add(sid, entry.path, label)
            stack.extend(reversed(subdirs))

    def _enter(self, entry: os.DirEntry, parent_real: str, sid: str, label: str | None, out) -> str | None:
        """The real path of a folder to walk into, or None (skipped; its row goes to ``out``)."""
        link = entry.is_symlink()
        real = os.path.realpath(entry.path) if link else os.path.join(parent_real, entry.name)
        if real in self.exclude:
            self.excluded.append(f"{sid}/ (the work directory)")
            return None
        if os.path.exists(os.path.join(entry.path, EXPORT_MARKER)):
            self.excluded.append(f"{sid}/ (a labelclean export)")
            return None
        if _is_workdir(entry.path):
            self.excluded.append(f"{sid}/ (a labelclean work directory)")
            return None
        if link:
            inside = self.inside(real)
            if inside or real in self.visited:
                where = os.path.relpath(real, self.real_root) if inside else real
                detail = f"a folder symlink to {'the data root' if where == '.' else where}, " \
                         "which is listed already; not followed"
                out((f"{sid}/", entry.path, label, Reason.symlink_loop, detail))
                return None
            if not self.allow:
                detail = f"a folder symlink to {real}, outside the data root; not followed " \
                         "(pass --allow-outside-root to follow it)"
                out((f"{sid}/", entry.path, label, Reason.symlink_outside_root, detail))
                return None
        if real in self.visited:  # reached again through a followed outside link
            detail = f"{real} is listed already (reached through a symlink); not entered again"
            out((f"{sid}/", entry.path, label, Reason.symlink_loop, detail))
            return None
        self.visited.add(real)
        return real

    def _link(self, entry: os.DirEntry, sid: str, label: str) -> None:
        real = os.path.realpath(entry.path)
        if not self.inside(real):
            detail = f"a symlink to {real}, outside the data root (pass --allow-outside-root to use it)"
            self.rows.add(sid, entry.path, label, Reason.symlink_outside_root, detail)
        else:
            self.rows.add(sid, entry.path, label)


def _is_workdir(path: str) -> bool:
    """A labelclean work directory (e.g. left by an earlier run with another -w)."""
    return os.path.isfile(os.path.join(path, "run.json")) and os.path.exists(os.path.join(path, "manifest.parquet"))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


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


def _posix(rel: Path) -> str:
    return nfc(rel.as_posix())

