"""What `embed` has to do: shard slices, content hashes, exact duplicates and resume.

- A shard ``I/N`` owns the samples whose stable hash ``int(sha256(sample_id)[:16], 16) % N
  == I``: which shard a file belongs to is known from its relative path alone, so a shard
  reads (hashes, decodes) only its own files, and adding files never moves existing ones.
  Members of a tar or Parquet file are assigned by the container's path, so every container
  is read by one shard.
  A full run is the one shard ``0/1``.
- Every owned candidate that discovery did not reject is hashed (sha256 of its bytes),
  through the workdir's `HashCache` (unchanged files are not read again).
- Within a shard, files with the same hash are one *content*: it is embedded once, for its
  canonical sample (the smallest sample_id, unless another sample of that content already
  has a finished embedding, which is then kept so that adding a copy never re-embeds).
- A content is done when a finished part file holds a row with its (sample_id, sha256).
- Exact duplicates *across* shards are found when the workdir is finished
  (`global_scan`), from the stored hashes alone: each content's canonical sample is then
  the smallest sample_id with a finished row, and every other copy records
  ``duplicate_of``. On a fresh workdir that is the smallest sample_id of the content, as
  in a full run, so the manifest is the same however the work was split; a content copied
  into several shards is embedded once per shard (the extra rows are never read).

The plan is columnar: a `Scan` holds its samples' digests as `embed.digests.Digests`
arrays and each sample's canonical one as a row number; only the samples of duplicate
contents become Python values, to choose their canonical sample.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labelclean.embed.digests import Digests, done_mask, one_array
from labelclean.ingest.members import shard_key
from labelclean.ingest.types import Candidate
from labelclean.core.errors import UsageError
from labelclean.core.reasons import Reason

SLURM_INDEX_VAR = "SLURM_ARRAY_TASK_ID"
SHARD_INDEX_VARS = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", SLURM_INDEX_VAR)
SHARD_COUNT_VAR = "LABELCLEAN_NUM_SHARDS"


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, sample_id: str) -> bool:
        return shard_of(sample_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """Stable shard number of a key (a sample_id), in [0, count)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % count


def parse_shard(spec: str | None, num_shards: int | None, env: Mapping[str, str] = os.environ) -> Shard | None:
    """``I/N``, ``auto`` or None for a full, unsharded run.

    ``auto``: the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job),
    AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job) or SLURM_ARRAY_TASK_ID minus
    SLURM_ARRAY_TASK_MIN (Slurm array); the count from --num-shards, else
    LABELCLEAN_NUM_SHARDS, else (Slurm) SLURM_ARRAY_TASK_COUNT."""
    if spec is None:
        if num_shards is not None:
            raise UsageError("--num-shards needs --shard auto", "or give both at once: --shard I/N")
        return None
    if spec.strip().lower() == "auto":
        return _auto_shard(num_shards, env)
    index_text, sep, count_text = spec.partition("/")
    if not sep or not index_text.strip().isdigit() or not count_text.strip().isdigit():
        raise UsageError(f"--shard {spec} is not of the form I/N", "e.g. --shard 0/4 (the first of 4 shards), or --shard auto")
    if num_shards is not None and num_shards != int(count_text):
        raise UsageError(f"--shard {spec} and --num-shards {num_shards} disagree")
    return _checked(int(index_text), int(count_text), f"--shard {spec}")


