#!/usr/bin/env bash
# The crate and PyTorch side by side: every case of benches/backends.rs, each in its own process
# (so the peak resident set is per case), then the same case in benches/pytorch_reference.py,
# with the same thread count, on this machine.
#
#   benches/compare.sh                     # flex vs PyTorch on the CPU, all cases
#   DEVICES=flex,wgpu-cpu FEATURES=wgpu benches/compare.sh
#   CASES="search-128" ITERATIONS=5 benches/compare.sh
#
# PYTHON must have torch (default: python3); THREADS defaults to the number of cores. Results
# are appended as JSON lines to $OUT (default target/compare.jsonl) and printed as a table.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
THREADS="${THREADS:-$(nproc)}"
DEVICES="${DEVICES:-flex}"
FEATURES="${FEATURES:-}"
CASES="${CASES:-fusion search-128 search-321 inference}"
ITERATIONS="${ITERATIONS:-3}"
OUT="${OUT:-target/compare.jsonl}"
TORCH_DEVICE="${TORCH_DEVICE:-cpu}"

export RAYON_NUM_THREADS="$THREADS"
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

feature_args=()
if [ -n "$FEATURES" ]; then
    feature_args=(--features "$FEATURES")
fi
cargo bench --locked --bench backends "${feature_args[@]}" --no-run

for case in $CASES; do
    for device in ${DEVICES//,/ }; do
        cargo bench --locked --bench backends "${feature_args[@]}" -- \
            --device "$device" --case "$case" --iterations "$ITERATIONS" \
            | grep '^{' | tee -a "$OUT"
    done
    case "$case" in
        fusion) torch_args=(--fusion-only --batch 4 --height 128 --width 128) ;;
        search-128) torch_args=(--batch 4 --height 128 --width 128) ;;
        search-321) torch_args=(--batch 2 --height 321 --width 321) ;;
        inference) torch_args=(--inference --keep-every 3 --batch 1 --height 480 --width 640) ;;
    esac
    "$PYTHON" benches/pytorch_reference.py "${torch_args[@]}" --threads "$THREADS" \
        --iterations "$ITERATIONS" --warmup 1 --device "$TORCH_DEVICE" \
        | tail -1 | sed "s/^{/{\"case\":\"$case\",/" | tee -a "$OUT"
done

"$PYTHON" - "$OUT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
torch = {r["case"]: r for r in rows if r["framework"] == "pytorch"}
print(f"\n{'case':<12} {'backend':<14} {'s/iter':>9} {'peak MB':>9} {'x PyTorch':>10}")
for r in rows:
    case = r["case"]
    name = r["device"] if r["framework"] == "mtl-nas" else f"pytorch-{r['device']}"
    peak = r["peak_memory_mb"]
    base = torch.get(case, {}).get("seconds_per_iteration")
    ratio = f"{r['seconds_per_iteration'] / base:.2f}" if base else "-"
    print(f"{case:<12} {name:<14} {r['seconds_per_iteration']:>9.3f} {peak:>9.0f} {ratio:>10}")
EOF
