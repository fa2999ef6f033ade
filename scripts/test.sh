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
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