def _auto_shard(num_shards: int | None, env: Mapping[str, str]) -> Shard:
    var = next((v for v in SHARD_INDEX_VARS if env.get(v, "").strip()), None)
    if var is None:
        raise UsageError(
            "--shard auto found none of " + ", ".join(SHARD_INDEX_VARS),
            "run it as an indexed batch job (Kubernetes Indexed Job, AWS Batch array, Slurm array), or pass --shard I/N",
        )
    count = num_shards if num_shards is not None else env.get(SHARD_COUNT_VAR, "").strip()
    if count in ("", None) and var == SLURM_INDEX_VAR:
        count = env.get("SLURM_ARRAY_TASK_COUNT", "").strip()
    if count in ("", None):
        raise UsageError("--shard auto needs the number of shards", f"pass --num-shards N or set {SHARD_COUNT_VAR}")
    if not str(count).isdigit() or not env[var].strip().isdigit():
        raise UsageError(f"--shard auto: {var}={env[var]!r} and shard count {count!r} must be whole numbers")
    index = int(env[var])
    if var == SLURM_INDEX_VAR:  # --array=1-4 numbers tasks from 1
        first = env.get("SLURM_ARRAY_TASK_MIN", "0").strip()
        index -= int(first) if first.isdigit() else 0
    return _checked(index, int(count), f"--shard auto ({var}={env[var]})")


def _checked(index: int, count: int, what: str) -> Shard:
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"{what}: the index must be in [0, N) and N >= 1, got {index}/{count}")
    return Shard(index, count)


@dataclass
class Conflict:
    """Identical files (same sha256) given different labels."""

    sha256: str
    sample_ids: list[str]
    labels: list[str | None]


@dataclass
class Scan:
    """The hashing plan of some samples: ``digests`` (`Digests`, one row per sample, in the
    order of the samples) and ``canon``: the row of the sample embedded for each row's
    content (the row itself when unique), -1 for a sample that is not embedded (its digest's
    reason is not ``ok``)."""

    digests: Digests
    canon: np.ndarray
    conflicts: list[Conflict] = field(default_factory=list)
    _done: tuple[Any, np.ndarray] | None = field(default=None, repr=False)  # (done, its mask) once computed

    def finished(self, done: Any) -> np.ndarray:
        """Rows whose (sample_id, sha256) is in ``done`` (see `embed.digests.done_mask`),
        computed once per ``done``."""
        if self._done is None or self._done[0] is not done:
            self._done = (done, done_mask(done, self.ids, self.digests))
        return self._done[1]

    @property
    def ids(self) -> pa.Array:
        return self.digests.ids

    @property
    def canonical(self) -> "CanonicalView":
        """sample_id -> sample_id embedded for its content, for samples that are embedded."""
        return CanonicalView(self)

    def is_canonical(self) -> np.ndarray:
        """Rows that are their content's embedded sample."""
        return self.canon == np.arange(len(self.canon))

    def sha256_of(self, items: Iterable[Candidate]) -> dict[str, str | None]:
        """sample_id -> sha256 (hex) of some of the scan's samples (what a `Source` embeds)."""
        ids = _ids(items)
        rows = pc.index_in(ids, value_set=self.ids)
        return dict(zip(ids.to_pylist(), self.digests.sha_hex().take(rows).to_pylist()))

    @property
    def n_canonical(self) -> int:
        return int(self.is_canonical().sum())

    @property
    def n_duplicates(self) -> int:
        return int(((self.canon >= 0) & ~self.is_canonical()).sum())


class CanonicalView(MappingABC):
    """`Scan.canonical` as a read-only mapping over the scan's columns."""

    def __init__(self, sc: Scan):
        self.sc = sc
        self.rows = np.flatnonzero(sc.canon >= 0)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[str]:
        ids = self.sc.ids
        for k in range(0, len(self.rows), 65_536):
            yield from ids.take(pa.array(self.rows[k:k + 65_536])).to_pylist()

    def __getitem__(self, sample_id: str) -> str:
        c = self.sc.canon[self.sc.digests.position(sample_id)]
        if c < 0:
            raise KeyError(sample_id)
        return self.sc.ids[int(c)].as_py()


class Digester(Protocol):
    """`labelclean.embed.hashcache.HashCache`"""

    def digests(self, items: Iterable[Candidate], *, read: bool = True,
                advance: Callable[[int], None] = ...) -> Digests: ...


def usable(c: Candidate, *, features: bool) -> bool:
    """Candidates embed considers: rejected ones keep discovery's reason. With features,
    a file missing on disk is fine (its vector comes from the features file)."""
    return c.status is None or (features and c.status == Reason.missing)


