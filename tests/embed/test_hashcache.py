"""The content-hash cache: unchanged files are never read again; any change is re-hashed."""

from __future__ import annotations

import os
import shutil

import pytest

from imagegen import make_image_folder, make_jpeg
from labelclean.core.reasons import Reason
from labelclean.embed.hashcache import HashCache
from labelclean.embed.plan import Shard, global_scan, owned, scan, todo
from labelclean.ingest.decode import file_digest
from labelclean.ingest.discover import discover


class CountingHasher:
    def __init__(self):
        self.paths = []

    def __call__(self, path):
        self.paths.append(path)
        return file_digest(path)


@pytest.fixture
def data(tmp_path):
    root = make_image_folder(tmp_path / "data", {"a": 6, "b": 6}, size=16)
    shutil.copy(root / "a" / sorted(os.listdir(root / "a"))[0], root / "b" / "copy_of_a0.png")
    return root


def test_second_run_reads_nothing_and_changes_are_rehashed(tmp_path, data):
    found = discover(data)
    hasher = CountingHasher()
    cache = HashCache(tmp_path / "w" / "hashes", hasher)
    first = scan(found.candidates, {}, cache)
    assert len(hasher.paths) == 13 and cache.hashed == 13
    cache.save(None)

    again = CountingHasher()
    cache2 = HashCache(tmp_path / "w" / "hashes", again)
    second = scan(found.candidates, {}, cache2)
    assert again.paths == [] and cache2.hits == 13
    assert second.digests == first.digests

    victim = sorted((data / "b").iterdir())[1]
    make_jpeg(victim, color=(1, 2, 3))  # new content, new mtime
    cache3 = HashCache(tmp_path / "w" / "hashes", again)
    third = scan(found.candidates, {}, cache3)
    assert again.paths == [victim]
    assert third.digests[f"b/{victim.name}"].sha256 != first.digests[f"b/{victim.name}"].sha256


def test_a_shard_hashes_only_its_own_files(tmp_path, data):
    found = discover(data)
    hasher = CountingHasher()
    shard = Shard(1, 3)
    sc = scan(found.candidates, {}, HashCache(tmp_path / "h", hasher), shard=shard)
    mine = {c.sample_id for c in owned(found.candidates, shard)}
    assert 0 < len(mine) < 13
    assert set(sc.digests) == mine
    assert sorted(map(str, hasher.paths)) == sorted(str(data / s) for s in mine)


def test_global_scan_needs_every_shard_and_finds_cross_shard_duplicates(tmp_path, data):
    found = discover(data)
    cands = found.candidates
    count = 4
    caches = tmp_path / "h"
    done: dict[str, set[str]] = {}
    scans = []
    for i in range(count):
        cache = HashCache(caches)
        sc = scan(cands, done, cache, shard=Shard(i, count))
        cache.save(Shard(i, count))
        scans.append(sc)
        last = global_scan(cands, done, HashCache(caches), sc, count=count)
        # nothing is embedded yet: never complete
        assert last is None
    for sc in scans:  # "embed" every shard's todo
        for c in todo(cands, sc, set()):
            done.setdefault(sc.digests[c.sample_id].sha256, set()).add(c.sample_id)
    full = scan(cands, {}, HashCache(tmp_path / "fresh"))
    merged = global_scan(cands, done, HashCache(caches), scans[0], count=count)
    assert merged is not None
    assert merged.canonical == full.canonical
    dup = "b/copy_of_a0.png"
    assert merged.canonical[dup] == min(merged.canonical[dup], dup) != dup
    assert [len(c.sample_ids) for c in merged.conflicts] == [2]


def test_unreadable_files_are_cached_until_they_become_readable(tmp_path, data):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    victim = data / "a" / sorted(os.listdir(data / "a"))[2]
    victim.chmod(0)
    try:
        cands = discover(data).candidates
        cache = HashCache(tmp_path / "h")
        sc = scan(cands, {}, cache)
        assert sc.digests[f"a/{victim.name}"].reason == Reason.unreadable
        cache.save(None)
        hasher = CountingHasher()
        scan(cands, {}, HashCache(tmp_path / "h", hasher))
        assert hasher.paths == []
        victim.chmod(0o644)
        scan(cands, {}, HashCache(tmp_path / "h", hasher))
        assert hasher.paths == [victim]
    finally:
        victim.chmod(0o644)


def test_a_full_run_replaces_the_shard_cache_files(tmp_path, data):
    cands = discover(data).candidates
    for i in range(2):
        cache = HashCache(tmp_path / "h")
        scan(cands, {}, cache, shard=Shard(i, 2))
        cache.save(Shard(i, 2))
    assert len(list((tmp_path / "h").glob("hashes-*.parquet"))) == 2
    cache = HashCache(tmp_path / "h", CountingHasher())
    scan(cands, {}, cache)
    assert cache.hashed == 0
    cache.save(None)
    assert [p.name for p in (tmp_path / "h").glob("hashes-*.parquet")] == ["hashes-00000-of-00001.parquet"]
