# The two commands of README.md: `make run` and `make test`. Both install what
# is missing first (scripts/setup.sh), then build.

SHELL := /bin/bash
# binaryen's wasm-opt from npm must shadow any older one on the system.
export PATH := $(CURDIR)/tools/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup build run dev test test-rust test-e2e test-autobahn test-api test-fuzz bench bench-persistence

setup:
	@scripts/setup.sh

# Release server binary and size-optimised WASM bundle, into target/, with
# brotli and gzip copies of the bundle that the server sends when accepted.
build: setup
	cargo leptos build --release
	node scripts/bundle.mjs

# Rebuilds on change. The compressed copies go first: they would be served
# in place of the bundles the watcher writes.
dev: setup
	rm -f target/site/pkg/*.br target/site/pkg/*.gz
	cargo leptos watch

# Serves the app at http://127.0.0.1:3000 with the embedded defaults.
run: build
	target/release/confab

# Every test: unit and integration (release profile, sharing the build's
# dependencies; cluster mode's start their own PostgreSQL and Redis on
# loopback), the Autobahn WebSocket conformance suite against the release
# binary's echo endpoint, Schemathesis against the HTTP API's OpenAPI
# document, every fuzz target for 20 s, then the browser tests against the
# release binary.
test: build
	node scripts/bundle.mjs --check
	scripts/module-graph.py
	cargo test --release --no-default-features --features ssr
	cargo test --release --no-default-features --features bench --bin confab-bench
	scripts/autobahn.sh
	scripts/api-check.sh
	scripts/fuzz.sh
	cd end2end && npx playwright test

# The parts alone, for development.
test-rust: setup
	cargo test --release --no-default-features --features ssr
	cargo test --release --no-default-features --features bench --bin confab-bench

test-e2e: build
	cd end2end && npx playwright test

# The Autobahn|Testsuite alone (installs it on first use).
test-autobahn: build
	scripts/autobahn.sh

# Schemathesis against the HTTP API alone (installs it on first use).
test-api: build
	scripts/api-check.sh

# The fuzz targets alone, each for FUZZ_SECONDS (default 20).
test-fuzz: setup
	scripts/fuzz.sh

# The load generator's scenarios against the release server: one table.
bench: build
	cargo build --release --no-default-features --features bench --bin confab-bench
	target/release/confab-bench all

# Broadcast throughput with storage in memory and in SQLite (prints the ratio).
bench-persistence: setup
	cargo bench --no-default-features --features ssr --bench persistence
