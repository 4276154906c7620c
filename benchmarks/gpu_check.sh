#!/usr/bin/env bash
# One prepared GPU check (issue 11 item 4): finishes in < 8 minutes on one GPU node.
#
#   benchmarks/gpu_check.sh            # on the GPU node (no network): sizes of the issue
#   benchmarks/gpu_check.sh --smoke    # anywhere, CPU is fine: tiny sizes, same steps
#
# Before: on a machine with network, run benchmarks/prepare_gpu_wheels.sh (fills .whl/ with
# labelclean's wheel and the pure-Python wheels the node lacks: open_clip_torch, ftfy,
# wcwidth). This script installs them with `pip install --no-deps --no-index` into a
# private folder, then runs, each step under its own time limit:
#   1. embed images/s end to end vs the pure forward pass, ViT-B-32 and ViT-L-14, random
#      weights, fp16 (CUDA), JPEGs generated here (benchmarks/embed_throughput.py);
#   2. one epoch of each trainer at 224 px: mixfix, deft (phase 1 only: with random weights
#      its detection finds no clean sample to fine-tune on), css (one epoch of split + FixMatch +
#      NT-Xent + ssl prompts, no pre-training or warm-up), on a workdir made by `labelclean run`;
#   3. score + select at 1M and 10M synthetic samples (benchmarks/score_scale.py).
# It prints every result and writes them as JSON under $OUT (default bench-out/gpu-check):
# gpu_check.json (all steps: status, seconds, results) plus each step's log. Exits non-zero
# when any step failed or ran out of time.
set -uo pipefail

SMOKE=0
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $arg (use --smoke)" >&2; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/bench-out/gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lc-gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-465}   # everything, install included: < 8 min
STEPS="$OUT/steps.jsonl"
: >"$STEPS"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 NO_COLOR=1

log() { echo "[gpu_check $(($(date +%s) - START))s] $*"; }

