"""Keep exports out of the user's data: no write into, over or through it.

`DataGuard` knows the real paths (symlinks resolved) of what must never be written:

- a folder dataset's data root, and everything under it;
- every folder that holds a sample file (the file's real location, so a symlinked sample
  protects its target's folder), for manifests too;
- the input manifest file itself.

The work directory is the one exception inside those folders (discovery never scans it),
so ``W/export`` is fine even when the workdir lies inside the data root. A written path is
checked after resolving its parent folder, so a symlink inside ``--out`` that leads into
the data is caught too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from labelclean.core.errors import InputError

OUT_HINT = "export to a folder outside the data, e.g. the default W/export (the source data is never modified)"


def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(path)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class DataGuard:
    """The real paths an export must not touch; `check` raises InputError for a written path."""

    def __init__(
        self,
        *,
        data_root: str | None,
        source: str | None,
        kind: str | None,
        sample_paths: Iterable[str],
        workdir: Path,
    ):
        self.workdir = _real(workdir)
        self.dirs: set[str] = set()
        self.root = _real(data_root) if data_root else None
        is_folder = kind == "folder" or (kind is None and (not source or os.path.isdir(source)))
        if self.root and is_folder:
            self.dirs.add(self.root)
        self.manifest = _real(source) if source and not is_folder else None
        parents: dict[str, str] = {}
        for p in sample_paths:
            if not p:
                continue
            if os.path.islink(p):
                real = _real(p)
                if not os.path.isdir(real):  # a skipped folder link is no sample file
                    self.dirs.add(os.path.dirname(real))
                continue
            parent = os.path.dirname(p)
            if parent not in parents:
                parents[parent] = _real(parent)
            self.dirs.add(parents[parent])
        self._checked: dict[str, str] = {}

    def real_target(self, path: Path) -> str:
        """Where writing ``path`` would put the file: its parent folder resolved."""
        parent = str(path.parent)
        if parent not in self._checked:
            self._checked[parent] = _real(parent)
        return os.path.join(self._checked[parent], path.name)

    def check(self, path: Path, out: Path) -> None:
        """Raise InputError when writing (or deleting) ``path`` would touch the data."""
        real = self.real_target(path)
        if self.manifest is not None and real == self.manifest:
            raise InputError(f"export would overwrite the input manifest {self.manifest} (writing {path})", OUT_HINT)
        if _within(real, self.workdir):
            return
        folder = os.path.dirname(real)
        d = self._data_dir(folder)
        if d is not None:
            through = "" if _within(folder, _real(out)) else " through a symlink"
            raise InputError(f"export would write {path}{through} into the data folder {d}", OUT_HINT)

    @staticmethod
    def _ancestors(folder: str) -> Iterable[str]:
        while True:
            yield folder
            parent = os.path.dirname(folder)
            if parent == folder:
                return
            folder = parent

    def check_out(self, out: Path) -> None:
        """Refuse an output folder that lies in the data, or holds the data root inside it
        (a tree export there would mix class folders with the data)."""
        real = _real(out)
        d = None if _within(real, self.workdir) else self._data_dir(real)
        if d is not None:
            raise InputError(f"--out {out} lies inside the data folder {d}", OUT_HINT)

    def check_tree_out(self, out: Path) -> None:
        self.check_out(out)
        real = _real(out)
        if self.root and not _within(real, self.workdir) and _within(self.root, real):
            raise InputError(f"--out {out} contains the data folder {self.root}", OUT_HINT)

    def _data_dir(self, real: str) -> str | None:
        """The outermost protected folder holding ``real``, or None."""
        found = [d for d in self._ancestors(real) if d in self.dirs]
        return found[-1] if found else None
