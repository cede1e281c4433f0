#!/usr/bin/env bash
# Builds a minimal local base image for cluster/Dockerfile when no registry can
# serve node:20-bookworm-slim: a rootfs with the host's `node` binary at
# /usr/local/bin/node, the shared libraries it and the native addons in
# node_modules (lmdb, msgpackr-extract: prebuilt linux-x64 glibc) need, and a few
# /etc files, imported with `docker import`.
#
#   bash scripts/containers/base-image.sh [TAG]     # default TAG dynakv-base:local
#
# Prints the tag to use as --build-arg BASE=… on stdout (last line). If
# node:20-bookworm-slim is already present locally, prints that and builds nothing
# (set DYNAKV_FORCE_LOCAL_BASE=1 to build anyway). Idempotent: reuses TAG when it
# exists with the same node version (label dynakv.node).
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG="${1:-dynakv-base:local}"
if [[ -z "${DYNAKV_FORCE_LOCAL_BASE:-}" ]] && docker image inspect node:20-bookworm-slim >/dev/null 2>&1; then
  echo "base-image: node:20-bookworm-slim is present, using it" >&2
  echo node:20-bookworm-slim
  exit 0
fi

NODE_BIN="$(readlink -f "$(command -v node)")"
NODE_VERSION="$("$NODE_BIN" --version)"
if [[ "$(docker image inspect -f '{{ index .Config.Labels "dynakv.node" }}' "$TAG" 2>/dev/null || true)" == "$NODE_VERSION" ]]; then
  echo "base-image: $TAG exists (node $NODE_VERSION)" >&2
  echo "$TAG"
  exit 0
fi

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/dynakv-rootfs.XXXXXX")"
trap 'rm -rf "$ROOT"' EXIT

# Everything that will be dlopen()ed or exec()ed in the image.
objects=("$NODE_BIN")
while IFS= read -r -d '' f; do objects+=("$f"); done < <(find node_modules -path '*linux-x64*' -name '*glibc*.node' -print0 2>/dev/null; find node_modules/@msgpackr-extract -name '*.node' -print0 2>/dev/null)

libs=()
for obj in "${objects[@]}"; do
  while read -r lib; do libs+=("$lib"); done < <(ldd "$obj" 2>/dev/null | awk '/=> \//{print $3} /^\s*\/lib/{print $1}')
done

mkdir -p "$ROOT"/usr/local/bin "$ROOT"/etc "$ROOT"/tmp "$ROOT"/proc "$ROOT"/sys "$ROOT"/dev "$ROOT"/data "$ROOT"/app
chmod 1777 "$ROOT/tmp"
cp "$NODE_BIN" "$ROOT/usr/local/bin/node"
for lib in $(printf '%s\n' "${libs[@]}" | sort -u); do
  # Keep the path the loader looks for, and the real file behind any symlink.
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# /lib64 -> the loader (Debian's usrmerge layout has /lib64 as a real dir or a link; copy the file).
if [[ -e /lib64/ld-linux-x86-64.so.2 && ! -e "$ROOT/lib64/ld-linux-x86-64.so.2" ]]; then
  mkdir -p "$ROOT/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/"
fi
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' > "$ROOT/etc/group"
# /etc/hosts before DNS: the node image relies on it (see cluster/README.md).
printf 'hosts: files dns\n' > "$ROOT/etc/nsswitch.conf"
touch "$ROOT/etc/hosts" "$ROOT/etc/resolv.conf" "$ROOT/etc/hostname"
if [[ -d /etc/ssl/certs ]]; then mkdir -p "$ROOT/etc/ssl"; cp -rL /etc/ssl/certs "$ROOT/etc/ssl/" 2>/dev/null || true; fi

tar -C "$ROOT" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change "LABEL dynakv.node=$NODE_VERSION" \
  --change 'LABEL dynakv.managed=base' \
  --change 'CMD ["node"]' \
  - "$TAG" >/dev/null
# Smoke test: node starts and its native addon loader finds libstdc++.
docker run --rm --network none "$TAG" node -e 'process.stdout.write("ok " + process.version)' >&2
echo >&2
echo "base-image: built $TAG from host node $NODE_VERSION ($(du -sh "$ROOT" | cut -f1) rootfs)" >&2
echo "$TAG"
