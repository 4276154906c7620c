"""WebDataset tars and Parquet files with image bytes: discovery, member bytes, reasons."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from containergen import jpeg_bytes, write_tar
from labelclean.core.errors import InputError
from labelclean.core.reasons import Reason
from labelclean.ingest.decode import load_rgb_bytes
from labelclean.ingest.discover import discover
from labelclean.ingest.members import container_digests, read_member, shard_key


@pytest.fixture
def shards(tmp_path):
    root = tmp_path / "wds"
    write_tar(root / "train-000.tar", {
        "k0.jpg": jpeg_bytes((200, 0, 0)), "k0.cls": b"3\n", "k0.json": json.dumps({"name": "cat"}).encode(),
        "k1.png": jpeg_bytes((0, 200, 0)), "k1.cls": b"1",  # a JPEG named .png: content decides
        "k2.cls": b"1",  # no image
        "k3.webp": b"not an image at all", "k3.cls": b"2",
    })
    write_tar(root / "train-001.tar", {"dir/k4.jpg": jpeg_bytes((0, 0, 200)), "dir/k4.txt": b"dog",
                                       "k5.jpg": jpeg_bytes((9, 9, 9))})
    return root


def test_webdataset_members_get_ids_labels_and_reasons(shards):
    found = discover(shards)
    assert found.kind == "webdataset" and found.root == shards
    by_id = {c.sample_id: c for c in found.candidates}
    assert sorted(by_id) == ["train-000.tar/k0", "train-000.tar/k1", "train-000.tar/k2", "train-000.tar/k3",
                             "train-001.tar/dir/k4", "train-001.tar/k5"]
    assert by_id["train-000.tar/k0"].label == "3" and by_id["train-000.tar/k0"].status is None
    assert by_id["train-000.tar/k2"].status == Reason.not_image
    assert "no .jpg/.jpeg/.png/.webp member" in by_id["train-000.tar/k2"].detail
    assert by_id["train-001.tar/dir/k4"].label == "dog"
    assert by_id["train-001.tar/k5"].status == Reason.unlabeled
    assert [c.name for c in found.classes] == ["1", "2", "3", "dog"]

    k0 = by_id["train-000.tar/k0"]
    data = read_member(k0.path, k0.member)
    assert load_rgb_bytes(data).reason == Reason.ok
    k3 = by_id["train-000.tar/k3"]
    assert load_rgb_bytes(read_member(k3.path, k3.member)).reason == Reason.not_image
    assert shard_key(k0.sample_id, k0.member) == "train-000.tar"
    assert shard_key("a/b.jpg", None) == "a/b.jpg"
    k4 = by_id["train-001.tar/dir/k4"]
    assert shard_key(k4.sample_id, k4.member) == "train-001.tar"  # keys may hold '/'
    assert shard_key("sub/x.parquet/0001", "pq:0:1:jpg") == "sub/x.parquet"


def test_json_label_field_and_bad_option(shards):
    found = discover(shards / "train-000.tar", label_field="json:name")
    by_id = {c.sample_id: c for c in found.candidates}
    assert by_id["train-000.tar/k0"].label == "cat"
    assert by_id["train-000.tar/k1"].status == Reason.unlabeled
    assert by_id["train-000.tar/k1"].detail == "no label: the key has no .json member"
    with pytest.raises(InputError, match=r"--label-field nope is not cls, txt, json:FIELD or auto"):
        discover(shards, label_field="nope")


def test_container_digests_read_each_member_once(shards):
    found = discover(shards)
    members = [c for c in found.candidates if c.path.name == "train-000.tar" and c.member]
    digests = container_digests(members[0].path, [c.member for c in members])
    import hashlib

    for c in members:
        assert digests[c.member].sha256 == hashlib.sha256(read_member(c.path, c.member)).hexdigest()


def test_truncated_tar_keeps_members_before_the_damage(tmp_path):
    tar = write_tar(tmp_path / "d" / "x.tar", {f"k{i}.{e}": jpeg_bytes((i, i, i)) if e == "jpg" else b"1"
                                                  for i in range(3) for e in ("jpg", "cls")})
    raw = tar.read_bytes()
    tar.write_bytes(raw[:5120])  # cut on a member boundary: no end-of-archive marker
    found = discover(tar, label_field="auto")
    assert {c.sample_id: c.status for c in found.candidates}["x.tar/"] == Reason.truncated
    tar.write_bytes(raw[:3500])  # cut inside k1.jpg
    found = discover(tar, label_field="auto")
    statuses = {c.sample_id: c.status for c in found.candidates}
    assert statuses["x.tar/"] == Reason.truncated
    assert statuses["x.tar/k0"] is None and len(statuses) < 4


def test_parquet_with_image_bytes(tmp_path):
    path = tmp_path / "pq" / "part-00000.parquet"
    path.parent.mkdir()
    images = [jpeg_bytes((200, 0, 0)), None, jpeg_bytes((0, 200, 0)), b"garbage"]
    table = pa.table({
        "key": ["000", "001", "002", "003"],
        "jpg": pa.array(images, pa.binary()),
        "label": [0, 1, None, 1],
        "caption": ["a", "b", "c", "d"],
    })
    meta = {b"huggingface": json.dumps({"info": {"features": {"label": {"names": ["cat", "dog"]}}}}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path, row_group_size=2)
    found = discover(path.parent)
    assert found.kind == "parquet-images" and found.extra_columns == ["caption"]
    by_id = {c.sample_id: c for c in found.candidates}
    assert [by_id[f"part-00000.parquet/00{i}"].label for i in range(4)] == ["cat", "dog", None, "dog"]
    assert by_id["part-00000.parquet/002"].status == Reason.unlabeled
    assert by_id["part-00000.parquet/003"].member == "pq:1:1:jpg"
    assert by_id["part-00000.parquet/000"].extras == {"caption": "a"}
    digests = container_digests(path, [c.member for c in found.candidates])
    assert digests["pq:0:1:jpg"].reason == Reason.empty
    assert load_rgb_bytes(read_member(path, "pq:1:1:jpg")).reason == Reason.not_image
    assert load_rgb_bytes(read_member(path, "pq:0:0:jpg")).image.size == (20, 20)


def test_a_plain_parquet_manifest_is_still_a_manifest(tmp_path):
    img = tmp_path / "a.jpg"
    img.write_bytes(jpeg_bytes((1, 2, 3)))
    pq.write_table(pa.table({"path": ["a.jpg"], "label": ["x"]}), tmp_path / "m.parquet")
    assert discover(tmp_path / "m.parquet").kind == "parquet"
