# shellcheck shell=bash
# The flags of a dist/ build, shared by scripts/build-dist.sh (the release binaries) and
# scripts/check-repro.sh (the small crate tests/repro built the same way), so what CI proves reproducible
# on every commit is built exactly as dist/ is. Source it, then call `dist_env <arch> <target-dir>`: it
# sets `target` (the Rust target triple) and `dist_target_dir` (the target directory as an absolute path
# without symlinks or `..`: pass that one to cargo, the remap matches only it) and exports CARGO_ENCODED_RUSTFLAGS, CARGO_INCREMENTAL and
# SOURCE_DATE_EPOCH, and the cargo-auditable wrapper, for a `cargo build --profile dist --locked` run from
# the root of the crate being built.
#
# Reproducible (docs/releasing.md "Reproducible dist/"): every absolute path rustc could embed (panic
# locations, `file!()`, the sources of generic code inlined from the standard library) is remapped to a
# fixed name, so the bytes depend on neither the checkout's directory, nor CARGO_HOME, nor where rustup
# keeps the toolchain, nor the target directory. The crate's [profile.dist] fixes the codegen settings.

dist_env() {
  local arch=$1 dir=$2
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  dist_target_dir=$dir
  local sysroot host gcc_ld cargo_home
  sysroot=$(rustc --print sysroot)
  host=$(rustc -vV | sed -n 's/^host: //p')
  gcc_ld="$sysroot/lib/rustlib/$host/bin/gcc-ld"
  mkdir -p "${CARGO_HOME:-$HOME/.cargo}"
  cargo_home=$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)
  # Both architectures: a static, non-PIE executable linked by LLD with identical code folding (--icf=all
  # folds functions whose machine code is the same, e.g. monomorphisations; only code, never data). amd64:
  # `-C relocation-model=static` instead of the static-pie rustc makes by default, like arm64 always was (no
  # address-space randomisation of the binary itself: docs/security.md "The binary"); LLD is rustc's default
  # linker on x86_64-unknown-linux-gnu. arm64: Debian's cross gcc drives the rust-lld the toolchain ships
  # (gcc-ld/ld.lld). Measured savings of each: BENCHMARKS.md "Action image".
  local flags
  case "$arch" in
    amd64) target=x86_64-unknown-linux-gnu
      flags=(-C relocation-model=static) ;;
    arm64) target=aarch64-unknown-linux-gnu
      flags=(-C link-arg=-fuse-ld=lld -C "link-arg=-B$gcc_ld") ;;
    *) echo "unknown architecture $arch (amd64, arm64)" >&2; return 2 ;;
  esac
  # The registry's unpacked sources exist only once fetched; fetch first so each one gets its remap.
  cargo fetch --locked --quiet
  # rustc applies the last matching remap, so the general prefixes come first: CARGO_HOME, the crate's
  # directory (holding target/ by default), the toolchain, the target directory (OUT_DIR of build scripts),
  # then each registry's sources (…/registry/src/index.crates.io-<hash>/serde-1.0.229 -> /crates/serde-1.0.229).
  local remaps=("$cargo_home=/cargo" "$(pwd -P)=/stevedore" "$sysroot=/rust" "$dir=/target")
  local src
  for src in "$cargo_home"/registry/src/*/; do
    [[ -d "$src" ]] && remaps+=("${src%/}=/crates")
  done
  local rustflags=(-C target-feature=+crt-static -C link-arg=-Wl,--icf=all "${flags[@]}") r
  for r in "${remaps[@]}"; do rustflags+=("--remap-path-prefix=$r"); done
  # 0x1f-separated: a path with spaces stays one argument. Replaces RUSTFLAGS and any [target] rustflags.
  CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; echo "${rustflags[*]}")
  export CARGO_ENCODED_RUSTFLAGS
  # Incremental session directories are per machine; SOURCE_DATE_EPOCH for any C compiler (__DATE__,
  # __TIME__) or tool that would otherwise embed the time of the build.
  export CARGO_INCREMENTAL=0
  SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
  export SOURCE_DATE_EPOCH
  # The dependency list goes into a `.dep-v0` section (cargo-auditable as the rustc wrapper of the crate
  # being built: what `cargo auditable build --locked` sets up, except that the wrapper is named by its bare
  # name, found on PATH. Cargo hashes the wrapper's path into the crate's -C metadata, which shows in the
  # binary (type ids, OUT_DIR paths); `cargo auditable` would pass its absolute install path.)
  command -v cargo-auditable >/dev/null \
    || { echo "cargo-auditable is missing: cargo install --locked cargo-auditable@0.7.7" >&2; return 1; }
  export RUSTC_WORKSPACE_WRAPPER=cargo-auditable
  export CARGO_AUDITABLE_ORIG_ARGS='{"offline":false,"locked":true,"frozen":false,"config":[]}'
  # Settings a machine's environment could otherwise change behind the profile's back.
  unset RUSTFLAGS RUSTC_WRAPPER CARGO_BUILD_RUSTFLAGS CARGO_BUILD_TARGET \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS CARGO_PROFILE_DIST_OPT_LEVEL CARGO_PROFILE_DIST_LTO \
    CARGO_PROFILE_DIST_CODEGEN_UNITS CARGO_PROFILE_DIST_DEBUG CARGO_PROFILE_DIST_STRIP CARGO_PROFILE_DIST_PANIC
}
