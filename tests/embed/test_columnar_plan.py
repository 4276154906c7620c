"""embed's hashing plan as columns (embed.digests, embed.plan, embed.hashcache): the same
decisions as one FileDigest per file, without a Python object per file."""

from __future__ import annotations

import hashlib
import random
import tracemalloc

import numpy as np
import pyarrow as pa
import pytest

from containergen import jpeg_bytes, write_tar
from labelclean.core.reasons import Reason
from labelclean.embed.digests import Digests, DigestBuilder, Done, done_mask, hex_array, sha_arrays
from labelclean.embed.hashcache import HashCache
from labelclean.embed.outputs import build_manifest, missing_canonical
from labelclean.embed.plan import Shard, global_scan, scan, todo
from labelclean.ingest.decode import FileDigest, file_digest
from labelclean.ingest.discover import discover


def test_hex_digests_round_trip_with_nulls_and_bad_values():
    hexes = [hashlib.sha256(bytes([k])).hexdigest() for k in range(6)]
    values = ["skip"] + hexes[:3] + [None, "not hex", hexes[3].upper()] + hexes[4:]
    sha, valid = sha_arrays(pa.array(values).slice(1))  # a slice: offsets not from zero
    assert valid.tolist() == [True, True, True, False, False, True, True, True]
    assert hex_array(sha, valid).to_pylist() == hexes[:3] + [None, None] + [hexes[3]] + hexes[4:]


def test_digests_read_as_a_mapping_sorted_or_not():
    ids = ["b", "a", "c"]
    b = DigestBuilder(pa.array(ids))
    found = {"b": FileDigest(hashlib.sha256(b"b").hexdigest(), 1, Reason.ok, ""),
             "a": FileDigest(None, None, Reason.missing, "cannot stat the file: gone"),
             "c": FileDigest(hashlib.sha256(b"").hexdigest(), 0, Reason.empty, "the file is empty (0 bytes)")}
    for k, s in enumerate(ids):
        b.set(k, found[s])
    d = b.out
    assert dict(d) == found and list(d) == ids and "a" in d and "z" not in d
    ordered = d.take(np.array([1, 0, 2]))  # sorted ids: found by binary search
    assert list(ordered) == ["a", "b", "c"] and ordered["c"] == found["c"]
    with pytest.raises(KeyError):
        ordered["bb"]
    assert Digests.empty(2, pa.array(["x", "y"]))["y"] is None  # unknown: not hashed, not cached
    both = Digests.concat([d.take(np.array([0])), ordered.take(np.array([0, 2]))])
    assert dict(both) == {"b": found["b"], "a": found["a"], "c": found["c"]}


def test_done_pairs_join_on_id_and_digest_and_null_digests_match(tmp_path):
    h = [hashlib.sha256(bytes([k])).hexdigest() for k in range(3)]
    done = Done(pa.table({"sample_id": ["a", "b", "a", "c"], "sha256": [h[0], None, h[0], h[1]],
                          "status": ["ok", "ok", "corrupt", "ok"], "detail": ["", "", "late", ""],
                          "width": pa.array([1, 2, 3, 4], pa.int32()), "height": pa.array([1, 2, 3, 4], pa.int32())}))
    sha, valid = sha_arrays(pa.array([h[0], None, h[2], h[1], None]))
    rows = done.rows(pa.array(["a", "b", "a", "a", "c"]), sha, valid)
    assert rows.tolist() == [2, 1, -1, -1, -1]  # the last finished row of a pair wins
    assert done.column("detail", rows).to_pylist() == ["late", "", None, None, None]
    b = DigestBuilder(pa.array(["a", "b", "c"]))
    for k, (s, x) in enumerate([(h[0], Reason.ok), (None, Reason.ok), (h[2], Reason.ok)]):
        b.set(k, FileDigest(s, 1, x, ""))
    as_mapping = {h[0]: {"a"}, None: {"b"}}
    assert done_mask(done, b.out.ids, b.out).tolist() == done_mask(as_mapping, b.out.ids, b.out).tolist() \
        == [True, True, False]
    assert done_mask({("a", h[0])}, b.out.ids, b.out).tolist() == [True, False, False]


