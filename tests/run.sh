#!/usr/bin/env bash
# Runs every test of the workspace against real Postgres, SQLite and NATS
# (starting them first if needed). Usage: bash tests/run.sh [extra test args]
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/ensure-services.sh

# The end-to-end tests run the real binary; cargo builds a package's binary
# only for that package's own tests, so build it first.
cargo build -p terminagent --bins

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  # nextest does not run doctests.
  cargo test --workspace --doc
else
  cargo test --workspace --no-fail-fast "$@"
fi
bash tests/browser/run.sh
