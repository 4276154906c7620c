"""Put an export into OUT all at once, never touching the data.

Every file is first written into a hidden staging folder inside OUT
(``.labelclean-staging-<pid>``, same file system, so renames are atomic); only when all of
them exist are they renamed into place, the files an earlier export made and this one does
not are removed, and the marker (``.labelclean-export.json``, listing every file written)
is updated last. A failure while writing (disk full, permissions) removes the staging
folder, so no partial tree is left and an earlier export stays as it was.

Overwriting: a file already in OUT is replaced only with ``overwrite`` and only when the
earlier export's marker lists it; any other file is refused whatever the flag says.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa

from labelclean.core.errors import InputError, os_error
from labelclean.export import tree, writers
from labelclean.export.guard import DataGuard
from labelclean.export.rows import KeptFile

STAGING_PREFIX = ".labelclean-staging-"


def publish(
    out: Path,
    *,
    lists: dict[str, tuple[pa.Table, str]],
    targets: list[tuple[str, KeptFile]],
    link: str,
    fmt: str,
    overwrite: bool,
    guard: DataGuard,
    blobs: dict[str, bytes] | None = None,
) -> list[str]:
    """Write ``lists`` (name -> (table, format)), ``blobs`` (name -> file contents) and the tree
    ``targets`` into ``out``; returns every file written, relative to ``out``."""
    blobs = blobs or {}
    files = sorted([*lists, *blobs, *(rel for rel, _ in targets)])
    (guard.check_tree_out if targets else guard.check_out)(out)
    previous = tree.read_marker(out)
    for rel in [*files, tree.MARKER, *previous]:
        guard.check(out / rel, out)
    check_overwrite(out, files, previous, overwrite)
    created = not out.exists()
    _mkdir(out)
    _remove_old_staging(out)
    stage = out / f"{STAGING_PREFIX}{os.getpid()}"
    try:
        for name, (table, list_fmt) in lists.items():
            try:
                writers.write(table, stage / name, list_fmt)
            except OSError as e:
                raise os_error(e, out / name) from None
        for name, data in blobs.items():
            try:
                writers.write_bytes(stage / name, data)
            except OSError as e:
                raise os_error(e, out / name) from None
        if targets:
            tree.materialise(stage, targets, link, shown=out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            _rmdir_quietly(out)
        raise
    try:
        tree.remove_stale(out, previous, set(files))
        for rel in files:
            _mkdir((out / rel).parent)
            os.replace(stage / rel, out / rel)
        tree.write_marker(out, fmt, files)
    except OSError as e:
        raise os_error(e, out) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return files


def check_overwrite(out: Path, files: list[str], previous: list[str], overwrite: bool) -> None:
    """Refuse files in ``out`` no earlier export wrote; without ``overwrite``, any at all."""
    earlier = set(previous)
    existing = [f for f in [*files, tree.MARKER] if os.path.lexists(out / f)]
    foreign = [f for f in existing if f != tree.MARKER and f not in earlier]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise InputError(
            f"{out / foreign[0]} already exists and was not written by labelclean export{more}",
            "choose another --out; --overwrite only replaces files an earlier export wrote",
        )
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise InputError(
            f"{out / existing[0]} already exists{more} (from an earlier export)",
            "pass --overwrite to replace the earlier export, or choose another --out",
        )


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, path, "create the folder") from None


def _remove_old_staging(out: Path) -> None:
    """Staging folders left by an export that was killed."""
    for entry in os.scandir(out):
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def _rmdir_quietly(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
