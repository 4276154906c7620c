"""Tar and Parquet image containers are listed as a stream (ingest.webdataset,
ingest.parquet_images): the same rows whatever the order of a tar's members, no TarInfo
kept per member, and --classes applied while rows are added."""

from __future__ import annotations

import tarfile
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq

from containergen import jpeg_bytes, write_tar
from labelclean.core.reasons import Reason
from labelclean.ingest import webdataset as wds
from labelclean.ingest.discover import discover
from labelclean.ingest.members import container_digests, member_digests


def rows(found):
    return [(c.sample_id, c.label, c.status, c.detail, c.member is not None) for c in found.candidates]


def test_a_tar_with_scattered_keys_lists_like_one_with_consecutive_keys(tmp_path):
    image = {k: jpeg_bytes((40 * k, 0, 0)) for k in range(4)}
    together = {}
    for k in range(4):
        together[f"k{k}.jpg"] = image[k]
        together[f"k{k}.cls"] = f"c{k % 2}".encode()
    scattered = {**{f"k{k}.jpg": image[k] for k in range(4)}, **{f"k{k}.cls": f"c{k % 2}".encode() for k in range(4)}}
    a = discover(write_tar(tmp_path / "a" / "x.tar", together))
    b = discover(write_tar(tmp_path / "b" / "x.tar", scattered))
    assert rows(a) == rows(b) and [r[1] for r in rows(a)] == ["c0", "c1", "c0", "c1"]
    assert all(r[2] is None for r in rows(a))


def test_listing_a_tar_keeps_no_member_objects(tmp_path):
    n = 3000
    members = {}
    for k in range(n):
        members[f"{k:05d}.jpg"] = b"\xff\xd8" + bytes([k % 256]) * 20
        members[f"{k:05d}.cls"] = b"1"
    tar = write_tar(tmp_path / "d" / "big.tar", members)
    with open(tar, "rb") as f, tarfile.open(fileobj=f, mode="r:") as tf:
        assert sum(1 for _ in wds._headers(tf)) == 2 * n and tf.members == []
    discover(write_tar(tmp_path / "warm" / "w.tar", {"a.jpg": b"\xff\xd8", "a.cls": b"1"}))  # imports
    tracemalloc.start()
    try:
        found = discover(tmp_path / "d")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(found.candidates) == n
    assert peak / n < 600, f"{peak / n:.0f} bytes per member at the peak"  # a TarInfo and a Candidate per member: ~1500


def test_classes_file_and_a_damaged_tar_while_streaming(tmp_path):
    members = {}
    for k in range(3):
        members[f"k{k}.jpg"] = jpeg_bytes((k, k, k))
        members[f"k{k}.cls"] = f"c{k}".encode()
    tar = write_tar(tmp_path / "d" / "x.tar", members)
    classes = tmp_path / "classes.txt"
    classes.write_text("c0\nc2\n")
    found = discover(tmp_path / "d", classes_file=classes)
    by_id = {c.sample_id: c for c in found.candidates}
    assert by_id["x.tar/k1"].status is Reason.unlabeled and "'c1'" in by_id["x.tar/k1"].detail
    assert by_id["x.tar/k2"].status is None and [c.name for c in found.classes] == ["c0", "c2"]
    with tarfile.open(tar) as tf:
        third = tf.getmembers()[2]  # k1.jpg
    tar.write_bytes(tar.read_bytes()[:third.offset_data + 10])  # cut inside k1's image
    cut = {c.sample_id: c for c in discover(tmp_path / "d").candidates}
    assert cut["x.tar/"].status is Reason.truncated and "after 2 members" in cut["x.tar/"].detail
    assert sorted(cut) == ["x.tar/", "x.tar/k0"] and (cut["x.tar/k0"].label, cut["x.tar/k0"].status) == ("c0", None)


def test_parquet_rows_stream_with_extras_of_every_file(tmp_path):
    root = tmp_path / "pq"
    root.mkdir()
    pq.write_table(pa.table({"jpg": [jpeg_bytes((1, 2, 3))] * 3, "label": ["a", "b", None], "url": ["u0", "u1", "u2"]}),
                   root / "a.parquet", row_group_size=2)
    pq.write_table(pa.table({"jpg": [jpeg_bytes((3, 2, 1))], "label": ["b"], "score": [0.5]}), root / "b.parquet")
    classes = tmp_path / "classes.txt"
    classes.write_text("a\n")
    found = discover(root, classes_file=classes)
    assert found.extra_columns == ["url", "score"]
    got = {c.sample_id: (c.label, c.status, c.extras, c.member) for c in found.candidates}
    assert got == {
        "a.parquet/0": ("a", None, {"url": "u0", "score": None}, "pq:0:0:jpg"),
        "a.parquet/1": ("b", Reason.unlabeled, {"url": "u1", "score": None}, "pq:0:1:jpg"),
        "a.parquet/2": (None, Reason.unlabeled, {"url": "u2", "score": None}, "pq:1:0:jpg"),
        "b.parquet/0": ("b", Reason.unlabeled, {"url": None, "score": 0.5}, "pq:0:0:jpg"),
    }


def test_member_digests_stream_in_file_order_and_match_the_dict(tmp_path):
    members = {f"k{k}.jpg": jpeg_bytes((k, 0, 0)) for k in range(5)}
    tar = write_tar(tmp_path / "x.tar", {**members, **{f"k{k}.cls": b"1" for k in range(5)}})
    locators = [c.member for c in discover(tar).candidates][::-1]
    streamed = list(member_digests(tar, locators))
    assert [k for k, _ in streamed] == [4, 3, 2, 1, 0]  # file order
    assert {locators[k]: d for k, d in streamed} == container_digests(tar, locators)
    tar.write_bytes(tar.read_bytes()[:2000])  # the later members are cut off
    cut = dict(member_digests(tar, locators))
    assert cut[4].reason is Reason.ok and cut[0].reason is Reason.truncated
