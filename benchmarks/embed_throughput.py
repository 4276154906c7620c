"""End-to-end `labelclean embed` throughput against the model's pure forward throughput.

Run from the repository root (takes a few minutes on a 2-core machine)::

    .venv/bin/python benchmarks/embed_throughput.py [--tar PATH] [--workers N] [--batch-size B]

What it measures, in one run on one machine (ViT-B-32, random weights, 224 px, bf16
autocast on a CPU with native bf16, else fp32):

1. pure forward: ``Encoder.encode_images`` on pre-made tensors, batch 64, warm-up excluded;
2. ``labelclean embed`` in a subprocess on the 1000 real JPEGs of imagenette-1k.tar (a
   fresh workdir): images/s of the embedding phase (decode + preprocess + forward + write)
   and of the whole stage after the model is loaded (hashing, embedding, manifest, text);
3. pure forward again, to see whether the machine's load changed during the run;
4. peak RSS of ``labelclean embed`` on 500 and on 1000 images (it should not grow).

Target: embedding-phase images/s >= 85 % of pure forward. The random ViT-B-32 weights are
saved to a temporary .safetensors file and passed as ``--pretrained FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TAR = REPO.parent / "shared" / "data" / "imagenette-1k.tar"
RSS_WRAPPER = (
    "import atexit, os, resource, runpy, sys\n"
    "out = os.environ['LC_BENCH_RSS']\n"
    "atexit.register(lambda: open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))\n"
    "sys.argv = ['labelclean'] + sys.argv[1:]\n"
    "runpy.run_module('labelclean', run_name='__main__')\n"
)


def main() -> int:
    args = _parse()
    if not args.tar.exists():
        print(f"SKIP: {args.tar} is absent; pass --tar PATH to an imagenette-1k.tar", flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
        tmp = Path(tmp)
        images = _extract(args.tar, tmp / "data")
        weights = _random_weights(tmp / "vitb32-random.safetensors")
        print(f"{len(images)} JPEGs; load average before: {_load()}", flush=True)
        fwd1 = pure_forward(weights, args.batch_size, args.forward_batches)
        full = run_embed(tmp / "data", tmp / "w1000", weights, args)
        fwd2 = pure_forward(weights, args.batch_size, args.forward_batches)
        half = run_embed(_subset(images, tmp / "data500", 500), tmp / "w500", weights, args)
        _report(fwd1, fwd2, full, half)
    return 0


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tar", type=Path, default=DEFAULT_TAR)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=None, help="default: labelclean's automatic choice")
    p.add_argument("--forward-batches", type=int, default=8)
    return p.parse_args()


def _extract(tar: Path, dest: Path) -> list[Path]:
    dest.mkdir(parents=True)
    with tarfile.open(tar) as t:
        t.extractall(dest, filter="data")
    roots = [p for p in dest.iterdir() if p.is_dir()]
    if len(roots) == 1 and all(q.is_dir() for q in roots[0].iterdir()):
        for q in roots[0].iterdir():
            q.rename(dest / q.name)
        roots[0].rmdir()
    return sorted(p for p in dest.rglob("*") if p.is_file())


def _subset(images: list[Path], dest: Path, n: int) -> Path:
    for src in images[:: max(1, len(images) // n)][:n]:
        link = dest / src.parent.name / src.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(src)
    return dest


def _random_weights(path: Path) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def pure_forward(weights: Path, batch_size: int, batches: int) -> dict:
    import torch

    from labelclean.model.encoder import load_encoder

    enc = load_encoder("ViT-B-32", str(weights), device="cpu", precision="auto")
    x = torch.randn(batch_size, 3, enc.image_size, enc.image_size)
    enc.encode_images(x)  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        enc.encode_images(x)
    seconds = time.perf_counter() - start
    return {"img_s": batch_size * batches / seconds, "precision": enc.precision, "threads": torch.get_num_threads()}


def run_embed(data: Path, workdir: Path, weights: Path, args: argparse.Namespace) -> dict:
    rss_file = workdir.parent / f"{workdir.name}.rss"
    cmd = [sys.executable, "-c", RSS_WRAPPER, "-q", "embed", str(data), "-w", str(workdir), "-m", "ViT-B-32",
           "--pretrained", str(weights), "--device", "cpu", "--batch-size", str(args.batch_size), "--json"]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LC_BENCH_RSS": str(rss_file)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"labelclean embed failed ({proc.returncode}):\n{proc.stderr}")
    report = json.loads(proc.stdout)
    s = report["summary"]
    after_load = sum(v for k, v in s["seconds"].items() if k != "load_model")
    return {
        "images": s["embedded_now"],
        "embed_img_s": s["images_per_s"],
        "stage_img_s": s["embedded_now"] / after_load,
        "wall_s": wall,
        "seconds": s["seconds"],
        "workers": s["workers"],
        "precision": s["precision"],
        "peak_rss_mb": int(rss_file.read_text()) / 1024,
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _report(fwd1: dict, fwd2: dict, full: dict, half: dict) -> None:
    fwd = max(fwd1["img_s"], fwd2["img_s"])
    print(f"pure forward (ViT-B-32 {fwd1['precision']}, {fwd1['threads']} threads): "
          f"{fwd1['img_s']:.1f} img/s before, {fwd2['img_s']:.1f} img/s after")
    print(f"labelclean embed, {full['images']} images, workers={full['workers']}, {full['precision']}: "
          f"embedding phase {full['embed_img_s']:.1f} img/s, whole stage after model load "
          f"{full['stage_img_s']:.1f} img/s, wall {full['wall_s']:.1f} s; phases {full['seconds']}")
    ratio = full["embed_img_s"] / fwd
    print(f"ratio embedding phase / best pure forward: {ratio:.1%} (target >= 85%: {'met' if ratio >= 0.85 else 'NOT met'})")
    print(f"ratio whole stage / best pure forward: {full['stage_img_s'] / fwd:.1%}")
    print(f"peak RSS: {half['images']} images {half['peak_rss_mb']:.0f} MB, "
          f"{full['images']} images {full['peak_rss_mb']:.0f} MB")
    print(f"load average after: {_load()} (2 cores shared with other work: absolute figures vary, ratios less)")


if __name__ == "__main__":
    sys.exit(main())