@pytest.fixture
def files(tmp_path):
    """60 small files in 3 classes: 20 distinct contents, some copied across classes with
    other labels, two empty files and one missing entry in the manifest."""
    rng = random.Random(3)
    root = tmp_path / "data"
    rows = []
    for k in range(60):
        label = f"c{k % 3}"
        path = root / label / f"f{k:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"" if k in (7, 8) else f"content-{rng.randrange(20)}".encode())
        rows.append(f"{label}/{path.name},{label}\n")
    (root / "m.csv").write_text("path,label\n" + "".join(rows) + "c0/gone.bin,c0\n")
    return root


def reference(cands):
    """The plan the way it was made before it was columnar: a FileDigest per file, then the
    smallest sample_id per content."""
    digests = {c.sample_id: file_digest(c.path) for c in cands if c.status is None}
    canonical = {s: s for s, d in digests.items() if d.reason == Reason.ok}
    by_hash: dict[str, list[str]] = {}
    for s, d in digests.items():
        if d.reason == Reason.ok:
            by_hash.setdefault(d.sha256, []).append(s)
    for same in by_hash.values():
        canonical.update({s: min(same) for s in same})
    return digests, canonical


def test_scan_makes_the_plan_a_digest_per_file_makes(tmp_path, files):
    found = discover(files / "m.csv")
    digests, canonical = reference(found.candidates)
    sc = scan(found.candidates, {}, HashCache(tmp_path / "h"))
    assert dict(sc.digests) == digests and dict(sc.canonical) == canonical
    assert sc.n_duplicates == sum(s != c for s, c in canonical.items())
    labels = {c.sample_id: c.label for c in found.candidates}
    assert sorted(sorted(c.sample_ids) for c in sc.conflicts) == sorted(
        sorted(g) for g in ({s for s, c in canonical.items() if c == k} for k in set(canonical.values()))
        if len(g) > 1 and len({labels[s] for s in g}) > 1)
    assert sc.sha256_of(found.candidates[:3]) == {c.sample_id: digests[c.sample_id].sha256
                                                  for c in found.candidates[:3]}


def test_shards_then_global_scan_and_manifest_equal_a_full_run(tmp_path, files):
    found = discover(files / "m.csv")
    cands = found.candidates
    caches = tmp_path / "h"
    scans = []
    for i in range(3):
        cache = HashCache(caches)
        scans.append(scan(cands, {}, cache, shard=Shard(i, 3)))
        cache.save(Shard(i, 3))
    rows = []  # "embed" every shard's todo as a part file would record it
    for sc in scans:
        for c in todo(cands, sc, set()):
            rows.append((c.sample_id, sc.digests[c.sample_id].sha256, "ok", "", 8, 8))
    done = Done(pa.table({n: pa.array([r[k] for r in rows], t) for k, (n, t) in enumerate(
        [("sample_id", pa.string()), ("sha256", pa.string()), ("status", pa.string()), ("detail", pa.string()),
         ("width", pa.int32()), ("height", pa.int32())])}))
    reader = HashCache(caches, hasher=lambda p: pytest.fail(f"read {p}"))
    merged = global_scan(cands, done, reader, scans[1], count=3)
    full = scan(cands, {}, HashCache(tmp_path / "fresh"))
    assert merged is not None and dict(merged.canonical) == dict(full.canonical)
    assert missing_canonical(merged, done) == [] and len(todo(cands, merged, done)) == 0
    table = build_manifest(found, merged, done, features=False).to_pylist()
    by_id = {r["sample_id"]: r for r in table}
    digests, canonical = reference(cands)
    for s, d in digests.items():
        r = by_id[s]
        assert (r["sha256"], r["size_bytes"]) == (d.sha256, d.size)
        if d.reason == Reason.ok:
            assert (r["status"], r["width"]) == ("ok", 8)
            assert r["duplicate_of"] == (canonical[s] if canonical[s] != s else None)
        else:
            assert (r["status"], r["detail"], r["width"]) == (d.reason.value, d.detail, None)
    assert by_id["c0/gone.bin"]["status"] == "missing" and by_id["c0/gone.bin"]["sha256"] is None
    assert [r["label_id"] for r in table[:3]] == [0, 0, 0]


