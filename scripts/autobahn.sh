#!/usr/bin/env bash
# The Autobahn|Testsuite (wstest -m fuzzingclient) against the release
# binary's echo endpoint (CONFAB_ECHO_PATH), which runs the same connection
# code as /ws. Every case but 12.* and 13.* (permessage-deflate, which
# confab does not offer). Fails unless every case passes: OK, NON-STRICT
# or INFORMATIONAL (README lists and explains those), never FAILED.
#
# Installs the suite on first use: it runs only on Python 2.7 (pyenv's),
# in a virtualenv under target/ (see ../shared/TOOLCHAIN.md).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON27=${PYTHON27:-/root/.pyenv/versions/2.7.18/bin/python}
VENV=target/autobahn-venv

if [ ! -x "$VENV/bin/wstest" ]; then
  echo "==> installing the Autobahn test suite (Python 2.7) into $VENV"
  [ -x "$PYTHON27" ] || { echo "autobahn: Python 2.7 is needed at $PYTHON27 (pyenv install 2.7.18)" >&2; exit 1; }
  python3 -m pip install --quiet "virtualenv<20.22"
  rm -rf "$VENV"
  python3 -m virtualenv --quiet -p "$PYTHON27" "$VENV"
  "$VENV/bin/pip" install --quiet autobahntestsuite
fi

. scripts/release-server.sh

# Large limits for the 9.* cases (messages of up to 16 MiB, echoed whole),
# no pings of ours in the middle of a case, and no rate limits: the suite
# opens some 500 connections from one address in a few minutes.
start_release_server \
  CONFAB_ECHO_PATH=/echo \
  CONFAB_MAX_MESSAGE_BYTES=$((20 * 1024 * 1024)) \
  CONFAB_SEND_QUEUE_BYTES=$((64 * 1024 * 1024)) \
  CONFAB_HEARTBEAT_INTERVAL_MS=600000 \
  CONFAB_HEARTBEAT_TIMEOUT_MS=1200000 \
  CONFAB_RATE_LIMITS=off

cat > "$work/spec.json" <<EOF
{
  "outdir": "$work/reports",
  "servers": [{ "agent": "confab", "url": "ws://$addr/echo" }],
  "cases": ["*"],
  "exclude-cases": ["12.*", "13.*"],
  "exclude-agent-cases": {}
}
EOF

echo "==> Autobahn fuzzingclient against ws://$addr/echo (about half a minute)"
(cd "$work" && "$OLDPWD/$VENV/bin/wstest" -m fuzzingclient -s spec.json > wstest.log 2>&1) || {
  tail -20 "$work/wstest.log" >&2
  exit 1
}

python3 - "$work/reports/index.json" <<'EOF'
import json, sys, collections
results = json.load(open(sys.argv[1]))["confab"]
by = collections.defaultdict(list)
for case, result in results.items():
    by[result["behavior"]].append(case)
    if result["behaviorClose"] not in ("OK", "INFORMATIONAL"):
        by["close " + result["behaviorClose"]].append(case)
def key(case):
    return [int(part) for part in case.split(".")]
for behavior in sorted(by):
    cases = sorted(by[behavior], key=key)
    shown = ", ".join(cases) if behavior != "OK" else ""
    print(f"autobahn: {len(cases):4} {behavior} {shown}")
bad = [c for b in ("FAILED", "close FAILED", "UNIMPLEMENTED", "close UNIMPLEMENTED") for c in by.get(b, [])]
if bad:
    print("autobahn: FAILED cases: " + ", ".join(sorted(bad, key=key)), file=sys.stderr)
    sys.exit(1)
print(f"autobahn: {len(results)} cases, 0 FAILED")
EOF
