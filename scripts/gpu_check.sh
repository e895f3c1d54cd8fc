#!/usr/bin/env bash
# The GPU figures of docs/results.md in one short run, on a machine where python3 already has torch with CUDA
# (no set-up here: the README's commands set up the CPU machines). CPU beside GPU, in one process each:
#   nav bench encoder --device cuda: every variant's forward (float32 and bf16 autocast) and the agent's tick;
#   nav bench train --device cuda: nav train's optimiser step (float32 and bf16 autocast), with the batches made
#     ahead as nav train makes them (train.yaml batch_threads) and made in the loop (--batch-threads 0);
#   the CUDA tests (tests/test_train_device.py).
# Usage: bash scripts/gpu_check.sh [OUT_DIR]   (default runs/gpu-check); each result is OUT_DIR/<name>.json.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/gpu-check}"
mkdir -p "$out"
export PYTHONPATH="$PWD:$PWD/ros2_ws/src/nav${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
status=0
python3 - <<'EOF' || exit 1
import torch
if not torch.cuda.is_available():
    raise SystemExit(f"gpu_check: torch {torch.__version__} sees no CUDA GPU")
print(f"gpu_check: torch {torch.__version__}, {torch.cuda.get_device_name(0)}, {torch.get_num_threads()} CPU threads")
EOF
run() {  # name, then the command; stdout in $out/name.out (a bench's JSON: its last line, kept as name.json)
  local name="$1"; shift
  echo "gpu_check: $name: $*"
  local start=$SECONDS
  if "$@" > "$out/$name.out" 2> "$out/$name.err"; then
    case "$name" in bench-*) tail -n 1 "$out/$name.out" > "$out/$name.json" ;; esac
    echo "gpu_check: $name done in $((SECONDS - start)) s"
  else
    echo "gpu_check: $name FAILED (rc $?) after $((SECONDS - start)) s"; tail -n 20 "$out/$name.err"; status=1
  fi
}
run bench-encoder python3 -m nav.cli bench encoder --device cuda --iters 300 --json
run bench-train python3 -m nav.cli bench train --device cuda --steps 15 --json
run bench-train-serial python3 -m nav.cli bench train --device cuda --steps 15 --batch-threads 0 --json
run tests python3 -m pytest -q -p no:cacheprovider tests/test_train_device.py
tail -n 3 "$out/tests.out"
python3 - "$out" <<'EOF'
import json, sys
from pathlib import Path
from nav.bench import encoder, train
for name, table in (("bench-encoder", encoder.format_table), ("bench-train", train.format_table),
                    ("bench-train-serial", train.format_table)):
    path = Path(sys.argv[1]) / f"{name}.json"
    if path.is_file() and path.stat().st_size:
        print(f"\n{name}:\n" + table(json.loads(path.read_text())))
EOF
exit $status
