#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with what benchmarks/gpu_check.sh installs on a GPU node that has
# no network: labelclean's own wheel (built from this checkout) and the pure-Python wheels
# that node's Python lacks (open_clip_torch and its ftfy -> wcwidth; the node already has
# torch, torchvision, timm, huggingface-hub, safetensors, regex, tqdm, filelock, pyarrow,
# scikit-learn, typer, rich, pillow, pyyaml, jinja2). Downloaded for CPython 3.12 on
# manylinux x86-64, without dependencies; the folder stays well under 64 MiB.
#
#   benchmarks/prepare_gpu_wheels.sh            # uses .venv/bin/python, else python3
#   PYTHON=/path/to/python benchmarks/prepare_gpu_wheels.sh
#
# Re-run it after changing labelclean: gpu_check.sh refuses a wheel older than the source.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$([ -x "$REPO/.venv/bin/python" ] && echo "$REPO/.venv/bin/python" || echo python3)}
DEST="$REPO/.whl"
PINS=(open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.2.14)

grep -qxF "/.whl/" "$REPO/.gitignore" 2>/dev/null || grep -qxF ".whl/" "$REPO/.gitignore" 2>/dev/null \
  || { echo "prepare_gpu_wheels.sh: .whl/ is not in .gitignore" >&2; exit 1; }
rm -rf "$DEST"
mkdir -p "$DEST"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$DEST" "${PINS[@]}"
# labelclean itself: hatchling is the build backend (in the `test` extra)
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DEST" "$REPO"
SIZE=$(du -sm "$DEST" | cut -f1)
ls -l "$DEST"
echo "prepare_gpu_wheels.sh: ${SIZE} MiB in $DEST"
if [ "$SIZE" -ge 64 ]; then echo "prepare_gpu_wheels.sh: over 64 MiB" >&2; exit 1; fi
