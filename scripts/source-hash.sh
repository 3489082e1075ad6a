#!/usr/bin/env bash
# Prints the hash of the sources, computed exactly as build.rs does (and as `stevedore --version` reports it):
# the first 16 hex chars of the sha256 of the "<sha256>  <path>" lines of Cargo.toml, Cargo.lock, build.rs
# and every file under src/, sorted by path (bytewise).
set -euo pipefail
cd "$(dirname "$0")/.."
{ printf '%s\n' Cargo.toml Cargo.lock build.rs; find src -type f; } \
  | LC_ALL=C sort \
  | xargs -d '\n' sha256sum -- \
  | sha256sum \
  | cut -c1-16
