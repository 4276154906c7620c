"""`train --method css` against `train --method mixfix` on the demo domain at 40 % noise (a script).

Same backbone (timm resnet10t from scratch), image size (32 px), epochs, batch size, lr and
schedule for both methods; CSS without pre-training (``--pretrain-epochs 0``), 2 of its epochs
CE warm-up, the paper's prompt training (``--prompt-training ssl``, through the CLIP image tower;
``sl``, on cached embeddings, is the cheaper CPU variant) with the prompt guard on (train's
default; ``--no-prompt-guard`` for the paper's method as written). Per seed:

1. ``size`` demo images of ``--domain`` (hard: domain gap, each class flipped to its look-alike;
   easy: symmetric flips), ``--noise`` of them mislabelled, and a clean held-out test set of
   the same size (another seed);
2. embed with the bundled demo CLIP model, score with the default estimators and select
   with the defaults (MixFix's initial clean set; CSS does not use the selection);
3. MixFix, then CSS, each evaluated on the test set after its last epoch (``last_val_acc``).

Prints per seed: test accuracy of both, CSS's X precision at its first split (right after
warm-up) and at its final split, X sizes, seconds, and the machine load; writes JSON with
every figure to ``--json``. CPU, small size: paper-scale CSS (800 + 310 epochs of a
PreAct ResNet-18 on CIFAR) needs a GPU.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/css_vs_mixfix.py --seeds 0,1,2
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python benchmarks/css_vs_mixfix.py --domain easy --seeds 0
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.4)
    ap.add_argument("--domain", default="hard", choices=("hard", "easy"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="CSS warm-up epochs (counted in --epochs)")
    ap.add_argument("--backbone", default="resnet10t")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--prompt-training", default="ssl", choices=("sl", "ssl", "none"))
    ap.add_argument("--no-prompt-guard", action="store_true", help="train css with --no-prompt-guard")
    ap.add_argument("--work", type=Path, default=None, help="folder for the workdirs (default: a temp folder)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--resume", action="store_true", help="reuse --work's data and workdirs and continue interrupted "
                    "trainings (`train --resume`: bit-exact)")
    args = ap.parse_args()

    import torch

    from labelclean.core import console

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    console.set_quiet(True)
    work = args.work or Path(tempfile.mkdtemp(prefix="css-vs-mixfix-"))
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        results.append(one_seed(work / f"seed{seed}", seed, args))
        r = results[-1]
        print(f"seed {seed}: mixfix {r['mixfix']['test_acc']:.3f}  css {r['css']['test_acc']:.3f}  "
              f"X precision {r['css']['x_precision_first']:.3f} -> {r['css']['x_precision_final']:.3f} "
              f"(X {r['css']['n_x_first']} -> {r['css']['n_x_final']} of {args.size})  "
              f"prompt epochs undone {r['css']['prompt_reverted_epochs']}  "
              f"seconds mixfix {r['mixfix']['seconds']:.0f} css {r['css']['seconds']:.0f}  load {r['load']}",
              flush=True)
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results, "load_end": _load()}
    print(json.dumps(out["args"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def one_seed(root: Path, seed: int, args) -> dict:
    from labelclean.demo import model_spec
    from labelclean.demo.dataset import make_demo_dataset
    from labelclean.stages.configs import EmbedConfig, ScoreConfig, SelectConfig
    from labelclean.stages.embed import run_embed
    from labelclean.stages.score import run_score
    from labelclean.stages.select import run_select
    from labelclean.stages.train import TrainConfig, run_train
    from labelclean.store.workdir import Workdir

    wd = Workdir(root / "w")
    reuse = args.resume and wd.selection.exists()
    train = make_demo_dataset(root / "train", size=args.size, noise=args.noise, seed=seed, domain=args.domain,
                              overwrite=True) if not reuse else None
    test = make_demo_dataset(root / "test", size=args.size, noise=0.0, seed=10_000 + seed, domain=args.domain,
                             overwrite=True) if not reuse else None
    if not reuse:
        run_embed(wd, EmbedConfig(data=train.truth_csv, root=train.images_dir, model=model_spec(), device="cpu"))
        run_score(wd, ScoreConfig(seed=seed))
    select = run_select(wd, SelectConfig(seed=seed)).summary
    common = dict(backbone=args.backbone, image_size=args.image_size, epochs=args.epochs, batch_size=args.batch_size,
                  lr=args.lr, schedule="cosine", device="cpu", seed=seed, val=root / "test" / "images",
                  resume=args.resume)
    out = {"seed": seed, "n_flipped": select["samples"] - _correct(root / "train" / "truth.csv"),
           "selection_kept": select["kept"]}
    for method, extra in (("mixfix", {}), ("css", {"warmup": args.warmup, "pretrain_epochs": 0,
                                                  "prompt_training": args.prompt_training,
                                                  "prompt_guard": not args.no_prompt_guard})):
        t = time.perf_counter()
        s = run_train(wd, TrainConfig(method=method, **common, **extra)).summary
        out[method] = {"test_acc": s["last_val_acc"], "best_test_acc": s.get("best_val_acc"),
                       "seconds": round(time.perf_counter() - t, 1),
                       **{k: s.get(k) for k in ("n_x_first", "x_precision_first", "x_recall_first", "n_x_final",
                                                "x_precision_final", "x_recall_final", "prompt_reverted_epochs")
                          if method == "css"}}
    out["load"] = _load()
    return out


def _correct(truth_csv: Path) -> int:
    import csv

    with open(truth_csv, newline="", encoding="utf-8") as f:
        return sum(r["label"] == r["clean_label"] for r in csv.DictReader(f))


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
