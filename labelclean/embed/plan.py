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
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from labelclean.ingest.decode import FileDigest
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
    digests: dict[str, FileDigest]  # sample_id -> digest, for every hashed candidate
    canonical: dict[str, str]  # sample_id -> sample_id embedded for its content (itself when unique)
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def n_duplicates(self) -> int:
        return sum(1 for s, c in self.canonical.items() if s != c)


class Digester(Protocol):
    """`labelclean.embed.hashcache.HashCache`"""

    def digests(self, items: Iterable[Candidate], *, read: bool = True,
                advance: Callable[[int], None] = ...) -> dict[str, FileDigest | None]: ...


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
    done: Mapping[str, set[str]],
    cache: Digester | None = None,
    *,
    shard: Shard | None = None,
    features: bool = False,
    advance: Callable[[int], None] = lambda n: None,
) -> Scan:
    """Hash this shard's usable candidates and pick one canonical sample per content.

    ``done`` maps a content hash to the sample_ids already embedded for it. With
    ``features`` a file that cannot be read is simply not deduplicated (sha256 None).
    """
    if cache is None:  # hash everything, remember nothing
        from labelclean.embed.hashcache import HashCache

        cache = HashCache(None)
    mine = owned_usable(candidates, shard, features=features)
    found = cache.digests(mine, read=True, advance=advance)
    digests = {s: _features_digest(d, features) for s, d in found.items()}
    return _canonical(mine, digests, done)


def global_scan(
    candidates: Sequence[Candidate],
    done: Mapping[str, set[str]],
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
    digests = dict(own.digests)
    pool = owned_usable(candidates, None, features=features)
    others = cache.digests((c for c in pool if c.sample_id not in digests), read=False)
    if any(d is None for d in others.values()):
        return None  # another shard has not hashed it (or it changed since)
    digests.update({s: _features_digest(d, features) for s, d in others.items()})
    for group in _by_shard(pool, count):
        sc = _canonical(group, digests, done)
        if any(s == c and s not in done.get(sc.digests[s].sha256, ()) for s, c in sc.canonical.items()):
            return None
    return _canonical(pool, digests, done)


def _by_shard(pool: Sequence[Candidate], count: int) -> Iterable[Sequence[Candidate]]:
    """``pool`` split by shard (views of a `CandidateTable`, else lists)."""
    if hasattr(pool, "mask"):
        numbers = pool.values(lambda s, m: shard_of(shard_key(s, m), count))
        return [pool.filter(numbers == i) for i in np.unique(numbers)]
    by_shard: dict[int, list[Candidate]] = {}
    for c in pool:
        by_shard.setdefault(shard_of(shard_key(c.sample_id, c.member), count), []).append(c)
    return list(by_shard.values())


def _features_digest(d: FileDigest, features: bool) -> FileDigest:
    if features and d.reason != Reason.ok:
        return FileDigest(None, d.size, Reason.ok, "")
    return d


def _canonical(group: Sequence[Candidate], digests: dict[str, FileDigest], done: Mapping[str, set[str]]) -> Scan:
    """One canonical sample per content among ``group``: the smallest sample_id already
    embedded for it, else the smallest sample_id."""
    if hasattr(group, "column"):  # a CandidateTable: its columns, no Candidate objects
        ids, labels = group.ids(), group.column("label").to_pylist()
    else:
        ids, labels = [c.sample_id for c in group], [c.label for c in group]
    mine = {s: digests[s] for s in ids}
    by_hash: dict[str, list[tuple[str, str | None]]] = {}
    for s, label in zip(ids, labels):
        d = mine[s]
        if d.reason == Reason.ok and d.sha256 is not None:
            by_hash.setdefault(d.sha256, []).append((s, label))
    canonical = {s: s for s, d in mine.items() if d.reason == Reason.ok}
    conflicts = []
    for sha, members in by_hash.items():
        if len(members) < 2:
            continue
        same = [s for s, _ in members]
        previous = sorted(set(same) & done.get(sha, set()))
        first = previous[0] if previous else min(same)
        canonical.update({s: first for s in same})
        if len({label for _, label in members}) > 1:
            conflicts.append(Conflict(sha, same, [label for _, label in members]))
    return Scan(mine, canonical, conflicts)


def todo(candidates: Iterable[Candidate], sc: Scan, done_keys: set[tuple[str, str | None]],
         shard: Shard | None = None) -> Sequence[Candidate]:
    """Canonical candidates of the scan (and of ``shard``) without a finished embedding row,
    in sample_id order (a view when ``candidates`` is a `CandidateTable`)."""
    def wanted(sample_id: str, member: str | None = None) -> bool:
        return sc.canonical.get(sample_id) == sample_id and (sample_id, sc.digests[sample_id].sha256) not in done_keys

    mine = owned(candidates, shard)
    if hasattr(mine, "mask"):
        return mine.filter(mine.mask(wanted))
    return [c for c in mine if wanted(c.sample_id)]
