#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, starting from the committed seeds.
#   fuzz/run.sh [seconds-per-target [target...]]      (default 120 s, every target)
# Needs `cargo install cargo-fuzz`; RUSTC_BOOTSTRAP lets a stable toolchain build
# with the sanitizer flags cargo-fuzz passes. Crashing inputs land in
# fuzz/artifacts/<target>/ (an input slower than 10 s counts as a crash) and are kept as
# regression cases in tests/fuzz_regressions/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(architecture_json config_json nyuv2_list taskonomy_names idx npy)
fi
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    cp -n fuzz/seeds/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
    echo "== $target: ${seconds}s"
    cargo fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>&1 \
        | grep -E "^(stat::|==|SUMMARY|Done)|panicked|deadly signal|#[0-9]+ *DONE" || true
done
