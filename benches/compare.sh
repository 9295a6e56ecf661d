#!/usr/bin/env bash
# The crate and PyTorch side by side: every case of benches/backends.rs, each in its own process
# (so the peak resident set is per case), then the same case in benches/pytorch_reference.py,
# with the same thread count, on this machine.
#
#   benches/compare.sh                     # flex vs PyTorch on the CPU, all cases
#   DEVICES=flex,wgpu-cpu FEATURES=wgpu benches/compare.sh
#   CASES="search-128" ITERATIONS=5 benches/compare.sh
#   CASES=small ROUNDS=5 benches/compare.sh   # the main job's small supernet only
#
# Case `small` (in the default CASES; it adds about a minute) is the main job's supernet
# (three SmallCnn branches, 54 edges, batch 8 of 24 x 32): first the counts of
# `search_iteration --describe` are checked against benches/pytorch_small.py's (the script
# stops on a mismatch), then ROUNDS rounds (default 3) of the crate's `search_iteration` bench
# (SMALL_STEPS iterations, default 60, the first SMALL_WARMUP = 5 left out) and the PyTorch
# twin with the same iterations, interleaved (crate, PyTorch, crate, PyTorch, ...), and a
# table of seconds per iteration per round and of the medians over the rounds, with their
# ratio. It runs the crate on flex only (DEVICES and FEATURES apply to the other cases) and
# the twin on TORCH_DEVICE. The crate's time includes drawing its data (rendering the scenes),
# the twin's does not: the describe line's `data_s` says how much that is, and the table's
# last row takes it off the crate's median.
#
# PYTHON must have torch (default: python3); THREADS defaults to the number of cores. Results
# are appended as JSON lines to $OUT (default target/compare.jsonl) and printed as a table.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
THREADS="${THREADS:-$(nproc)}"
DEVICES="${DEVICES:-flex}"
FEATURES="${FEATURES:-}"
CASES="${CASES:-fusion search-128 search-321 inference small}"
ITERATIONS="${ITERATIONS:-3}"
ROUNDS="${ROUNDS:-3}"
SMALL_STEPS="${SMALL_STEPS:-60}"
SMALL_WARMUP="${SMALL_WARMUP:-5}"
OUT="${OUT:-target/compare.jsonl}"
TORCH_DEVICE="${TORCH_DEVICE:-cpu}"

export RAYON_NUM_THREADS="$THREADS"
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

feature_args=()
if [ -n "$FEATURES" ]; then
    feature_args=(--features "$FEATURES")
fi
backends_cases=false
small_case=false
for case in $CASES; do
    if [ "$case" = small ]; then small_case=true; else backends_cases=true; fi
done
if $backends_cases; then
    cargo bench --locked --bench backends "${feature_args[@]}" --no-run
fi
if $small_case; then
    cargo bench --locked --bench search_iteration --no-run
fi

# The small supernet: the counts checked, then crate and twin interleaved for $ROUNDS rounds.
run_small() {
    local describe="${OUT%.jsonl}-small-describe.json"
    cargo bench --locked --bench search_iteration -- --describe | grep '^{' >"$describe"
    "$PYTHON" benches/pytorch_small.py --check-describe "$describe" | grep -v '^{'
    for round in $(seq 1 "$ROUNDS"); do
        cargo bench --locked --bench search_iteration -- \
            --steps "$SMALL_STEPS" --warmup "$SMALL_WARMUP" \
            | grep '^{' \
            | sed "s/^{/{\"case\":\"small\",\"round\":$round,\"framework\":\"mtl-nas\",\"device\":\"flex\",\"threads\":$THREADS,/" \
            | tee -a "$OUT"
        "$PYTHON" benches/pytorch_small.py --threads "$THREADS" --steps "$SMALL_STEPS" \
            --iterations "$((SMALL_STEPS - SMALL_WARMUP))" --warmup "$SMALL_WARMUP" \
            --device "$TORCH_DEVICE" \
            | tail -1 | sed "s/^{/{\"case\":\"small\",\"round\":$round,/" | tee -a "$OUT"
    done
}

for case in $CASES; do
    if [ "$case" = small ]; then
        run_small
        continue
    fi
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

"$PYTHON" - "$OUT" "${OUT%.jsonl}-small-describe.json" <<'EOF'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
seconds = lambda r: r.get("seconds_per_iteration", r.get("median_s"))  # search_iteration: median_s
torch = {r["case"]: r for r in rows if r["framework"] == "pytorch"}
others = [r for r in rows if r["case"] != "small"]
if others:
    print(f"\n{'case':<12} {'backend':<14} {'s/iter':>9} {'peak MB':>9} {'x PyTorch':>10}")
for r in others:
    case = r["case"]
    name = r["device"] if r["framework"] == "mtl-nas" else f"pytorch-{r['device']}"
    peak = r["peak_memory_mb"]
    base = seconds(torch.get(case, {}))
    ratio = f"{seconds(r) / base:.2f}" if base else "-"
    print(f"{case:<12} {name:<14} {seconds(r):>9.3f} {peak:>9.0f} {ratio:>10}")
small = [r for r in rows if r["case"] == "small"]
if small:
    print(f"\nsmall supernet, seconds per search iteration (medians over each run's timed "
          f"iterations), {small[0].get('threads')} threads")
    print(f"{'round':<8} {'mtl-nas flex':>13} {'pytorch':>13} {'x PyTorch':>10}")
    rounds = sorted({r["round"] for r in small})
    crate, twin = [], []
    for n in rounds:
        a = [seconds(r) for r in small if r["round"] == n and r["framework"] == "mtl-nas"]
        b = [seconds(r) for r in small if r["round"] == n and r["framework"] == "pytorch"]
        crate += a
        twin += b
        ratio = f"{a[0] / b[0]:.2f}" if a and b else "-"
        fmt = lambda v: f"{v[0]:.5f}" if v else "-"  # noqa: E731
        print(f"{n:<8} {fmt(a):>13} {fmt(b):>13} {ratio:>10}")
    if crate and twin:
        a, b = statistics.median(crate), statistics.median(twin)
        print(f"{'median':<8} {a:>13.5f} {b:>13.5f} {a / b:>10.2f}")
        if os.path.exists(sys.argv[2]):
            data = json.load(open(sys.argv[2])).get("data_s", 0.0)
            print(f"{'no data':<8} {a - data:>13.5f} {b:>13.5f} {(a - data) / b:>10.2f}"
                  f"   (the crate's median less its {data:.5f} s of drawing the data)")
EOF
