"""End-to-end `labelclean embed` throughput against the model's pure forward throughput.

Run from the repository root::

    .venv/bin/python benchmarks/embed_throughput.py [--tar PATH | --generate N] [--model ViT-B-32]
        [--device cpu|cuda] [--precision auto|fp16|bf16|fp32] [--workers N] [--batch-size B]
        [--shards K] [--rerun] [--json OUT.json]

What it measures, in one run on one machine (random weights saved to a temporary
.safetensors file and passed as ``--pretrained FILE``):

1. pure forward: ``Encoder.encode_images`` on pre-made tensors, warm-up excluded;
2. ``labelclean embed`` in a subprocess on the real JPEGs of imagenette-1k.tar (default) or
   on ``--generate N`` JPEGs made by this script (noise + shapes, 256-320 px, quality 90),
   into a fresh workdir: images/s of the embedding phase (decode + preprocess + forward +
   write) and of the whole stage after the model is loaded;
3. pure forward again, to see whether the machine's load changed during the run;
4. ``--rerun``: the same command again on the same workdir, counting every ``open()`` of a
   file under the data folder (a Python audit hook in the subprocess): an unchanged folder
   should be read zero times (no hashing, no decoding);
5. ``--shards K``: K ``embed --shard I/K`` processes at once into one fresh workdir
   (wall-clock images/s of all of them together, CPU threads split between them);
6. peak RSS of ``labelclean embed`` on half and on all images (it should not grow; CPU only).

Target: embedding-phase images/s >= 85 % of pure forward.
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
WRAPPER = (
    "import atexit, json, os, resource, runpy, sys\n"
    "root = os.environ.get('LC_BENCH_DATA')\n"
    "opens = []\n"
    "def hook(event, args):\n"
    "    if event == 'open' and root and isinstance(args[0], str) and args[0].startswith(root) and os.getpid() == pid:\n"
    "        opens.append(args[0])\n"
    "pid = os.getpid()\n"
    "sys.addaudithook(hook)\n"
    "def done():\n"
    "    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "    json.dump({'rss_kb': rss, 'opens': len(opens), 'first_opens': opens[:5]}, open(os.environ['LC_BENCH_OUT'], 'w'))\n"
    "atexit.register(done)\n"
    "sys.argv = ['labelclean'] + sys.argv[1:]\n"
    "runpy.run_module('labelclean', run_name='__main__')\n"
)


def main() -> int:
    args = _parse()
    if args.generate is None and not args.tar.exists():
        print(f"SKIP: {args.tar} is absent; pass --tar PATH to an imagenette-1k.tar, or --generate N", flush=True)
        return 0
    result: dict = {"model": args.model, "device": args.device, "load_before": _load()}
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
        tmp = Path(tmp)
        if args.generate is not None:
            images = generate_jpegs(tmp / "data", args.generate, args.classes)
        else:
            images = _extract(args.tar, tmp / "data")
        weights = random_weights(args.model, tmp / "random.safetensors")
        print(f"{len(images)} JPEGs; {args.model} on {args.device}; load average before: {_load()}", flush=True)
        result["forward_before"] = pure_forward(weights, args)
        result["embed"] = run_embed(tmp / "data", tmp / "w-all", weights, args)
        result["forward_after"] = pure_forward(weights, args)
        if args.rerun:
            result["rerun"] = run_embed(tmp / "data", tmp / "w-all", weights, args)
        if args.shards:
            result["shards"] = run_shards(tmp / "data", tmp / "w-shards", weights, args)
        if args.rss:
            result["embed_half"] = run_embed(_subset(images, tmp / "data-half", len(images) // 2), tmp / "w-half",
                                             weights, args)
    result["load_after"] = _load()
    _report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tar", type=Path, default=DEFAULT_TAR)
    p.add_argument("--generate", type=int, default=None, help="make N JPEGs instead of using --tar")
    p.add_argument("--classes", type=int, default=10, help="class folders for --generate")
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--batch-size", type=int, default=None, help="default: labelclean's automatic choice")
    p.add_argument("--workers", type=int, default=None, help="default: labelclean's automatic choice")
    p.add_argument("--forward-batches", type=int, default=8)
    p.add_argument("--shards", type=int, default=0, help="also run K concurrent shard processes")
    p.add_argument("--rerun", action="store_true", help="re-run on the unchanged folder, counting file opens")
    p.add_argument("--rss", action=argparse.BooleanOptionalAction, default=None,
                   help="peak RSS on half the images too (default: on for cpu)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.rss is None:
        args.rss = args.device == "cpu"
    return args


def generate_jpegs(dest: Path, n: int, classes: int, seed: int = 0) -> list[Path]:
    """N distinct JPEGs (seeded noise under a coloured ellipse), made by a process pool."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(dest / f"class_{i % classes:03d}" / f"img_{i:07d}.jpg", seed + i) for i in range(n)]
    for c in range(min(n, classes)):
        (dest / f"class_{c:03d}").mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1)) as pool:
        list(pool.map(_one_jpeg, jobs, chunksize=64))
    return [p for p, _ in jobs]


