#!/usr/bin/env bash
# Run berth's full test suite the way CI does. Needs root (network
# namespaces, mounts): `sudo scripts/test.sh`.
# Arguments replace `--workspace` in the `cargo test` line, e.g.
#   sudo scripts/test.sh -p berth-tests --test containers crash
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh needs root: run it as 'sudo scripts/test.sh'" >&2
  exit 1
fi

# Under sudo, root's PATH may lack the invoking user's cargo.
if ! command -v cargo >/dev/null 2>&1; then
  for d in "${HOME:-/root}/.cargo/bin" \
           "$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)/.cargo/bin"; do
    if [ -x "$d/cargo" ]; then
      export PATH="$d:$PATH"
      break
    fi
  done
fi

bash scripts/install-test-deps.sh

# The integration tests start target/debug/berthd and target/debug/berth:
# build them first so the tests never run stale binaries.
cargo build --workspace
if [ "$#" -eq 0 ]; then
  set -- --workspace
fi
BERTH_REQUIRE_PRIVILEGED=1 cargo test --no-fail-fast "$@" -- --test-threads=2
