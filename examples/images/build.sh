#!/usr/bin/env bash
# Builds the example images offline, as OCI image layout archives:
#   OUTDIR/busybox.tar   busybox:latest  Debian's busybox-static /bin/busybox and its applet links
#   OUTDIR/hello-v1.tar  hello:v1        busybox + the hello server (HELLO_VERSION=v1)
#   OUTDIR/hello-v2.tar  hello:v2        the same with HELLO_VERSION=v2
# The hello server (examples/hello) is built with cargo, statically linked for the host's
# gnu target (-C target-feature=+crt-static). Same inputs, same archives (layers sorted,
# owned by root, mtime 0; gzip without a timestamp). Import them with
# `shoal image import OUTDIR/*.tar`.
set -euo pipefail

out=${1:?usage: examples/images/build.sh OUTDIR}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
busybox=${BUSYBOX:-/bin/busybox}
profile=${HELLO_PROFILE:-dev}

if ! "$busybox" --list >/dev/null 2>&1; then
    echo "build.sh: $busybox is not a working busybox: install busybox-static (scripts/install-deps.sh)" >&2
    exit 1
fi
if ldd "$busybox" 2>/dev/null | grep -q "=>"; then
    echo "build.sh: $busybox is dynamically linked: install busybox-static (scripts/install-deps.sh)" >&2
    exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

host=$(rustc -vV | sed -n 's/^host: //p')
target_dir=${CARGO_TARGET_DIR:-$repo/target}
# An explicit --target keeps RUSTFLAGS off the host build (nothing else is rebuilt).
(cd "$repo" && RUSTFLAGS="-C target-feature=+crt-static" cargo build -q -p hello --profile "$profile" --target "$host")
dir=$profile; [ "$profile" = dev ] && dir=debug
hello_bin="$target_dir/$host/$dir/hello"

oci_image() { (cd "$repo" && cargo run -q -p images --example oci_image -- "$@"); }

# The busybox layer: /bin/busybox, a link per applet, /etc/passwd and /etc/group.
rootfs="$work/busybox"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

# The hello layer: /hello.
hello="$work/hello"
mkdir -p "$hello"
cp "$hello_bin" "$hello/hello"
chmod 0755 "$hello/hello"

path=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
oci_image --out "$out/busybox.tar" --name busybox:latest --layer "$rootfs" --env "$path" --cmd sh
for v in v1 v2; do
    oci_image --out "$out/hello-$v.tar" --name "hello:$v" --layer "$rootfs" --layer "$hello" \
        --env "$path" --env "HELLO_VERSION=$v" --env PORT=8080 --entrypoint /hello --expose 8080/tcp
done
echo "built $out/busybox.tar $out/hello-v1.tar $out/hello-v2.tar"
