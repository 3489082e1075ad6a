#!/usr/bin/env bash
# Runs a command of this checkout in dist/'s build environment: Debian bookworm (debootstrap minbase,
# scripts/bookworm-image.sh: localhost/stevedore-act-job:bookworm, or DIST_BOOKWORM_IMAGE) with the C toolchain and
# static glibc scripts/build-dist.sh links (gcc, libc6-dev, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross),
# the toolchain rust-toolchain.toml pins (this machine's copy, mounted read-only at /opt/rust: no rustup in
# the container, so nothing there can change this machine's rustup state) and cargo-auditable, and a
# CARGO_HOME of its own that starts empty (the registry is fetched again, into other paths). CI runs the
# release-tag rebuild this way, so a runner with another distribution's glibc or gcc still rebuilds the
# bytes dist/ holds.
#
#   bash scripts/dist-in-bookworm.sh bash scripts/check-dist.sh --rebuild
#   bash scripts/dist-in-bookworm.sh bash scripts/check-repro.sh amd64
#   DIST_BOOKWORM_OUT=/tmp/dist bash scripts/dist-in-bookworm.sh \
#     env DIST_OUT=/build/out DIST_TARGET_DIR=/build/target bash scripts/build-dist.sh
#     (builds dist/ in this environment from another distribution; /build/out is DIST_BOOKWORM_OUT: copy
#     its amd64/, arm64/ and ca-certificates.crt into dist/)
#
# Needs podman (rootful in CI) and network access to deb.debian.org and crates.io. The checkout is mounted
# read-only at /build/checkout; the command runs there. crates.io is reached with this machine's CA roots
# (a proxy's own CA, where there is one).
set -euo pipefail
cd "$(dirname "$0")/.."
image="${DIST_BOOKWORM_IMAGE:-localhost/stevedore-act-job:bookworm}"
sysroot=$(cd "$(rustc --print sysroot)" && pwd -P)
auditable=$(command -v cargo-auditable) || { echo "cargo-auditable is not on PATH" >&2; exit 1; }
(($#)) || { echo "usage: dist-in-bookworm.sh COMMAND [ARG...]" >&2; exit 2; }
bash scripts/bookworm-image.sh "$image"
# The build packages, their versions printed so a failing comparison shows what was used.
setup='set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
  binutils python3 git ca-certificates >/dev/null
rustc -V | sed "s/^/toolchain: /"
dpkg-query -W gcc-12 libc6-dev gcc-12-aarch64-linux-gnu libc6-dev-arm64-cross | sed "s/^/bookworm: /"
mkdir -p "$CARGO_HOME"
git config --global --add safe.directory "*"
cd /build/checkout
exec "$@"'
out=()
if [[ -n "${DIST_BOOKWORM_OUT:-}" ]]; then
  mkdir -p "$DIST_BOOKWORM_OUT"
  out=(-v "$(cd "$DIST_BOOKWORM_OUT" && pwd -P):/build/out")
fi
exec podman run --rm --network host "${out[@]}" \
  -v "$PWD:/build/checkout:ro" \
  -v "$sysroot:/opt/rust:ro" \
  -v "$auditable:/usr/local/bin/cargo-auditable:ro" \
  -v "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}:/opt/host-ca.crt:ro" \
  -e SSL_CERT_FILE=/opt/host-ca.crt -e CARGO_HTTP_CAINFO=/opt/host-ca.crt \
  -e CARGO_HOME=/build/cargo-home -e "PATH=/opt/rust/bin:/usr/local/bin:/usr/bin:/bin" \
  "$image" bash -c "$setup" dist-in-bookworm "$@"
