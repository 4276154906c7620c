#!/usr/bin/env bash
# Register both job definitions, submit a 4-child array job (AWS Batch sets
# AWS_BATCH_JOB_ARRAY_INDEX in each child), then the run job depending on the whole array.
set -euo pipefail
cd "$(dirname "$0")"
QUEUE=${QUEUE:-labelclean-gpu}
aws batch register-job-definition --cli-input-json file://embed-job-definition.json >/dev/null
aws batch register-job-definition --cli-input-json file://run-job-definition.json >/dev/null
array=$(aws batch submit-job --job-name labelclean-embed --job-queue "$QUEUE" \
    --job-definition labelclean-embed --array-properties size=4 --query jobId --output text)
aws batch submit-job --job-name labelclean-run --job-queue "$QUEUE" \
    --job-definition labelclean-run --depends-on jobId="$array" --query jobId --output text
