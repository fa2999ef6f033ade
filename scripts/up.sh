#!/usr/bin/env bash
# Starts a single-node shoal cluster on the embedded store (API on 127.0.0.1:6443).
# Extra arguments go to `shoal up` (e.g. --data-dir DIR --listen ADDR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Cargo says where it put the binary (CARGO_TARGET_DIR, .cargo/config or ./target).
bin=$(cargo build --release --bin shoal --message-format=json-render-diagnostics \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "shoal":
        print(m["executable"])')
[ -x "$bin" ] || { echo "scripts/up.sh: cargo built no shoal binary" >&2; exit 1; }
# The example images (busybox:latest, hello:v1, hello:v2), imported when the cluster is new.
images=.shoal-images
HELLO_PROFILE=release examples/images/build.sh "$images" >/dev/null
exec "$bin" up --import-images "$images" "$@"
