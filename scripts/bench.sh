#!/usr/bin/env bash
# Measures the figures DESIGN.md sets targets for and writes them to BENCHMARKS.md:
#   - image size and build time of our Dockerfile (podman build --no-cache, as the runner builds per job);
#   - process start to first request: time from exec of dist/amd64/stevedore to the first TCP accept on a
#     loopback listener that GITHUB_API_URL and ACTIONS_ID_TOKEN_REQUEST_URL point at;
#   - peak memory (maximum resident set size from /usr/bin/time -v) of the same runs.
#
#   bash scripts/bench.sh            # writes BENCHMARKS.md
#
# Needs podman (CONTAINERS_CONF defaults to tests/podman/containers.conf), python3 and /usr/bin/time.
# Uses only loopback; no request leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/tests/podman/containers.conf}"
runs="${BENCH_RUNS:-5}"
bin="$PWD/dist/amd64/stevedore"
[[ -x $bin ]] || { echo "$bin missing: run scripts/build-dist.sh" >&2; exit 1; }

load=$(cut -d' ' -f1-3 /proc/loadavg)

# --- image --------------------------------------------------------------------------------------------
tag=localhost/stevedore-bench:latest
build_times=()
for _ in $(seq 1 "$runs"); do
  s=$(date +%s%N)
  podman build --quiet --no-cache --tag "$tag" --file Dockerfile . >/dev/null
  e=$(date +%s%N)
  build_times+=("$(((e - s) / 1000000))")
done
image_bytes=$(podman image inspect --format '{{.Size}}' "$tag")
binary_bytes=$(stat -c %s "$bin")
podman rmi -f "$tag" >/dev/null

# --- start to first request, peak memory ---------------------------------------------------------------
# Python listens on 127.0.0.1, execs the binary, and reports the ms from just before exec to the first
# accept (or to the exit when the binary made no request), plus the peak RSS reported by /usr/bin/time.
probe() {
  local label=$1
  shift
  python3 - "$bin" "$runs" "$label" "$@" <<'PY'
import os, re, select, socket, subprocess, sys, tempfile, time, statistics
binary, runs, label, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
firsts, exits, rss, made = [], [], [], 0
for _ in range(runs):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    port = ls.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    work = tempfile.mkdtemp()
    env = {
        "PATH": "/usr/bin:/bin",
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": work,
        "GITHUB_API_URL": url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "octo-org/octo-repo",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_RUN_ID": "1",
        "GITHUB_OUTPUT": os.path.join(work, "output"),
        "GITHUB_STEP_SUMMARY": os.path.join(work, "summary"),
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"{url}/_apis/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bench-request-token",
        "AWS_ENDPOINT_URL": url,
        "INPUT_GITHUB-TOKEN": "bench-github-token",
    }
    for a in args:
        k, v = a.split("=", 1)
        env[k] = v
    timefile = os.path.join(work, "time")
    t0 = time.perf_counter()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", timefile, binary],
                         env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait on the listener and on the process (pidfd) together: both instants are exact, no polling.
    pfd = os.pidfd_open(p.pid)
    first = None
    while True:
        ready, _, _ = select.select([ls, pfd], [], [], 120)
        now = time.perf_counter()
        if not ready:
            p.kill()
            sys.exit(f"{label}: the binary neither connected nor exited within 120 s")
        if ls in ready:
            conn, _ = ls.accept()
            if first is None:
                first = now - t0
            conn.close()  # no answer: the binary fails the run, which ends the measurement
        if pfd in ready:
            break
    os.close(pfd)
    p.wait()
    exits.append((now - t0) * 1000)
    ls.close()
    if first is not None:
        made += 1
        firsts.append(first * 1000)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(timefile).read())
    rss.append(int(m.group(1)) / 1024 if m else float("nan"))
med = lambda xs: f"{statistics.median(xs):.1f}" if xs else "n/a"
req = f"{med(firsts)} ms (median of {made})" if made else f"no request made in {runs} runs"
print(f"| {label} | {req} | {med(exits)} ms | {max(rss):.1f} MB |")
PY
}

rows=()
# The floor: process start and exit, no request.
rows+=("$(python3 - "$bin" "$runs" <<'PY'
import subprocess, sys, time, statistics, re, tempfile, os
binary, runs = sys.argv[1], int(sys.argv[2])
exits, rss = [], []
for _ in range(runs):
    tf = tempfile.mktemp()
    t0 = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-v", "-o", tf, binary, "--version"], stdout=subprocess.DEVNULL, check=True)
    exits.append((time.perf_counter() - t0) * 1000)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(tf).read())
    rss.append(int(m.group(1)) / 1024)
print(f"| `stevedore --version` (start and exit, no request) | n/a | {statistics.median(exits):.1f} ms | {max(rss):.1f} MB |")
PY
)")
rows+=("$(probe '`credentials` (first request: the in-progress check run)' INPUT_MODE=credentials \
  'INPUT_ROLE-TO-ASSUME=arn:aws:iam::123456789012:role/bench' INPUT_AWS-REGION=us-east-1)")
rows+=("$(probe '`publish` with `dry-run` (first request: a GitHub read)' INPUT_MODE=publish INPUT_DRY-RUN=true)")
rows+=("$(probe '`lint-gate` on an empty workspace' INPUT_MODE=lint-gate)")

