"""The robustness corpus: a data folder with what real users' folders hold, generated in code.

`build_corpus(base)` writes, under ``base``:

- ``data/``: an ImageFolder (``blue``, ``green``, ``red``; 6 distinct PNGs each) plus
  - ``blue/loop -> ..`` and ``blue/sib -> ../red`` (folder symlinks into the tree),
  - ``red/upup -> ../..`` (a folder symlink above the data root),
  - ``red/far.png -> ../../outside/far.png`` (a file symlink out of the root),
  - ``red/dup.png -> red_000.png`` (a file symlink inside the root),
  - ``green/bad/``: every `imagegen.BAD_CASES` file,
  - ``yellow/`` (an empty class folder), ``.DS_Store``, ``.git/config``,
    ``blue/.hidden.jpg``, ``loose.png`` (directly under the root),
  - ``clean.csv``: a manifest of the blue and red images with relative paths (the user's
    own list, which an export must never overwrite);
- ``outside/far.png``: an image outside the data root;
- ``lists/abs.csv``: a manifest with absolute paths into ``data/`` (kept apart from it),
  ``lists/semi.csv`` (';'-separated), ``lists/listlabels.parquet`` (list-typed labels);
- ``decisions-cp1252.csv``: a reviewer's decisions saved by Excel in cp1252.

`snapshot(folder)` records every entry under ``folder`` without following symlinks (file
sha256 and mode, link targets, folders), so a test can assert that nothing was changed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import imagegen as g
import pyarrow as pa
import pyarrow.parquet as pq

CLASSES = ("blue", "green", "red")
WORKDIR_PREFIX = "data/labelclean-work"  # tests may create work directories here (inside the data)
PER_CLASS = 6


@dataclass
class Corpus:
    base: Path
    data: Path
    outside: Path
    lists: Path
    decisions_cp1252: Path

    @property
    def clean_csv(self) -> Path:
        return self.data / "clean.csv"


def build_corpus(base: Path) -> Corpus:
    base = Path(base)
    data = g.make_image_folder(base / "data", {c: PER_CLASS for c in CLASSES}, seed=14)
    g.write_bad_cases(data / "green" / "bad")
    (data / "yellow").mkdir()
    (data / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (data / ".git").mkdir()
    (data / ".git" / "config").write_text("[core]\n")
    g.make_png(data / "blue" / ".hidden.jpg", color=(1, 1, 1))
    g.make_png(data / "loose.png", color=(2, 2, 2))
    far = g.make_png(base / "outside" / "far.png", color=(3, 3, 3))
    os.symlink("..", data / "blue" / "loop")
    os.symlink("../red", data / "blue" / "sib")
    os.symlink("../..", data / "red" / "upup")
    os.symlink(os.path.relpath(far, data / "red"), data / "red" / "far.png")
    os.symlink("red_000.png", data / "red" / "dup.png")
    rel_rows = [f"{c}/{c}_{i:03d}.png,{c}" for c in ("blue", "red") for i in range(PER_CLASS)]
    (data / "clean.csv").write_text("path,label\n" + "\n".join(rel_rows) + "\n")
    lists = base / "lists"
    lists.mkdir()
    abs_rows = [f"{data / c / f'{c}_{i:03d}.png'},{c}" for c in CLASSES for i in range(PER_CLASS)]
    (lists / "abs.csv").write_text("path,label\n" + "\n".join(abs_rows) + "\n")
    semi = [f"{data / c / f'{c}_{i:03d}.png'};{c}" for c in CLASSES for i in range(2)]
    (lists / "semi.csv").write_text("path;label\n" + "\n".join(semi) + "\n")
    pq.write_table(
        pa.table({"path": [str(data / "blue" / "blue_000.png")], "label": pa.array([["blue"]])}),
        lists / "listlabels.parquet",
    )
    decisions = base / "decisions-cp1252.csv"
    decisions.write_bytes("sample_id,decision,note\nblue/blue_000.png,drop,caf\u00e9\n".encode("cp1252"))
    return Corpus(base, data, base / "outside", lists, decisions)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Relative path -> ("file", sha256, mode) | ("link", target) | ("dir", mode), for every
    entry under ``folder`` (symlinks are recorded, never followed)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, folder)
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir", st.st_mode)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", hashlib.sha256(f.read()).hexdigest(), st.st_mode)
    return out


def changes(before: dict[str, tuple], after: dict[str, tuple], allowed_new: tuple[str, ...] = ()) -> list[str]:
    """What differs: changed or removed entries, and new ones outside ``allowed_new`` folders."""
    found = [f"changed: {k}" for k in before if k in after and before[k] != after[k]]
    found += [f"removed: {k}" for k in before if k not in after]
    found += [f"added: {k}" for k in after if k not in before and not k.startswith(allowed_new)]
    return sorted(found)
