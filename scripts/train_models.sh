#!/usr/bin/env bash
# Train the model ladder the way the shipped models/ were made, then ship them (half-precision copies).
# medium and small: BC + DAgger on episodes of their own (train.yaml, train_small.yaml); large: passes over the
# medium run's data (train_large.yaml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$NAV_ROOT"
nav train "$@"
nav train --config train_small.yaml "$@"
nav train --config train_large.yaml "$@"
for variant in small medium large; do
    run=runs/train; [ "$variant" = medium ] || run=runs/train_$variant
    nav export-model "$run/model" "models/$variant" --weights-dtype float16
done
