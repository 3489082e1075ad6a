#!/usr/bin/env bash
# Makes sure the Debian bookworm image exists in podman's storage: minbase with git, bash and the CA roots,
# built once with debootstrap and cached as a tarball. It is act's job-container image in the tests (.ci/run)
# and the build environment of dist/ (scripts/dist-in-bookworm.sh).
#
#   bash scripts/bookworm-image.sh [IMAGE] [TARBALL]
#     IMAGE    default localhost/stevedore-act-job:bookworm
#     TARBALL  the cache, default ${XDG_CACHE_HOME:-$HOME/.cache}/stevedore-ci/act-job-bookworm.tar
#
# Needs root for debootstrap (installed with apt-get when missing). Uses CONTAINERS_CONF as set.
set -euo pipefail
image="${1:-localhost/stevedore-act-job:bookworm}"
tarball="${2:-${XDG_CACHE_HOME:-$HOME/.cache}/stevedore-ci/act-job-bookworm.tar}"
podman image exists "$image" && exit 0
if [[ ! -s "$tarball" ]]; then
  echo "debootstrap the bookworm image (cached in $tarball)"
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  mkdir -p "$(dirname "$tarball")"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase --include=ca-certificates,git bookworm "$work/rootfs" \
    http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/*
  tar -C "$work/rootfs" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
