#!/usr/bin/env bash
# Fails when dist/stevedore was not built from the current sources (compares the hash the binary embeds with
# scripts/source-hash.sh). Does not rebuild anything; to fix, run scripts/build-dist.sh and commit dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(bash scripts/source-hash.sh)
if [[ ! -x dist/stevedore ]]; then
  echo "dist/stevedore is missing; run scripts/build-dist.sh and commit dist/" >&2
  exit 1
fi
if [[ ! -s dist/ca-certificates.crt ]]; then
  echo "dist/ca-certificates.crt is missing; run scripts/build-dist.sh and commit dist/" >&2
  exit 1
fi
version=$(dist/stevedore --version)
got=$(sed -n 's/.*(sources \([0-9a-f]*\)).*/\1/p' <<<"$version")
if [[ "$got" != "$want" ]]; then
  echo "dist/stevedore is stale: it was built from sources $got, the checkout hashes to $want." >&2
  echo "Run scripts/build-dist.sh and commit dist/." >&2
  exit 1
fi
echo "dist/stevedore is current ($version)"
