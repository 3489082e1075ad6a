#!/usr/bin/env bash
# Fails when a binary in dist/ was not built from the current sources (compares the hash each binary embeds
# with scripts/source-hash.sh). The arm64 binary runs under qemu-user (qemu-aarch64-static). Does not
# rebuild anything; to fix, run scripts/build-dist.sh and commit dist/. CI runs it at release tags.
set -euo pipefail
cd "$(dirname "$0")/.."
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
