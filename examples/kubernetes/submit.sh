#!/usr/bin/env bash
# Run the 4 embed shards, wait for all of them, then the single score/select/export step.
set -euo pipefail
cd "$(dirname "$0")"
kubectl apply -f embed-job.yaml
kubectl wait --for=condition=complete --timeout=24h job/labelclean-embed
kubectl apply -f run-job.yaml
kubectl wait --for=condition=complete --timeout=6h job/labelclean-run
kubectl logs job/labelclean-run