# ---- install ---------------------------------------------------------------------------
SITE="$WORK/site"
if compgen -G "$REPO/.whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "$REPO"/.whl/*.whl || { log "FAIL: pip install of .whl/*.whl"; exit 1; }
  export PYTHONPATH="$SITE"
  "$PY" - "$SITE" "$REPO" <<'PYEOF' || { log "FAIL: .whl/ holds an old labelclean; re-run benchmarks/prepare_gpu_wheels.sh"; exit 1; }
import hashlib, pathlib, sys
site, repo = map(pathlib.Path, sys.argv[1:])
stale = [p.relative_to(site) for p in (site / "labelclean").rglob("*.py")
         if not (repo / p.relative_to(site)).exists()
         or hashlib.sha256(p.read_bytes()).digest() != hashlib.sha256((repo / p.relative_to(site)).read_bytes()).digest()]
print(f"installed labelclean matches the source tree: {not stale}" + (f" (first stale: {stale[0]})" if stale else ""))
sys.exit(1 if stale else 0)
PYEOF
elif [ "$SMOKE" = 1 ]; then
  log "no .whl/: smoke run with this Python's own packages and the source tree"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  log "FAIL: $REPO/.whl/ holds no wheels; run benchmarks/prepare_gpu_wheels.sh first"; exit 1
fi
"$PY" - <<'PYEOF' | tee "$OUT/environment.txt" || { log "FAIL: imports"; exit 1; }
import os, platform, torch, open_clip, labelclean
print(f"python {platform.python_version()}, torch {torch.__version__}, open_clip {open_clip.__version__}, "
      f"labelclean {labelclean.__version__} from {os.path.dirname(labelclean.__file__)}")
print(f"cuda available: {torch.cuda.is_available()}" + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()}")
PYEOF
DEVICE=$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
if [ "$DEVICE" = cpu ] && [ "$SMOKE" = 0 ]; then
  log "FAIL: no CUDA device (use --smoke for a CPU run)"; exit 1
fi
PREC=$([ "$DEVICE" = cuda ] && echo fp16 || echo fp32)

# ---- steps -----------------------------------------------------------------------------
FAILED=0
step() {  # step NAME LIMIT_S CMD...: run CMD under min(LIMIT_S, what is left of the budget)
  local name=$1 limit=$(($2 * STEP_SCALE)); shift 2
  local left=$((BUDGET - ($(date +%s) - START)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 5 ]; then
    log "SKIP $name: the ${BUDGET}s budget is spent"; FAILED=1
    echo "{\"step\": \"$name\", \"status\": \"no time left\"}" >>"$STEPS"; return
  fi
  log "$name (limit ${limit}s): $*"
  local t0=$(date +%s) rc
  timeout --signal=TERM --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  tail -n 12 "$OUT/$name.log"
  local status=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status=timeout; FAILED=1
  elif [ $rc -eq 99 ]; then status=skipped
  elif [ $rc -ne 0 ]; then status="failed (exit $rc)"; FAILED=1; fi
  log "$name: $status in $(($(date +%s) - t0))s"
  echo "{\"step\": \"$name\", \"status\": \"$status\", \"seconds\": $(($(date +%s) - t0)), \"limit_s\": $limit}" >>"$STEPS"
}

if [ "$SMOKE" = 1 ]; then
  # tiny sizes and the small ViT-S-32 in place of both models; CPU steps get 4x the time
  B32=ViT-S-32; N_B32=48; L14=ViT-S-32; N_L14=16; FWD=1; BATCH=(--batch-size 16); SCALE_1M=2000; SCALE_10M=4000
  N_TRAIN=40; TRAIN_MODEL=ViT-S-32; STEP_SCALE=${GPU_CHECK_STEP_SCALE:-4}; TRAIN_OPTS=(--batch-size 8 --workers 0)
else
  B32=ViT-B-32; N_B32=12000; L14=ViT-L-14; N_L14=4000; FWD=10; BATCH=(); SCALE_1M=1000000; SCALE_10M=10000000
  N_TRAIN=2000; TRAIN_MODEL=ViT-B-32; STEP_SCALE=${GPU_CHECK_STEP_SCALE:-1}; TRAIN_OPTS=(--workers 12)
fi
cd "$WORK"  # imports resolve to the installed wheel, not a labelclean/ in the current folder

# 1. embed throughput (JPEGs generated by embed_throughput.py, in a process pool)
step embed_vit_b_32 75 "$PY" "$REPO/benchmarks/embed_throughput.py" --model "$B32" --generate "$N_B32" \
  --device "$DEVICE" --precision "$PREC" --forward-batches "$FWD" "${BATCH[@]}" --no-rss --json "$OUT/embed_vit_b_32.json"
step embed_vit_l_14 75 "$PY" "$REPO/benchmarks/embed_throughput.py" --model "$L14" --generate "$N_L14" \
  --device "$DEVICE" --precision "$PREC" --forward-batches "$FWD" "${BATCH[@]}" --no-rss --json "$OUT/embed_vit_l_14.json"

# 2. one epoch of each trainer at 224 px on a small generated workdir
step train_prepare 45 "$PY" -c "
import sys; sys.path.insert(0, '$REPO/benchmarks')
from pathlib import Path
from embed_throughput import generate_jpegs, random_weights
generate_jpegs(Path('$WORK/train-data'), $N_TRAIN, 10)
random_weights('$TRAIN_MODEL', Path('$WORK/random.safetensors'))
" 
step train_run_pipeline 75 "$PY" -m labelclean -q run "$WORK/train-data" -w "$WORK/train-w" -m "$TRAIN_MODEL" \
  --pretrained "$WORK/random.safetensors" --device "$DEVICE" --precision "$PREC"
for method in mixfix deft css; do
  # random CLIP weights (no network): DeFT's detection finds no clean sample, so its phase 2
  # cannot run; the check times phase 1 (one epoch of dual-prompt learning) with --detect-only
  # css: one epoch of the full method (no pre-training or warm-up; FixMatch + NT-Xent on the
  # network, ssl prompts through the CLIP image tower at its own size)
  extra=(); [ "$method" = deft ] && extra=(--detect-only)
  [ "$method" = css ] && extra=(--pretrain-epochs 0 --warmup 0 --prompt-training ssl)
  step "train_$method" 60 "$PY" -m labelclean -q train -w "$WORK/train-w" --method "$method" --epochs 1 \
    --image-size 224 "${TRAIN_OPTS[@]}" "${extra[@]}" --json
done

# 3. score + select at scale (benchmarks/score_scale.py; it prints its own table). Last: the
#    10M step gets whatever is left of the budget, at most its limit
SCALE_HELP=$("$PY" "$REPO/benchmarks/score_scale.py" --help 2>&1)
SCALE_EXTRA=()
grep -q -- "--device" <<<"$SCALE_HELP" && SCALE_EXTRA+=(--device "$DEVICE")
step score_select_1m 120 "$PY" "$REPO/benchmarks/score_scale.py" --sizes "$SCALE_1M" "${SCALE_EXTRA[@]}"
# the knn phase (a 10-NN graph of every sample) runs at 1M only: at 10M it alone would take the budget
grep -q -- "--knn-up-to" <<<"$SCALE_HELP" && SCALE_10M_EXTRA=(--knn-up-to "$SCALE_1M") || SCALE_10M_EXTRA=()
step score_select_10m 200 "$PY" "$REPO/benchmarks/score_scale.py" --sizes "$SCALE_10M" "${SCALE_EXTRA[@]}" \
  "${SCALE_10M_EXTRA[@]}"

# ---- summary ---------------------------------------------------------------------------
"$PY" - "$OUT" "$SMOKE" "$DEVICE" "$(($(date +%s) - START))" "$FAILED" <<'PYEOF'
import json, pathlib, sys
out, smoke, device, seconds, failed = pathlib.Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
steps = [json.loads(l) for l in (out / "steps.jsonl").read_text().splitlines() if l.strip()]
for s in steps:
    j = out / f"{s['step']}.json"
    if j.exists():
        s["result"] = json.loads(j.read_text())
    log = out / f"{s['step']}.log"
    if log.exists():
        s["log_tail"] = log.read_text()[-2000:]
summary = {"smoke": smoke, "device": device, "seconds": seconds, "ok": not failed,
           "environment": (out / "environment.txt").read_text(), "steps": steps}
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2))
print(f"gpu_check: {'OK' if not failed else 'FAILED'} in {seconds}s on {device}; JSON in {out / 'gpu_check.json'}")
for s in steps:
    r = s.get("result", {})
    extra = ""
    if "ratio_embed_to_forward" in r:
        extra = (f": forward {r['forward_before']['img_s']:.0f} img/s, embed {r['embed']['embed_img_s']} img/s "
                 f"({r['ratio_embed_to_forward']:.0%})")
    print(f"  {s['step']}: {s['status']}{extra}")
PYEOF
exit $FAILED
