#!/usr/bin/env bash
# Signal-to-exit time (issue 15, finding 3): a loopback endpoint accepts connections and never answers;
# stevedore is started against it, gets SIGTERM (or SIGINT) 1 s after its request arrived, and the time
# from the signal to the process's exit is measured. Runs that are still alive after 30 s are killed and
# reported as "> 30 s".
#
#   bash scripts/bench-signal.sh [BINARY] [RUNS]
#
# BINARY defaults to the static test binary (target/x86_64-unknown-linux-gnu/debug/stevedore).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/x86_64-unknown-linux-gnu/debug/stevedore}"
runs="${2:-5}"
exec python3 - "$bin" "$runs" <<'PY'
import os, socket, statistics, subprocess, sys, tempfile, threading, time

binary, runs = os.path.abspath(sys.argv[1]), int(sys.argv[2])

class Hang:
    """Accepts and holds connections; never answers."""
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted = 0
        self.held = []
        threading.Thread(target=self.loop, daemon=True).start()
    def loop(self):
        while True:
            c, _ = self.sock.accept()
            self.held.append(c)
            self.accepted += 1
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.sock.getsockname()[1]

def run(case, sig):
    hang = Hang()
    d = tempfile.mkdtemp()
    for f in ("output", "summary", "env"):
        open(os.path.join(d, f), "w").close()
    env = {
        "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_WORKSPACE": d,
        "GITHUB_OUTPUT": os.path.join(d, "output"), "GITHUB_STEP_SUMMARY": os.path.join(d, "summary"),
        "GITHUB_ENV": os.path.join(d, "env"),
        "GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_SHA": "0" * 40, "GITHUB_REF": "refs/heads/main",
        "GITHUB_EVENT_NAME": "push", "GITHUB_RUN_ID": "1",
    }
    if case == "oidc":
        env.update({"INPUT_MODE": "credentials", "INPUT_ROLE-TO-ASSUME": "arn:aws:iam::123456789012:role/r",
                    "INPUT_AWS-REGION": "eu-west-1",
                    "ACTIONS_ID_TOKEN_REQUEST_URL": hang.url + "/token", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"})
    else:
        env.update({"INPUT_MODE": "lint-gate", "INPUT_GITHUB-TOKEN": "ghs_bench", "GITHUB_API_URL": hang.url})
    p = subprocess.Popen([binary], env=env, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while hang.accepted == 0:
        if p.poll() is not None:
            raise SystemExit("%s: exited with %s before its request" % (case, p.returncode))
        if time.monotonic() - t0 > 20:
            p.kill(); raise SystemExit("%s: no request within 20 s" % case)
        time.sleep(0.01)
    time.sleep(1)
    t = time.monotonic()
    p.send_signal(sig)
    try:
        p.wait(timeout=30)
        return (time.monotonic() - t) * 1000, p.returncode
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
        return None, None

import signal as s
print("binary:", binary)
for case, sig, name in (("oidc", s.SIGTERM, "SIGTERM"), ("oidc", s.SIGINT, "SIGINT"), ("github", s.SIGTERM, "SIGTERM")):
    times, codes = [], set()
    for _ in range(runs):
        ms, code = run(case, sig)
        times.append(ms); codes.add(code)
    shown = ["> 30 s" if t is None else "%.0f ms" % t for t in times]
    done = [t for t in times if t is not None]
    med = "%.0f ms" % statistics.median(done) if len(done) == len(times) else "> 30 s"
    print("%-6s hangs, %s 1 s after the request: signal to exit median %s (runs: %s), exit codes %s"
          % (case, name, med, " ".join(shown), sorted(c for c in codes if c is not None) or "killed"))
PY
