#!/usr/bin/env bash
# Runs every Postern test: Rust unit and in-process session tests, then the end-to-end
# suite (real binary, real clients). Installs what the tests need when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
# The SpamAssassin corpus groups tests/e2e/test_scorer.py sends (fast when present).
scripts/fetch-corpus.sh

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --workspace --bins
cargo test --workspace -- --test-threads=2
POSTERN_BIN="$PWD/target/debug/postern" python3 -m pytest tests/e2e -q -p no:cacheprovider