def owned(candidates: Iterable[Candidate], shard: Shard | None) -> Sequence[Candidate]:
    """The candidates of ``shard`` (all of them for None); a `CandidateTable` stays one (a
    filtered view, no Python object per candidate)."""
    if hasattr(candidates, "mask"):
        if shard is None:
            return candidates
        return candidates.filter(candidates.mask(lambda s, m: shard.owns(shard_key(s, m))))
    return [c for c in candidates if shard is None or shard.owns(shard_key(c.sample_id, c.member))]


def owned_usable(candidates: Iterable[Candidate], shard: Shard | None, *, features: bool) -> Sequence[Candidate]:
    """`owned` candidates that are `usable`."""
    mine = owned(candidates, shard)
    if hasattr(mine, "usable_mask"):
        return mine.filter(mine.usable_mask(missing_ok=features))
    return [c for c in mine if usable(c, features=features)]


def scan(
    candidates: Iterable[Candidate],
    done: Any,
    cache: Digester | None = None,
    *,
    shard: Shard | None = None,
    features: bool = False,
    advance: Callable[[int], None] = lambda n: None,
) -> Scan:
    """Hash this shard's usable candidates and pick one canonical sample per content.

    ``done``: the (sample_id, sha256) pairs already embedded (an `embed.digests.Done`, or a
    mapping sha256 -> sample_ids). With ``features`` a file that cannot be read is simply
    not deduplicated (sha256 None).
    """
    if cache is None:  # hash everything, remember nothing
        from labelclean.embed.hashcache import HashCache

        cache = HashCache(None)
    mine = owned_usable(candidates, shard, features=features)
    found = cache.digests(mine, read=True, advance=advance)
    return _canonical(_labels(mine), found.for_features() if features else found, done)


def global_scan(
    candidates: Sequence[Candidate],
    done: Any,
    cache: Digester,
    own: Scan,
    *,
    count: int,
    features: bool = False,
) -> Scan | None:
    """Duplicates across shards, from stored hashes only; None while some shard of ``count``
    still has a content to embed (or has not hashed its files yet).

    Reads no file: digests come from ``own`` (this run's slice) or the stat-checked cache.
    """
    pool = owned_usable(candidates, None, features=features)
    ids = _ids(pool)
    at = pc.fill_null(pc.index_in(ids, value_set=own.ids), -1).to_numpy(zero_copy_only=False).astype(np.int64) \
        if len(ids) else np.zeros(0, np.int64)
    mine, rest = np.flatnonzero(at >= 0), np.flatnonzero(at < 0)
    others = cache.digests(_subset(pool, rest), read=False)
    if others.unknown().any():
        return None  # another shard has not hashed it (or it changed since)
    if features:
        others = others.for_features()
    both = Digests.concat([own.digests.take(at[mine]), others])
    order = np.empty(len(ids), dtype=np.int64)
    order[np.concatenate([mine, rest])] = np.arange(len(ids))
    digests = both.take(order)  # in the order of pool
    labels = _labels(pool)
    finished = done_mask(done, digests.ids, digests)
    for rows in _by_shard_rows(pool, count):
        sc = _canonical(labels.take(pa.array(rows)), digests.take(rows), done, finished[rows])
        if (sc.is_canonical() & ~finished[rows]).any():
            return None
    return _canonical(labels, digests, done, finished)


def _ids(group) -> pa.Array:
    """The sample ids of a `CandidateTable` or a list of candidates."""
    if hasattr(group, "column"):
        return one_array(group.column("sample_id"))
    return pa.array([c.sample_id for c in group], pa.string())


def _labels(group) -> pa.Array:
    if hasattr(group, "column"):
        return one_array(group.column("label"))
    return pa.array([c.label for c in group], pa.string())


