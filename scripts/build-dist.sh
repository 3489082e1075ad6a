#!/usr/bin/env bash
# Rebuilds dist/ (in release commits: docs/releasing.md): the static binary per architecture the Dockerfile
# copies by TARGETARCH (dist/amd64/stevedore, dist/arm64/stevedore) and the CA bundle a scratch image needs.
# Each binary embeds the hash of the sources it was built from (build.rs) and its dependency list in
# cargo-auditable's format (a `.dep-v0` section: `cargo audit bin`, syft and trivy read it).
#
#   bash scripts/build-dist.sh            # both architectures
#   bash scripts/build-dist.sh amd64      # one
#   DIST_BLOAT=1 bash scripts/build-dist.sh amd64   # where the bytes go: cargo bloat --crates, same flags
#
# Reproducible: the same sources and build environment (rust-toolchain.toml, and the C toolchain and static
# glibc of Debian bookworm: docs/releasing.md "Reproducible dist/") give byte-identical binaries in any
# directory, with any CARGO_HOME; the flags are in scripts/dist-env.sh. CI rebuilds both at release tags
# and compares them with dist/ (scripts/check-dist.sh --rebuild). DIST_OUT writes elsewhere than dist/.
#
# Needs cargo-auditable (`cargo install --locked cargo-auditable@0.7.7`), and gcc-aarch64-linux-gnu and
# libc6-dev-arm64-cross for arm64 (.cargo/config.toml names the linker). Uses its own target directory
# (target/dist, or DIST_TARGET_DIR: two architectures can then build at once) so it does not invalidate
# debug builds.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/dist-env.sh
. scripts/dist-env.sh

dir="${DIST_TARGET_DIR:-target/dist}"
out="${DIST_OUT:-dist}"
archs=("$@")
((${#archs[@]})) || archs=(amd64 arm64)
for arch in "${archs[@]}"; do
  dist_env "$arch" "$dir"
  dir=$dist_target_dir
  if [[ -n "${DIST_BLOAT:-}" ]]; then
    # Where the bytes go, unstripped (cargo-bloat needs the symbols); the same flags otherwise.
    CARGO_PROFILE_DIST_STRIP=false \
      cargo bloat --profile dist --locked --target "$target" --target-dir "$dir" --bin stevedore --crates -n 60
    continue
  fi
  start=$(date +%s)
  # With cargo-auditable as the wrapper (dist_env): the dependency list goes into the `.dep-v0` section.
  cargo build --profile dist --locked --target "$target" --target-dir "$dir" --bin stevedore
  end=$(date +%s)
  mkdir -p "$out/$arch"
  install -m 0755 "$dir/$target/dist/stevedore" "$out/$arch/stevedore"
  # A static binary has no program interpreter.
  if command -v readelf >/dev/null && readelf -l "$out/$arch/stevedore" | grep -q 'INTERP'; then
    echo "$out/$arch/stevedore is dynamically linked; expected a static binary" >&2
    exit 1
  fi
  echo "built $out/$arch/stevedore in $((end - start)) s: $(stat -c %s "$out/$arch/stevedore") bytes, sha256 $(sha256sum "$out/$arch/stevedore" | cut -c1-64)"
done
[[ -n "${DIST_BLOAT:-}" ]] || install -m 0644 /etc/ssl/certs/ca-certificates.crt "$out/ca-certificates.crt"
