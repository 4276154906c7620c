#!/usr/bin/env bash
# Submit the embed array, then the run step once every array task succeeded.
set -euo pipefail
cd "$(dirname "$0")"
array=$(sbatch --parsable embed-array.sbatch)
sbatch --dependency=afterok:"$array" run.sbatch
