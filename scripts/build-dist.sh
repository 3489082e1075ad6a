#!/usr/bin/env bash
# Rebuilds dist/ (in release commits: docs/releasing.md): the static binary per architecture the Dockerfile
# copies by TARGETARCH (dist/amd64/stevedore, dist/arm64/stevedore) and the CA bundle a scratch image needs.
# Each binary embeds the hash of the sources it was built from (build.rs); scripts/check-dist.sh compares it
# with the sources, so CI proves at a release tag that dist/ is current without rebuilding it.
#
#   bash scripts/build-dist.sh            # both architectures
#   bash scripts/build-dist.sh amd64      # one
#
# Needs gcc-aarch64-linux-gnu and libc6-dev-arm64-cross for arm64 (.cargo/config.toml names the linker).
# Uses its own target directory (target/dist, or DIST_TARGET_DIR: two architectures can then build at once)
# so it does not invalidate debug builds.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${DIST_TARGET_DIR:-target/dist}"
gcc_ld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld"
archs=("$@")
((${#archs[@]})) || archs=(amd64 arm64)
for arch in "${archs[@]}"; do
  # Both architectures: a static, non-PIE executable linked by LLD with identical code folding (--icf=all
  # folds functions whose machine code is the same, e.g. monomorphisations; only code, never data). amd64:
  # `-C relocation-model=static` instead of the static-pie rustc makes by default, like arm64 always was (no
  # address-space randomisation of the binary itself: docs/security.md "The binary"); LLD is rustc's default
  # linker on x86_64-unknown-linux-gnu. arm64: Debian's cross gcc drives the rust-lld the toolchain ships
  # (gcc-ld/ld.lld). Measured savings of each: BENCHMARKS.md "Action image".
  case "$arch" in
    amd64) target=x86_64-unknown-linux-gnu
      flags="-C relocation-model=static" ;;
    arm64) target=aarch64-unknown-linux-gnu
      flags="-C link-arg=-fuse-ld=lld -C link-arg=-B$gcc_ld" ;;
    *) echo "unknown architecture $arch (amd64, arm64)" >&2; exit 2 ;;
  esac
  start=$(date +%s)
  RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,--icf=all $flags" \
    cargo build --profile dist --locked --target "$target" --target-dir "$dir" --bin stevedore
  end=$(date +%s)
  mkdir -p "dist/$arch"
  install -m 0755 "$dir/$target/dist/stevedore" "dist/$arch/stevedore"
  # A static binary has no program interpreter.
  if command -v readelf >/dev/null && readelf -l "dist/$arch/stevedore" | grep -q 'INTERP'; then
    echo "dist/$arch/stevedore is dynamically linked; expected a static binary" >&2
    exit 1
  fi
  echo "built dist/$arch/stevedore in $((end - start)) s: $(stat -c %s "dist/$arch/stevedore") bytes"
done
install -m 0644 /etc/ssl/certs/ca-certificates.crt dist/ca-certificates.crt
