#!/usr/bin/env bash
# Gate overhead for 10,000 test cases and 5,000 findings, measured on the stevedore binary as the runner starts it
# (GITHUB_ACTIONS=true, inputs as INPUT_* variables), with /usr/bin/time for wall time and peak RSS.
# Usage: scripts/bench-lint-gate.sh [path/to/stevedore]   (default: target/debug/stevedore; build it first)
set -euo pipefail
bin="${1:-target/debug/stevedore}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ws" "$work/files"
# The inputs: the same generator as the #[ignore] test `bench_lint_gate`.
python3 - "$work/ws" <<'PY'
import json, sys, os
d = sys.argv[1]
x = ['<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="nextest-run">\n']
for s in range(100):
    x.append(f'  <testsuite name="crate{s}" tests="100">\n')
    for c in range(100):
        n = s * 100 + c
        if n % 10 == 0:
            x.append(f'    <testcase name="tests::case_{n}" classname="crate{s}" time="0.01"><failure message="thread &apos;tests::case_{n}&apos; panicked at src/m{s}.rs:{c}:9" type="test failure">thread &apos;tests::case_{n}&apos; panicked at src/m{s}.rs:{c}:9:\nassertion `left == right` failed\n  left: 1\n right: 2\nstack backtrace:\n   0: std::panicking::begin_panic\n   1: crate{s}::tests::case_{n}\n             at ./src/m{s}.rs:{c}:9</failure></testcase>\n')
        else:
            x.append(f'    <testcase name="tests::case_{n}" classname="crate{s}" time="0.01"/>\n')
    x.append('  </testsuite>\n')
x.append('</testsuites>\n')
open(os.path.join(d, 'junit.xml'), 'w').write(''.join(x))
res = [{"ruleId": f"R{i % 50}", "level": "error" if i % 5 == 0 else "warning",
        "message": {"text": f"finding number {i}: something is not right here"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"file:///home/runner/work/r/r/src/f{i % 200}.rs"},
                                            "region": {"startLine": i % 400 + 1, "startColumn": 5}}}]} for i in range(5000)]
json.dump({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "bench"}}, "results": res}]}, open(os.path.join(d, 'findings.sarif'), 'w'))
PY
ls -la "$work/ws"
set +e
env -i PATH="$PATH" GITHUB_ACTIONS=true GITHUB_WORKSPACE="$work/ws" \
  GITHUB_OUTPUT="$work/files/out" GITHUB_STEP_SUMMARY="$work/files/summary" \
  INPUT_MODE=lint-gate INPUT_PR-TITLE=off \
  "INPUT_CHECKS=- name: Tests
  results: junit.xml
- name: Scan
  results: findings.sarif" \
  /usr/bin/time -f 'BENCH wall %e s, peak RSS %M KiB' "$bin" > "$work/files/stdout"
code=$?
set -e
echo "exit code $code (1 expected: the gate fails)"
grep -E '^(tests-tests-failed|scan-findings)' -A1 "$work/files/out" | grep -v '^--' || true
wc -c "$work/files/summary" "$work/files/stdout"