# --- in-process and process benchmarks (the test rig: moto, the scripted ECS endpoint, the fake GitHub) --
# These run from the test binary (debug profile: the only build CI makes), so milliseconds are upper bounds;
# counts (requests, API calls) are exact. The deploy's peak memory is measured on dist/amd64/stevedore.
bench() { # bench FILTER -> the Markdown table rows / BENCH lines the test prints
  cargo test --quiet --test it "$1" -- --ignored --nocapture --test-threads=1 2>&1 | grep -E '^(\||BENCH|bench_)' || true
}
if [[ -z "${BENCH_SKIP_TESTS:-}" ]]; then
  ecs_rows=$(bench bench_ecs_detection_latency_and_api_calls)
  mem_row=$(STEVEDORE_BENCH_BIN="$bin" bench bench_deploy_process_peak_memory)
  req_rows=$(bench bench_requests_per_report)
  ann_row=$(cargo test --quiet --test it reporting::ten_thousand -- --nocapture 2>&1 | grep -E '^BENCH' || true)
  cred_rows=$(bench bench_credentials)
  lambda_rows=$(bench bench_lambda_deploy)
  lint_rows=$(bench bench_lint_gate)
fi

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1000000}'; }

{
  echo "# Benchmarks"
  echo
  echo "Measured with \`bash scripts/bench.sh\` ($runs runs each, medians) on $(date -u +%Y-%m-%d),"
  echo "$(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(podman --version), binary"
  echo "\`$($bin --version)\`; load average at the start: $load (other jobs share the machine)."
  echo
  echo "## Action image"
  echo
  echo "| figure | measured | target |"
  echo "| --- | --- | --- |"
  echo "| image size (\`podman image inspect\`) | $(mb "$image_bytes") MB | ≤ 16 MB |"
  echo "| static binary (\`dist/amd64/stevedore\`) | $(mb "$binary_bytes") MB | |"
  echo "| \`podman build --no-cache\` of the Dockerfile | $(median "${build_times[@]}") ms (runs: ${build_times[*]}) | ≤ 5 s |"
  echo
  echo "## Start-up and memory (dist/amd64/stevedore, outside the container)"
  echo
  echo "Time from exec to the first TCP accept on a loopback listener that \`GITHUB_API_URL\`,"
  echo "\`ACTIONS_ID_TOKEN_REQUEST_URL\` and \`AWS_ENDPOINT_URL\` point at; the listener closes the connection,"
  echo "so each run then fails fast. Peak memory is the maximum resident set size from \`/usr/bin/time -v\`."
  echo "Target: first request ≤ 50 ms (peak memory of a whole deploy: see below)."
  echo
  echo "| run | exec to first request | exec to exit | peak RSS |"
  echo "| --- | --- | --- | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "\"no request made\" means that mode did not contact any endpoint (it stopped earlier, e.g. on a"
  echo "missing input); the exit time is then the whole run."
  if [[ -z "${BENCH_SKIP_TESTS:-}" ]]; then
    echo
    echo "## Peak memory of a whole deploy (dist/amd64/stevedore as a process)"
    echo
    echo "A Lambda canary (50 % for 1 s) with alarm, health-URL and test-invoke checks every 250 ms, against moto;"
    echo "\`/usr/bin/time -f %M\`, 3 runs (\`cargo test --test it bench_deploy_process_peak_memory -- --ignored --nocapture\`)."
    echo "Target ≤ 40 MB."
    echo
    echo "$mem_row"
    echo
    echo "## ECS: time to verdict against the scripted ECS endpoint"
    echo
    echo "The whole step in-process; the endpoint flips the rollout at a scheduled instant between polls"
    echo "(\`cargo test --test it bench_ecs_detection_latency_and_api_calls -- --ignored --nocapture\`)."
    echo "Targets: success noticed ≤ 5 s after COMPLETED, failure ≤ 10 s after FAILED or at the first deterministic stop."
    echo
    echo "$ecs_rows"
    echo
    echo "## GitHub requests per report"
    echo
    echo "Against the OpenAPI-validating fake GitHub (\`cargo test --test it bench_requests_per_report -- --ignored --nocapture\`):"
    echo
    echo "$req_rows"
    echo
    echo "10,000 annotations (target: ≤ 201 requests, none lost; \`cargo test --test it reporting::ten_thousand -- --nocapture\`):"
    echo
    echo "    $ann_row"
    echo
    echo "## Credentials: start to credentials, and to failure on AccessDenied"
    echo
    echo "(\`cargo test --test it bench_credentials -- --ignored --nocapture\`; target: wrong trust policy fails in ≤ 3 s)"
    echo
    echo "$cred_rows"
    echo
    echo "## Lambda: API calls and stevedore's own overhead per deploy"
    echo
    echo "(\`cargo test --test it bench_lambda_deploy -- --ignored --nocapture\`, moto)"
    echo
    echo "$lambda_rows"
    echo
    echo "## lint-gate: 10,000 test cases and 5,000 findings"
    echo
    echo "(\`cargo test --test it bench_lint_gate -- --ignored --nocapture\`)"
    echo
    echo "$lint_rows"
  fi
} >BENCHMARKS.md
cat BENCHMARKS.md
