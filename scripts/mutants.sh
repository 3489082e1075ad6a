#!/usr/bin/env bash
# Mutation testing of the code that keeps secrets and production safe (issue 31; docs/testing.md,
# "Mutation testing"). cargo-mutants makes one small change at a time (a `<` becomes `<=`, a function
# returns a constant, a `!` is dropped) in the guarded modules, rebuilds and runs their tests; a change no
# test notices ("missed") fails this script, unless `.cargo/mutants.toml` names it as equivalent.
#
#   bash scripts/mutants.sh            # the lines the change touches: HEAD against its first parent
#   BASE=<commit> bash scripts/mutants.sh   # ... against <commit> (a pull request's merge base)
#   bash scripts/mutants.sh --all      # every mutant of the guarded modules
#
# "The change" on a clean clone of main is HEAD against its first parent: for a merge commit that is the
# whole merged branch, for a commit made on main that commit. A root commit (no parent) is compared with
# the empty tree, so every line counts. The mutants run in place (`--in-place`: the clone's own `target/`,
# warm from the test build) and each group is bounded by a timeout: running past it fails the step.
#
# Groups (the tests that guard each module):
# - unit: the masker and workflow commands, Markdown escaping, environment names, the trigger policy, OIDC
#   validation and the JWT signature check under it (net/crypto.rs), guarded by their unit tests (`cargo test --lib`; the scores so far are in docs/testing.md).
# - integration: release-record verification (github/deployments.rs, the rollback verifier) and the
#   preview ownership checks: their tests need the fake GitHub of tests/it (`--test it`, filtered).
set -euo pipefail
cd "$(dirname "$0")/.."

unit_files=(src/report/commands.rs src/report/markdown.rs src/names.rs src/policy.rs src/oidc.rs src/net/crypto.rs)
it_files=(src/github/deployments.rs src/modes/deploy/rollback.rs src/modes/deploy/preview.rs)
it_filters=(release_records rollback preview)
unit_bound=${STEVEDORE_MUTANTS_UNIT_BOUND:-900}
it_bound=${STEVEDORE_MUTANTS_IT_BOUND:-1200}
out=${STEVEDORE_MUTANTS_OUT:-$(mktemp -d)}
mkdir -p "$out"

all=false
[[ ${1:-} == --all ]] && all=true

diff_file="$out/change.diff"
if ! $all; then
  if [[ -n ${BASE:-} ]]; then
    base=$BASE
  elif git rev-parse -q --verify 'HEAD^1' >/dev/null; then
    base=$(git rev-parse 'HEAD^1')
  else
    # A root commit: everything is new.
    base=$(git hash-object -t tree /dev/null)
  fi
  git diff --no-ext-diff --no-color "$base" HEAD -- "${unit_files[@]}" "${it_files[@]}" >"$diff_file"
  echo "mutants: the change is HEAD ($(git rev-parse --short HEAD)) against $base"
fi

# cargo-mutants exits 0 when every mutant was caught (or does not build), 2 when one was missed, 3 when
# only timeouts remain (a mutant that makes a test hang is caught: the suite would never pass), 4 when the
# unmutated tests fail.
run_group() {
  local name=$1 bound=$2
  shift 2
  local files=() args=()
  while [[ $1 != -- ]]; do files+=("$1"); shift; done
  shift
  args=("$@")
  local scope=()
  for f in "${files[@]}"; do scope+=(--file "$f"); done
  if ! $all; then
    if ! git diff --quiet "$base" HEAD -- "${files[@]}"; then
      scope+=(--in-diff "$diff_file")
    else
      echo "mutants ($name): the change touches none of ${files[*]}"
      return 0
    fi
  fi
  local t0=$SECONDS rc=0
  timeout --signal=INT --kill-after=60 "$bound" \
    cargo mutants --in-place --no-shuffle --baseline=skip \
      --output "$out/$name" "${scope[@]}" "${args[@]}" || rc=$?
  echo "mutants ($name): exit $rc after $((SECONDS - t0)) s"
  case $rc in
    0 | 3) ;;
    124 | 130)
      echo "::error::mutation testing ($name) ran past its bound of $bound s: split the change, or run \`bash scripts/mutants.sh\` locally and raise STEVEDORE_MUTANTS_${name^^}_BOUND" >&2
      return 1
      ;;
    2)
      echo "::error::mutation testing ($name): a change to guarded code that no test notices (missed mutants below); add a test that catches the bug each stands for, or name a truly equivalent one in .cargo/mutants.toml with the reason" >&2
      sed 's/^/missed: /' "$out/$name/mutants.out/missed.txt" >&2
      return 1
      ;;
    *)
      echo "::error::mutation testing ($name) failed (cargo-mutants exit $rc; see $out/$name/mutants.out/debug.log)" >&2
      return 1
      ;;
  esac
}

# Each mutant's tests stop at a timeout (a hang counts as caught). The unit tests take a few seconds, so
# their bound is short: a mutant that loops while it allocates (`runner_lines` with `+` made `-` grew a
# test process past 14 GB in 80 s) is stopped long before it can exhaust the runner's memory.
status=0
run_group unit "$unit_bound" "${unit_files[@]}" -- --timeout 30 --cargo-arg=--lib || status=1
run_group it "$it_bound" "${it_files[@]}" -- --timeout 120 --cargo-arg=--lib --cargo-arg=--test=it \
  --cargo-test-arg=-- "${it_filters[@]/#/--cargo-test-arg=}" || status=1
exit $status
