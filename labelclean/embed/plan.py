"""What `embed` has to do: content hashes, exact duplicates, shard slices and resume.

- Every candidate that discovery did not reject is hashed (sha256 of its bytes).
- Files with the same hash are one *content*: it is embedded once, for its canonical
  sample (the smallest sample_id, unless another sample of that content already has a
  finished embedding, which is then kept so that adding a copy never re-embeds), and the
  others record ``duplicate_of``.
- A shard ``I/N`` owns the contents whose stable hash ``int(sha256(key)[:16], 16) % N == I``,
  where the key is the content hash (or the sample_id when there is none): identical files
  land in the same shard and adding files never moves existing ones.
- A content is done when a finished part file holds a row with its (sample_id, sha256).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from labelclean.ingest.decode import FileDigest, file_digest
from labelclean.ingest.types import Candidate
from labelclean.core.errors import UsageError
from labelclean.core.reasons import Reason

SHARD_INDEX_VARS = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")
SHARD_COUNT_VAR = "LABELCLEAN_NUM_SHARDS"


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def owns(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: str, count: int) -> int:
    """Stable shard number of a key (content hash or sample_id), in [0, count)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:16], 16) % count


def parse_shard(spec: str | None, num_shards: int | None, env: Mapping[str, str] = os.environ) -> Shard | None:
    """``I/N``, ``auto`` (index from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX, count
    from --num-shards or LABELCLEAN_NUM_SHARDS) or None for a full, unsharded run."""
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
            "--shard auto found neither JOB_COMPLETION_INDEX nor AWS_BATCH_JOB_ARRAY_INDEX",
            "run it as an indexed batch job, or pass --shard I/N",
        )
    count = num_shards if num_shards is not None else env.get(SHARD_COUNT_VAR, "").strip()
    if count in ("", None):
        raise UsageError("--shard auto needs the number of shards", f"pass --num-shards N or set {SHARD_COUNT_VAR}")
    if not str(count).isdigit() or not env[var].strip().isdigit():
        raise UsageError(f"--shard auto: {var}={env[var]!r} and shard count {count!r} must be whole numbers")
    return _checked(int(env[var]), int(count), f"--shard auto ({var}={env[var]})")


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

    def key(self, sample_id: str) -> str:
        """The shard key of a usable sample: its content hash, else its sample_id."""
        return self.digests[sample_id].sha256 or sample_id


def usable(c: Candidate, *, features: bool) -> bool:
    """Candidates embed considers: rejected ones keep discovery's reason. With features,
    a file missing on disk is fine (its vector comes from the features file)."""
    return c.status is None or (features and c.status == Reason.missing)


def scan(
    candidates: Iterable[Candidate],
    done: Mapping[str, set[str]],
    *,
    features: bool = False,
    advance: Callable[[int], None] = lambda n: None,
) -> Scan:
    """Hash usable candidates and pick one canonical sample per content.

    ``done`` maps a content hash to the sample_ids already embedded for it. With
    ``features`` a file that cannot be read is simply not deduplicated (sha256 None).
    """
    digests: dict[str, FileDigest] = {}
    by_hash: dict[str, list[Candidate]] = {}
    for c in candidates:
        if not usable(c, features=features):
            continue
        d = file_digest(c.path)
        if features and d.reason != Reason.ok:
            d = FileDigest(None, d.size, Reason.ok, "")
        digests[c.sample_id] = d
        if d.reason == Reason.ok and d.sha256 is not None:
            by_hash.setdefault(d.sha256, []).append(c)
        advance(1)
    canonical = {s: s for s, d in digests.items() if d.reason == Reason.ok}
    conflicts = []
    for sha, group in by_hash.items():
        if len(group) < 2:
            continue
        ids = [c.sample_id for c in group]
        previous = sorted(set(ids) & done.get(sha, set()))
        first = previous[0] if previous else min(ids)
        canonical.update({s: first for s in ids})
        if len({c.label for c in group}) > 1:
            conflicts.append(Conflict(sha, ids, [c.label for c in group]))
    return Scan(digests, canonical, conflicts)


def todo(candidates: Iterable[Candidate], sc: Scan, done_keys: set[tuple[str, str | None]], shard: Shard | None):
    """Canonical candidates of this shard without a finished embedding row, in sample_id order."""
    out = []
    for c in candidates:
        if sc.canonical.get(c.sample_id) != c.sample_id:
            continue
        if shard is not None and not shard.owns(sc.key(c.sample_id)):
            continue
        if (c.sample_id, sc.digests[c.sample_id].sha256) not in done_keys:
            out.append(c)
    return out
