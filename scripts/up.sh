#!/usr/bin/env bash
# Starts a single-node shoal cluster on the embedded store (API on 127.0.0.1:6443).
# Extra arguments go to `shoal up` (e.g. --data-dir DIR --listen ADDR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --bin shoal
exec target/release/shoal up "$@"
