# Sourced by the scripts that test the release binary from outside
# (autobahn.sh, api-check.sh): a scratch directory `$work`, removed on exit
# with the server, and `start_release_server`, which starts
# target/release/confab on a free loopback port with the defaults, storage in
# memory, and the `CONFAB_*` settings given as arguments (`KEY=value`), then
# sets `$addr` to where it listens. Its log is `$work/server.out`.

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_release_server() {
  env CONFAB_SITE_ADDR=127.0.0.1:0 \
    CONFAB_CONFIG=/nonexistent/use-the-defaults.toml \
    CONFAB_STORAGE=memory \
    CONFAB_DATA_DIR="$work/data" \
    RUST_LOG=warn \
    "$@" \
    target/release/confab > "$work/server.out" 2> "$work/server.err" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '^confab listening on http://' "$work/server.out" 2>/dev/null && break
    sleep 0.1
  done
  addr=$(sed -n 's|^confab listening on http://||p' "$work/server.out")
  [ -n "$addr" ] || { echo "the server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
}
