#!/usr/bin/env bash
# Run berth's cargo-fuzz targets, each for SECONDS (default 20): the DNS packet handler
# (berth-dns: handle), the API's request -> action mapping (berth-api: route) and the CLI's
# flag-value parsers (berth-cli: flags). CI runs them briefly; by hand, run them longer:
#   scripts/fuzz.sh 600            # ten minutes each
#   FUZZ_SANITIZER=address scripts/fuzz.sh 600
#   FUZZ_DEV=1 scripts/fuzz.sh 15   # what CI runs
# A crash stops the run with libFuzzer's report and leaves the input under
# crates/<crate>/fuzz/artifacts/<target>/; turn it into a regression test next to the code.
#
# cargo-fuzz needs nightly-only rustc flags; the machine has one (stable) toolchain, so
# RUSTC_BOOTSTRAP=1 lets it accept them. The targets share one target dir so common
# dependencies are built once. CI uses no sanitizer (`-s none`): the code under test is safe
# Rust, so the coverage-guided search is what matters, and the build is much shorter.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

secs="${1:-20}"
sanitizer="${FUZZ_SANITIZER:-none}"
# FUZZ_DEV=1: unoptimised build (CI: the build, not the run, is what takes time there).
profile=()
if [ "${FUZZ_DEV:-0}" = 1 ]; then
  profile=(--dev)
fi
target_dir="${FUZZ_TARGET_DIR:-$PWD/target/fuzz}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
for spec in berth-dns:handle berth-api:route berth-cli:flags; do
  crate="${spec%%:*}"
  target="${spec##*:}"
  echo "== fuzz $crate/$target for ${secs}s (sanitizer: $sanitizer)"
  (
    cd "crates/$crate/fuzz"
    mkdir -p "corpus/$target"
    log="$(mktemp)"
    status=0
    cargo fuzz run "${profile[@]}" -s "$sanitizer" --target-dir "$target_dir" "$target" "corpus/$target" -- \
      -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
      tail -n 60 "$log"
    else
      grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss)' "$log" || true
    fi
    rm -f "$log"
    exit "$status"
  )
done
echo "== fuzz: no crash"