def test_tar_members_are_cached_by_their_container(tmp_path):
    members = {f"k{k:02d}.jpg": jpeg_bytes((k * 9, 0, 0)) for k in range(12)}
    members.update({f"k{k:02d}.cls": f"c{k % 2}".encode() for k in range(12)})
    members["k12.jpg"] = members["k00.jpg"]  # the same image twice
    members["k12.cls"] = b"c1"
    write_tar(tmp_path / "data" / "a.tar", members)
    cands = discover(tmp_path / "data").candidates
    first = HashCache(tmp_path / "h")
    sc = scan(cands, {}, first)
    assert first.hashed == 13 and sc.canonical["a.tar/k12"] == "a.tar/k00" and len(sc.conflicts) == 1
    first.save(None)
    again = HashCache(tmp_path / "h")
    assert dict(scan(cands, {}, again).digests) == dict(sc.digests) and (again.hashed, again.hits) == (0, 13)


def test_the_plan_keeps_no_python_object_per_file(tmp_path):
    root = tmp_path / "data"
    n = 6000
    for k in range(n):
        path = root / f"c{k % 4}" / f"f{k:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x%d" % (k % (n // 2)))  # every content twice
    cands = discover(root).candidates
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sc = scan(cands, {}, HashCache(None))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert sc.n_duplicates == n // 2 and len(sc.conflicts) == n // 2 - sum(
        1 for k in range(n // 2) if k % 4 == (k + n // 2) % 4)
    assert kept / n < 150, f"{kept / n:.0f} bytes per file kept by the plan"  # a dict per file keeps ~500


def test_an_unreadable_entry_is_reused_only_while_the_file_stays_unreadable(tmp_path, files, monkeypatch):
    import labelclean.embed.hashcache as hc

    victim = files / "c1" / "f001.bin"
    cands = discover(files / "m.csv").candidates
    readable = {"now": False}
    monkeypatch.setattr(hc.os, "access", lambda p, mode: readable["now"] or str(p) != str(victim))

    def hasher(path):
        if str(path) == str(victim) and not readable["now"]:
            return FileDigest(None, None, Reason.unreadable, "cannot open the file: Permission denied")
        return file_digest(path)

    first = HashCache(tmp_path / "h", hasher)
    assert scan(cands, {}, first).digests["c1/f001.bin"].reason == Reason.unreadable
    first.save(None)
    again = HashCache(tmp_path / "h", lambda p: pytest.fail(f"read {p}"))
    d = scan(cands, {}, again).digests["c1/f001.bin"]
    assert (d.reason, d.detail) == (Reason.unreadable, "cannot open the file: Permission denied")
    readable["now"] = True
    third = HashCache(tmp_path / "h", hasher)
    assert scan(cands, {}, third).digests["c1/f001.bin"].reason == Reason.ok and third.hashed == 1


def test_with_features_a_missing_file_is_planned_without_a_digest_and_finished_by_a_null_one(tmp_path, files):
    found = discover(files / "m.csv")
    sc = scan(found.candidates, {}, HashCache(None), features=True)
    gone = sc.digests["c0/gone.bin"]
    assert (gone.sha256, gone.reason, gone.detail) == (None, Reason.ok, "")
    assert sc.canonical["c0/gone.bin"] == "c0/gone.bin"
    rows = [(c.sample_id, sc.digests[c.sample_id].sha256) for c in todo(found.candidates, sc, set())]
    assert ("c0/gone.bin", None) in rows
    done = Done(pa.table({"sample_id": [s for s, _ in rows], "sha256": pa.array([h for _, h in rows], pa.string()),
                          "status": ["no_features" if s == "c0/gone.bin" else "ok" for s, _ in rows],
                          "detail": [""] * len(rows), "width": pa.nulls(len(rows), pa.int32()),
                          "height": pa.nulls(len(rows), pa.int32())}))
    assert len(todo(found.candidates, sc, done)) == 0 and missing_canonical(sc, done) == []
    by_id = {r["sample_id"]: r for r in build_manifest(found, sc, done, features=True).to_pylist()}
    assert (by_id["c0/gone.bin"]["status"], by_id["c0/gone.bin"]["sha256"]) == ("no_features", None)
    assert by_id["c1/f007.bin"]["status"] == "ok"  # an empty file is not deduplicated, but usable, with features
