"""The work directory: where every artefact lives, the write lock, atomic writes and run.json."""

from __future__ import annotations

import contextlib
import datetime as _dt
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
    def css(self) -> Path:
        return self.root / "css.parquet"

    def learned_prompts(self, method: str) -> Path:
        """prompts/<method>.parquet: the class text features of a trainer's learned prompts."""
        return self.root / "prompts" / f"{method}.parquet"

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
    # Every lock is a `filelock.FileLock` (flock on POSIX, msvcrt on Windows), released by the
    # operating system when its process dies, so a killed run never leaves a stale lock.
    #   .lock                  the writer lock: held by every stage that writes the workdir
    #   .lock-shard-IIIII      one per embed shard, held while that shard runs
    #   .lock-run-json         serialises run.json updates (milliseconds; blocking)
    #   .lock-gate             serialises taking the locks above (milliseconds; blocking)
    #   .lock.pid              the pid of the writer-lock holder, for the error message
    @contextlib.contextmanager
    def lock(self, shard: int | None = None) -> Iterator[None]:
        """Hold the workdir lock so that two processes never write the same workdir.

        Without ``shard``: the writer lock, exclusive, plus every shard lock, so no
        `embed --shard` runs meanwhile. With ``shard`` (embed --shard I/N): only the lock of
        shard I, taken only while no writer holds the workdir: the shards of one workdir run
        side by side while every other writer is refused. Both look and take under the gate
        lock (held for milliseconds, waited for), so shards started at the same moment never
        refuse each other.
        """
        self.ensure()
        with contextlib.ExitStack() as stack:
            with self._gate():
                if shard is None:
                    stack.enter_context(self._try(self.lock_file.name, self._in_use))
                    atomic_write_text(self.root / ".lock.pid", str(os.getpid()))
                    for path in sorted(self.root.glob(".lock-shard-*")):
                        msg = f"work directory {self.root} is in use: shard {int(path.name[12:])} is being embedded"
                        stack.enter_context(self._try(path.name, lambda m=msg: m + " by another process"))
                else:
                    with self._try(self.lock_file.name, self._in_use):
                        pass  # no writer holds the workdir
                    msg = f"shard {shard} of {self.root} is already being embedded by another process"
                    stack.enter_context(self._try(f".lock-shard-{shard:05d}", lambda: msg))
            yield

    @contextlib.contextmanager
    def _gate(self) -> Iterator[None]:
        from filelock import Timeout

        try:
            with new_file_lock(self.root / ".lock-gate", timeout=30):
                yield
        except Timeout as e:
            raise WorkdirError(f"work directory {self.root}: no lock could be taken within 30 s",
                               "check that its file system supports file locks") from e

    def _in_use(self) -> str:
        try:
            other = (self.root / ".lock.pid").read_text().strip() or "?"
        except OSError:
            other = "?"
        return f"work directory {self.root} is in use by another labelclean process (pid {other})"

    @contextlib.contextmanager
    def _try(self, name: str, message: Callable[[], str]) -> Iterator[None]:
        """Hold lock file ``name`` without waiting; WorkdirError(message()) when it is taken."""
        from filelock import Timeout

        file_lock = new_file_lock(self.root / name, timeout=0)
        try:
            file_lock.acquire()
        except Timeout as e:
            raise WorkdirError(message(), "wait for it to finish, or use another --workdir") from e
        try:
            yield
        finally:
            file_lock.release()

    @contextlib.contextmanager
    def _run_json_lock(self) -> Iterator[None]:
        """Serialise run.json updates (concurrent shards; held for milliseconds, blocking)."""
        with new_file_lock(self.root / ".lock-run-json", timeout=-1):
            yield

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


def new_file_lock(path: Path, timeout: float) -> Any:
    """A `filelock.FileLock` on ``path`` (``timeout`` 0: try once; -1: wait), one per call
    (never a shared singleton), keeping the lock file, on any filelock version since 3.12."""
    import inspect

    from filelock import FileLock

    wanted = {"is_singleton": False, "preserve_lock_file": True}
    params = inspect.signature(FileLock.__init__).parameters
    return FileLock(path, timeout=timeout, **{k: v for k, v in wanted.items() if k in params})


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
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as e:
        _reraise_naming(e, final)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except OSError as e:
        _reraise_naming(e, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _reraise_naming(e: OSError, final: Path) -> None:
    """Raise the same OS error naming the file being written rather than its temp file (or
    nothing: a failed write() or pyarrow's writer name no file)."""
    if e.errno is None or (e.filename is not None and Path(str(e.filename)).parent != final.parent):
        raise e
    raise type(e)(e.errno, os.strerror(e.errno), str(final)) from e


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")

