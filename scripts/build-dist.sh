#!/usr/bin/env bash
# Rebuilds dist/: the static binary the Dockerfile copies, and the CA bundle it needs in a scratch image.
# The binary embeds the hash of the sources it was built from (build.rs); scripts/check-dist.sh compares it
# with the sources, so CI proves dist/ is current without rebuilding it.
#
#   bash scripts/build-dist.sh
#
# Uses its own target directory (target/dist) so it does not invalidate debug builds.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
start=$(date +%s)
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --profile dist --locked --target "$target" --target-dir target/dist --bin stevedore
end=$(date +%s)

mkdir -p dist
install -m 0755 "target/dist/$target/dist/stevedore" dist/stevedore
install -m 0644 /etc/ssl/certs/ca-certificates.crt dist/ca-certificates.crt

# A static binary has no interpreter; `file` may be absent, so check the ELF program headers directly.
if command -v readelf >/dev/null && readelf -l dist/stevedore | grep -q 'INTERP'; then
  echo "dist/stevedore is dynamically linked; expected a static binary" >&2
  exit 1
fi
echo "built dist/stevedore in $((end - start)) s: $(dist/stevedore --version), $(stat -c %s dist/stevedore) bytes"
