#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz, libFuzzer) for FUZZ_SECONDS
# each (default 20), starting from the seeds in fuzz/seeds/ and what earlier
# runs found (fuzz/corpus/, not committed). A crash stops the run and leaves
# the input in fuzz/artifacts/<target>/. `make test` calls it.
#
# Without a sanitizer: the library forbids unsafe code, so what libFuzzer
# finds here is a panic (a failed assertion of a target, an overflow, an
# index out of bounds) or a hang, and both are caught without one. The
# toolchain is the stable one; RUSTC_BOOTSTRAP lets it take the one
# unstable flag cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
export PATH="$HOME/.cargo/bin:$PATH"

cargo fuzz build --sanitizer none
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  rss=$(awk '/stat::peak_rss_mb/ { print $2 }' "$log")
  echo "fuzz: $target: ${runs:-?} inputs in ${seconds}s, nothing failed (peak ${rss:-?} MB)"
done