def _one_jpeg(job: tuple[Path, int]) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    path, seed = job
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(256, 321)), int(rng.integers(256, 321))
    img = Image.fromarray(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)).resize((w, h))
    ImageDraw.Draw(img).ellipse([w // 5, h // 5, w * 4 // 5, h * 4 // 5], fill=tuple(int(x) for x in rng.integers(0, 256, 3)))
    img.save(path, "JPEG", quality=90)


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
        os.link(src, link)  # a hard link: discovery refuses symlinks leading out of the data root
    return dest


def random_weights(model_name: str, path: Path) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model(model_name, pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def pure_forward(weights: Path, args: argparse.Namespace) -> dict:
    import torch

    from labelclean.embed.images import auto_batch_size
    from labelclean.model.encoder import load_encoder

    enc = load_encoder(args.model, str(weights), device=args.device, precision=args.precision)
    batch = args.batch_size or auto_batch_size(enc.device.type, enc.model)
    x = torch.randn(batch, 3, enc.image_size, enc.image_size)
    if enc.device.type == "cuda":
        x = x.to(enc.device)
    enc.encode_images(x)  # warm-up (encode_images returns numpy: it synchronises)
    start = time.perf_counter()
    for _ in range(args.forward_batches):
        enc.encode_images(x)
    seconds = time.perf_counter() - start
    out = {"img_s": batch * args.forward_batches / seconds, "precision": enc.precision, "batch_size": batch,
           "threads": torch.get_num_threads()}
    del enc
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def _embed_cmd(data: Path, workdir: Path, weights: Path, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-c", WRAPPER, "-q", "embed", str(data), "-w", str(workdir), "-m", args.model,
           "--pretrained", str(weights), "--device", args.device, "--precision", args.precision, "--json"]
    if args.batch_size is not None:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    return cmd


def _env(data: Path, out: Path, threads: int | None = None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LC_BENCH_OUT": str(out), "LC_BENCH_DATA": str(data.resolve())}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_embed(data: Path, workdir: Path, weights: Path, args: argparse.Namespace) -> dict:
    out = workdir.parent / f"{workdir.name}.{time.monotonic_ns()}.json"
    start = time.perf_counter()
    proc = subprocess.run(_embed_cmd(data, workdir, weights, args), env=_env(data, out), capture_output=True,
                          text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"labelclean embed failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return _summary(json.loads(proc.stdout), json.loads(out.read_text()), wall)


def _summary(report: dict, probe: dict, wall: float) -> dict:
    s = report["summary"]
    after_load = sum(v for k, v in s["seconds"].items() if k != "load_model")
    return {
        "images": s["embedded_now"],
        "hashed_now": s.get("hashed_now"),
        "embed_img_s": s["images_per_s"],
        "stage_img_s": s["embedded_now"] / after_load if after_load else None,
        "wall_s": round(wall, 2),
        "seconds": s["seconds"],
        "workers": s.get("workers"),
        "batch_size": s.get("batch_size"),
        "precision": s.get("precision"),
        "model_loaded": s.get("model_loaded"),
        "peak_rss_mb": round(probe["rss_kb"] / 1024),
        "data_file_opens": probe["opens"],
        "first_opens": probe["first_opens"],
    }


def run_shards(data: Path, workdir: Path, weights: Path, args: argparse.Namespace) -> dict:
    k = args.shards
    threads = max(1, (os.cpu_count() or 1) // k) if args.device == "cpu" else None
    procs, outs = [], []
    start = time.perf_counter()
    for i in range(k):
        out = workdir.parent / f"{workdir.name}-{i}.json"
        outs.append(out)
        cmd = _embed_cmd(data, workdir, weights, args) + ["--shard", f"{i}/{k}"]
        procs.append(subprocess.Popen(cmd, env=_env(data, out, threads), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=REPO))
    results = [p.communicate() + (p.returncode,) for p in procs]
    wall = time.perf_counter() - start
    for stdout, stderr, rc in results:
        if rc != 0:
            raise SystemExit(f"a shard failed ({rc}):\n{stderr[-3000:]}")
    per = [_summary(json.loads(o), json.loads(f.read_text()), wall) for (o, _, _), f in zip(results, outs)]
    images = sum(p["images"] for p in per)
    return {"shards": k, "threads_each": threads, "images": images, "wall_s": round(wall, 2),
            "img_s_wall": round(images / wall, 2), "per_shard": per}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _report(r: dict) -> None:
    f1, f2, e = r["forward_before"], r["forward_after"], r["embed"]
    fwd = max(f1["img_s"], f2["img_s"])
    print(f"pure forward ({r['model']} {f1['precision']}, batch {f1['batch_size']}, {f1['threads']} threads): "
          f"{f1['img_s']:.1f} img/s before, {f2['img_s']:.1f} img/s after")
    print(f"labelclean embed, {e['images']} images, workers={e['workers']}, batch {e['batch_size']}, "
          f"{e['precision']}: embedding phase {e['embed_img_s']:.1f} img/s, whole stage after model load "
          f"{e['stage_img_s']:.1f} img/s, wall {e['wall_s']:.1f} s; phases {e['seconds']}")
    ratio = e["embed_img_s"] / fwd
    r["ratio_embed_to_forward"] = round(ratio, 3)
    print(f"ratio embedding phase / best pure forward: {ratio:.1%} (target >= 85%: {'met' if ratio >= 0.85 else 'NOT met'})")
    if "rerun" in r:
        x = r["rerun"]
        print(f"re-run on the unchanged folder: embedded {x['images']}, hashed {x['hashed_now']}, "
              f"{x['data_file_opens']} opens of data files, model loaded: {x['model_loaded']}, wall {x['wall_s']} s")
    if "shards" in r:
        s = r["shards"]
        print(f"{s['shards']} concurrent shards ({s['threads_each']} threads each): {s['images']} images in "
              f"{s['wall_s']} s = {s['img_s_wall']} img/s; per shard embedded "
              f"{[p['images'] for p in s['per_shard']]}")
    if "embed_half" in r:
        h = r["embed_half"]
        print(f"peak RSS: {h['images']} images {h['peak_rss_mb']} MB, {e['images']} images {e['peak_rss_mb']} MB")
    print(f"load average before {r['load_before']}, after {r['load_after']}")


if __name__ == "__main__":
    sys.exit(main())
