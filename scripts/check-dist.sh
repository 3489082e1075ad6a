#!/usr/bin/env bash
# Fails when a binary in dist/ was not built from the current sources.
#
#   bash scripts/check-dist.sh             # the hash each binary embeds = scripts/source-hash.sh (seconds)
#   bash scripts/check-dist.sh --rebuild   # rebuilds both from the committed sources and compares bytes
#
# The first trusts what the binary says about itself (a tampered binary can print any hash); --rebuild
# does not: it exports HEAD's sources (`git archive`) into another directory, builds both architectures
# from scratch there with scripts/build-dist.sh (its own target directory, its own CARGO_HOME when
# DIST_CARGO_HOME is set) and requires each to equal dist/<arch>/stevedore byte for byte, and each to
# embed its dependency list. It needs the build environment dist/ was built in (docs/releasing.md
# "Reproducible dist/": the pinned Rust toolchain and Debian bookworm's C toolchain and static glibc); CI
# runs it at release tags inside Debian bookworm (scripts/dist-in-bookworm.sh). The arm64 binary runs
# under qemu-user (qemu-aarch64-static) for the hash check. To fix either: run scripts/build-dist.sh and
# commit dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == --rebuild ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/src/stevedore"
  git archive HEAD | tar -x -C "$work/src/stevedore"
  start=$(date +%s)
  (
    [[ -z "${DIST_CARGO_HOME:-}" ]] || export CARGO_HOME=$DIST_CARGO_HOME
    # The export has no .git: the commit's time, as build-dist.sh in the checkout takes it.
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
    export SOURCE_DATE_EPOCH
    DIST_OUT="$work/out" DIST_TARGET_DIR="$work/target" bash "$work/src/stevedore/scripts/build-dist.sh" amd64 arm64
  )
  echo "rebuilt both in $(($(date +%s) - start)) s"
  status=0
  for arch in amd64 arm64; do
    if cmp -s "$work/out/$arch/stevedore" "dist/$arch/stevedore"; then
      echo "dist/$arch/stevedore is byte-identical to its rebuild: sha256 $(sha256sum "dist/$arch/stevedore" | cut -c1-64)"
    else
      echo "dist/$arch/stevedore differs from the binary its committed sources build:" >&2
      echo "  dist/:   $(sha256sum "dist/$arch/stevedore" | cut -c1-64) $(stat -c %s "dist/$arch/stevedore") B" >&2
      echo "  rebuilt: $(sha256sum "$work/out/$arch/stevedore" | cut -c1-64) $(stat -c %s "$work/out/$arch/stevedore") B" >&2
      status=1
    fi
    python3 scripts/dep-list.py "$work/out/$arch/stevedore" | grep -q '^stevedore ' \
      || { echo "the rebuilt $arch binary does not embed its dependency list" >&2; status=1; }
  done
  if ((status)); then
    echo "Build environment of this rebuild (dist/ must be built in the same: docs/releasing.md):" >&2
    { rustc -V; gcc --version | head -1; aarch64-linux-gnu-gcc --version | head -1
      dpkg-query -W libc6-dev libc6-dev-arm64-cross 2>/dev/null || true; } >&2
    echo "Run scripts/build-dist.sh in that environment and commit dist/." >&2
  fi
  exit "$status"
fi
want=$(bash scripts/source-hash.sh)
if [[ ! -s dist/ca-certificates.crt ]]; then
  echo "dist/ca-certificates.crt is missing; run scripts/build-dist.sh and commit dist/" >&2
  exit 1
fi
for arch in amd64 arm64; do
  bin="dist/$arch/stevedore"
  if [[ ! -x "$bin" ]]; then
    echo "$bin is missing; run scripts/build-dist.sh and commit dist/" >&2
    exit 1
  fi
  case "$arch" in
    amd64) version=$("$bin" --version) ;;
    arm64)
      command -v qemu-aarch64-static >/dev/null \
        || { echo "qemu-aarch64-static is needed to run $bin (apt-get install qemu-user-static)" >&2; exit 1; }
      version=$(qemu-aarch64-static "$bin" --version) ;;
  esac
  got=$(sed -n 's/.*(sources \([0-9a-f]*\)).*/\1/p' <<<"$version")
  if [[ "$got" != "$want" ]]; then
    echo "$bin is stale: it was built from sources $got, the checkout hashes to $want." >&2
    echo "Run scripts/build-dist.sh and commit dist/." >&2
    exit 1
  fi
  echo "$bin is current ($version)"
done
