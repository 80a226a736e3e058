#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document: Schemathesis (from PyPI)
# generates requests from /api/openapi.json, valid and invalid, runs them
# against the release binary and checks every answer against the document:
# no server error, only documented statuses, content types, headers and
# bodies, invalid input refused, valid input taken, and every route refused
# without the key (or the session routes without a session token; settings
# in scripts/schemathesis.toml). A fixed seed makes each run the same run.
#
# Installs Schemathesis on first use into a virtualenv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=target/schemathesis-venv
KEY=schemathesis-key-0123456789abcdef0123

if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "==> installing Schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

. scripts/release-server.sh

# No rate limits: the run makes a few thousand requests with one key.
start_release_server CONFAB_API_KEYS="$KEY" CONFAB_RATE_LIMITS=off

# An account for the session routes, and its token.
SESSION_TOKEN=$(python3 - "http://$addr/api/accounts" <<'PY'
import json, sys, urllib.request
body = json.dumps({"username": "schemathesis", "password": "schemathesis password"}).encode()
request = urllib.request.Request(sys.argv[1], body, {"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request))["token"])
PY
)
export API_KEY="$KEY" SESSION_TOKEN

(cd "$work" && "$OLDPWD/$VENV/bin/schemathesis" --config-file "$OLDPWD/scripts/schemathesis.toml" \
  run "http://$addr/api/openapi.json" \
  --max-examples 100 \
  --seed 20261130 \
  --generation-database none \
  --no-color)
# Bad requests are refused, never logged as the server's own trouble.
if grep -E ' (WARN|ERROR) ' "$work/server.out" || grep -q . "$work/server.err"; then
  echo "api-check: the server logged warnings or errors (above, and:)" >&2
  cat "$work/server.err" >&2
  exit 1
fi