def _subset(group, rows: np.ndarray):
    """The given rows of a `CandidateTable` (a view) or of a list."""
    if hasattr(group, "filter"):
        mask = np.zeros(len(group), dtype=bool)
        mask[rows] = True
        return group.filter(mask)
    return [group[k] for k in rows]


def _by_shard(pool: Sequence[Candidate], count: int) -> Iterable[Sequence[Candidate]]:
    """``pool`` split by shard (views of a `CandidateTable`, else lists)."""
    if hasattr(pool, "mask"):
        return [pool.filter(np.isin(np.arange(len(pool)), rows)) for rows in _by_shard_rows(pool, count)]
    return [[pool[k] for k in rows] for rows in _by_shard_rows(pool, count)]


def _by_shard_rows(pool, count: int) -> list[np.ndarray]:
    """The rows of ``pool`` split by shard."""
    if hasattr(pool, "values"):
        numbers = pool.values(lambda s, m: shard_of(shard_key(s, m), count))
    else:
        numbers = np.array([shard_of(shard_key(c.sample_id, c.member), count) for c in pool], dtype=np.int64)
    return [np.flatnonzero(numbers == i) for i in np.unique(numbers)]


def _canonical(labels: pa.Array, digests: Digests, done: Any, finished: np.ndarray | None = None) -> Scan:
    """One canonical sample per content among ``digests``' samples: the smallest sample_id
    already embedded for it (``finished``: rows whose (sample_id, sha256) is done, computed
    from ``done`` when not given), else the smallest sample_id."""
    n = len(digests)
    ok = digests.ok()
    canon = np.where(ok, np.arange(n), -1)
    hashed = np.flatnonzero(ok & digests.has_sha)
    conflicts: list[Conflict] = []
    if len(hashed) < 2:
        return Scan(digests, canon, conflicts)
    words = digests.sha[hashed].view(">u8")  # (m, 4): the digest as four big-endian words
    order = np.lexsort(words.T[::-1])
    sorted_words = words[order]
    same = (sorted_words[1:] == sorted_words[:-1]).all(axis=1)
    if not same.any():
        return Scan(digests, canon, conflicts)
    sc = Scan(digests, canon, conflicts)
    if finished is None:
        finished = sc.finished(done)
    starts = np.flatnonzero(np.concatenate([[True], ~same]))
    ends = np.append(starts[1:], len(order))
    groups = [hashed[np.sort(order[a:b])] for a, b in zip(starts, ends) if b - a > 1]
    dup_rows = np.concatenate(groups)
    names = dict(zip(dup_rows.tolist(), digests.ids.take(pa.array(dup_rows)).to_pylist()))
    texts = dict(zip(dup_rows.tolist(), labels.take(pa.array(dup_rows)).to_pylist()))
    for rows in groups:
        rows = rows.tolist()
        previous = [k for k in rows if finished[k]]
        first = min(previous or rows, key=names.__getitem__)
        canon[rows] = first
        if len({texts[k] for k in rows}) > 1:
            conflicts.append(Conflict(bytes(digests.sha[rows[0]]).hex(), [names[k] for k in rows],
                                      [texts[k] for k in rows]))
    return sc


def todo(candidates: Iterable[Candidate], sc: Scan, done_keys: Any,
         shard: Shard | None = None) -> Sequence[Candidate]:
    """Canonical candidates of the scan (and of ``shard``) without a finished embedding row,
    in sample_id order (a view when ``candidates`` is a `CandidateTable`). ``done_keys``: an
    `embed.digests.Done` or a set of (sample_id, sha256) pairs."""
    wanted = sc.is_canonical() & ~sc.finished(done_keys)
    wanted_ids = sc.ids.filter(pa.array(wanted))
    mine = owned(candidates, shard)
    if hasattr(mine, "mask"):
        keep = pc.is_in(one_array(mine.column("sample_id")), value_set=wanted_ids)
        return mine.filter(keep.to_numpy(zero_copy_only=False).astype(bool))
    keep_set = set(wanted_ids.to_pylist())
    return [c for c in mine if c.sample_id in keep_set]
