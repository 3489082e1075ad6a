#!/usr/bin/env bash
# `mode: plan` on a plan of 6,000 resource changes made by repeating real fixtures' resources
# (tests/fixtures/iac/terraform/show-json: basic-create, modules, requires-replace, basic-delete,
# sensitive-values; each copy's address suffixed `_N`), measured on the stevedore binary as the runner
# starts it (GITHUB_ACTIONS=true, inputs as INPUT_* variables), with /usr/bin/time for wall time and peak
# RSS. The comment is the job summary's body (the same Markdown); the script prints its size and checks
# that every destroyed address is named in it.
# Usage: scripts/bench-plan.sh [path/to/stevedore]   (default: target/debug/stevedore; build it first)
set -euo pipefail
bin="${1:-target/debug/stevedore}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ws" "$work/files"
python3 - "$root/tests/fixtures/iac/terraform/show-json" "$work/ws/plan.json" "$work/destroys.txt" <<'PY'
import json, sys
src, out, destroys = sys.argv[1:]
rcs = []
for f in ["basic-create", "modules", "requires-replace", "basic-delete", "sensitive-values"]:
    rcs += json.load(open(f"{src}/{f}.json"))["resource_changes"]
changes, i = [], 0
while len(changes) < 6000:
    for rc in rcs:
        c = json.loads(json.dumps(rc))
        c["address"] = f'{c["address"]}_{i}'
        changes.append(c)
        i += 1
json.dump({"format_version": "1.2", "terraform_version": "1.5.7", "resource_changes": changes}, open(out, "w"))
open(destroys, "w").write("\n".join(c["address"] for c in changes if "delete" in c["change"]["actions"]) + "\n")
print(f"{len(changes)} resource changes, {sum(1 for c in changes if 'delete' in c['change']['actions'])} destroys or replacements, {sum(len(json.dumps(c)) for c in changes)} bytes")
PY
set +e
env -i PATH="$PATH" GITHUB_ACTIONS=true GITHUB_WORKSPACE="$work/ws" \
  GITHUB_OUTPUT="$work/files/out" GITHUB_STEP_SUMMARY="$work/files/summary" \
  INPUT_MODE=plan INPUT_PLANS="dev=plan.json" \
  /usr/bin/time -f 'BENCH wall %e s, peak RSS %M KiB' "$bin" > "$work/files/stdout"
code=$?
set -e
echo "exit code $code"
grep -A1 '^plan-counts' "$work/files/out" | tail -1
# The comment is the summary's heading and body, before the list of every annotation the job summary adds
# (plus the marker and footer, under 200 characters).
python3 - "$work/files/summary" "$work/comment.md" <<'PY'
import sys
s = open(sys.argv[1]).read()
body = s.split("\n<details><summary>All ")[0]
open(sys.argv[2], "w").write(body)
print(f"comment body: {len(body)} characters (GitHub's comment limit: 65,536); job summary: {len(s)} characters")
PY
missing=0
while read -r a; do
  [ -z "$a" ] && continue
  grep -qF "\`$a\`" "$work/comment.md" || { missing=$((missing + 1)); echo "not named: $a"; }
done < "$work/destroys.txt"
echo "destroys or replacements not named in the comment: $missing"
