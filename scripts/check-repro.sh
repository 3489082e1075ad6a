#!/usr/bin/env bash
# Proves dist/'s build reproducible on every commit, within CI's time: builds tests/repro (a small crate
# with registry dependencies, generated code and panics; the same [profile.dist], the flags of
# scripts/dist-env.sh with cargo-auditable, as scripts/build-dist.sh builds stevedore) twice, in two
# directories of different depth with two CARGO_HOMEs, and fails unless
#   - the two binaries are byte-identical (cmp),
#   - neither carries a path of the build machine (the work directory, either CARGO_HOME, the toolchain),
#   - both embed their dependency list (.dep-v0) naming serde_json, and scripts/sbom.py makes the SBOM
#     release.yml attaches from it.
#
#   bash scripts/check-repro.sh            # amd64 and arm64
#   bash scripts/check-repro.sh amd64
#
# The second CARGO_HOME gets a copy of the first's registry index and downloaded .crate files (hard links)
# and builds --offline: it unpacks the sources into its own directory, as another machine would.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
# shellcheck source=scripts/dist-env.sh
. scripts/dist-env.sh
archs=("$@")
((${#archs[@]})) || archs=(amd64 arm64)

work=$(mktemp -d)
[[ -n "${KEEP_REPRO:-}" ]] && echo "keeping $work" >&2 || trap 'rm -rf "$work"' EXIT
mkdir -p "${CARGO_HOME:-$HOME/.cargo}"
home_a=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
home_b="$work/b/another/cargo-home"
# Side a fetches into the usual CARGO_HOME; side b copies what a fetched.
copy_repro() {
  mkdir -p "$1"
  cp -a tests/repro/. "$1/"
  cp rust-toolchain.toml "$1/"
  mkdir -p "$1/.cargo" && cp .cargo/config.toml "$1/.cargo/"
}
copy_repro "$work/a/repro"
copy_repro "$work/b/somewhere/much/deeper/repro-checkout"
(cd "$work/a/repro" && cargo fetch --locked --quiet)
mkdir -p "$home_b/registry"
cp -a "$home_a/registry/index" "$home_b/registry/"
cp -al "$home_a/registry/cache" "$home_b/registry/" 2>/dev/null || cp -a "$home_a/registry/cache" "$home_b/registry/"

for arch in "${archs[@]}"; do
  bins=()
  for side in a b; do
    case $side in
      a) crate="$work/a/repro"; home=$home_a; offline=false ;;
      b) crate="$work/b/somewhere/much/deeper/repro-checkout"; home=$home_b; offline=true ;;
    esac
    (
      cd "$crate"
      export CARGO_HOME=$home CARGO_NET_OFFLINE=$offline
      dist_env "$arch" "$crate/../target-$side"
      cargo build --quiet --profile dist --locked --target "$target" --target-dir "$dist_target_dir" --bin repro
    )
    triple=$(case $arch in amd64) echo x86_64-unknown-linux-gnu ;; arm64) echo aarch64-unknown-linux-gnu ;; esac)
    bins+=("$crate/../target-$side/$triple/dist/repro")
  done
  a=${bins[0]} b=${bins[1]}
  if ! cmp "$a" "$b"; then
    echo "tests/repro ($arch): two builds in different directories and CARGO_HOMEs differ" >&2
    exit 1
  fi
  leaks=$(strings -n 6 "$a" | grep -E -e "$work" -e "$home_a" -e "$(rustc --print sysroot)" -e "$root" -e '/home/|/root/|/tmp/' || true)
  if [[ -n "$leaks" ]]; then
    echo "tests/repro ($arch) carries build-machine paths:" >&2
    echo "$leaks" | head -20 >&2
    exit 1
  fi
  if ! python3 scripts/dep-list.py "$a" | grep -q '^serde_json '; then
    echo "tests/repro ($arch) does not embed its dependency list (.dep-v0 naming serde_json)" >&2
    exit 1
  fi
  # The SBOM release.yml attaches is made from that list (scripts/sbom.py): every embedded package, with
  # its Cargo.lock checksum and license.
  python3 scripts/sbom.py "$a" | python3 -c '
import json, sys
bom = json.load(sys.stdin)
c = {x["name"]: x for x in bom["components"]}
s = c.get("serde_json") or sys.exit("the SBOM lacks serde_json")
assert s["hashes"][0]["alg"] == "SHA-256" and len(s["hashes"][0]["content"]) == 64, s
assert s["licenses"][0]["expression"] == "MIT OR Apache-2.0", s
assert bom["metadata"]["component"]["name"] == "repro", bom["metadata"]
' || { echo "scripts/sbom.py on tests/repro ($arch): wrong SBOM" >&2; exit 1; }
  echo "tests/repro $arch: two builds identical, sha256 $(sha256sum "$a" | cut -c1-64), $(stat -c %s "$a") bytes, no build-machine path, $(python3 scripts/dep-list.py "$a" | wc -l) packages embedded"
done
