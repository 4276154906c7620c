"""The work directory: where every artefact lives, the write lock, atomic writes and run.json."""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from labelclean import __version__
from labelclean.core.errors import WorkdirError

DEFAULT_WORKDIR = "labelclean-work"


class Workdir:
    """Paths of every artefact in one work directory.

    Stage outputs are Parquet files joined on ``sample_id``; ``run.json`` records the
    effective configuration, library versions, model identity, seeds and timings.
    """

    def __init__(self, path: str | os.PathLike):
        self.root = Path(path).expanduser().resolve()

    # ---- artefacts -------------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        return self.root / "manifest.parquet"

    @property
    def embeddings_dir(self) -> Path:
        return self.root / "embeddings"

    @property
    def text(self) -> Path:
        return self.root / "text.parquet"

    @property
    def scores(self) -> Path:
        return self.root / "scores.parquet"

    @property
    def probs_dir(self) -> Path:
        return self.root / "probs"

    @property
    def selection(self) -> Path:
        return self.root / "selection.parquet"

    @property
    def decisions(self) -> Path:
        return self.root / "decisions.parquet"

    @property
    def deft(self) -> Path:
        return self.root / "deft.parquet"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def exists(self) -> bool:
        return self.root.is_dir()

    def ensure(self) -> "Workdir":
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkdirError(
                f"cannot create work directory {self.root}: {e.strerror}",
                "pass a writable folder with --workdir/-w",
            ) from e
        return self

    def require(self, artefact: Path, stage: str) -> Path:
        """Return ``artefact`` or raise a WorkdirError naming the stage that makes it."""
        if not artefact.exists():
            raise WorkdirError(
                f"{artefact} does not exist",
                f"run `labelclean {'embed DATA' if stage == 'embed' else stage} -w {self.root}` first",
            )
        return artefact

    # ---- locking: every lock file of a workdir is named here -------------------------
    @contextlib.contextmanager
    def lock(self, shard: int | None = None) -> Iterator[None]:
        """Hold the workdir lock so that two processes never write the same workdir.

        Without ``shard`` the lock is exclusive. With ``shard`` (embed --shard I/N) it is held
        shared, plus an exclusive lock of shard I: the shards of one workdir run side by side
        while every other writer waits. flock is released by the kernel when the process dies,
        so a killed run never leaves a stale lock behind.
        """
        self.ensure()
        if shard is None:
            with _flock(self.lock_file, fcntl.LOCK_EX, self._in_use, pid=True):
                yield
            return
        with _flock(self.lock_file, fcntl.LOCK_SH, self._in_use):
            with _flock(self.root / f".lock-shard-{shard:05d}", fcntl.LOCK_EX,
                        lambda _: f"shard {shard} of {self.root} is already being embedded by another process"):
                yield

    def _in_use(self, other: str | None) -> str:
        pid = f" (pid {other})" if other is not None else ""
        return f"work directory {self.root} is in use by another labelclean process{pid}"

    @contextlib.contextmanager
    def _run_json_lock(self) -> Iterator[None]:
        """Serialise run.json updates (concurrent shards; held for milliseconds, blocking)."""
        fd = os.open(self.root / ".lock-run-json", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # ---- run.json --------------------------------------------------------------------
    def read_run(self) -> dict[str, Any]:
        if not self.run_json.exists():
            return {}
        try:
            return json.loads(self.run_json.read_text())
        except json.JSONDecodeError as e:
            raise WorkdirError(
                f"{self.run_json} is not valid JSON ({e.msg} at line {e.lineno})",
                "delete it; labelclean rewrites it on the next stage",
            ) from e

    def update_run(self, stage: str, record: dict[str, Any], **top: Any) -> None:
        """Merge one stage's record (config, counts, timings, fingerprint) into run.json.

        Serialised by its own lock (concurrent shards): the caller need not hold `lock`.
        """
        self.ensure()
        with self._run_json_lock():
            run = self.read_run()
            run.setdefault("created", _now())
            run["labelclean_version"] = __version__
            run["versions"] = library_versions()
            run.update(top)
            stages = run.setdefault("stages", {})
            stages[stage] = {**record, "finished": _now()}
            atomic_write_text(self.run_json, json.dumps(run, indent=2, sort_keys=True, default=str))

    def stage_record(self, stage: str) -> dict[str, Any]:
        return self.read_run().get("stages", {}).get(stage, {})


@contextlib.contextmanager
def _flock(path: Path, mode: int, message: Callable[[str | None], str], *, pid: bool = False) -> Iterator[None]:
    """Hold ``flock(mode)`` on ``path`` without waiting; WorkdirError(message(pid of the holder)) when taken.
    With ``pid`` this process writes its pid into the file (read back by the next one refused)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError as e:
            other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?" if pid else None
            raise WorkdirError(message(other), "wait for it to finish, or use another --workdir") from e
        if pid:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in ("numpy", "pyarrow", "scikit-learn", "torch", "open_clip_torch", "faiss-cpu", "faiss-gpu", "pillow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it into place only on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")

