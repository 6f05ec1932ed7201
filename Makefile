# Sinter — build, test, benchmark. Every target installs what it needs on a fresh Debian machine.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT_BUILD_FLAGS ?=
SOAK_KILLS ?= 300
VENV := .venv
# CPU-bound, deterministic suites (power cuts, I/O-error sweeps, the size gate) run in a second
# pass, so that they never starve the timing-sensitive OPC UA and HTTP tests of the first.
HEAVY_TESTS := PowerLossTests|SpoolPowerLossTests|SizeGateTests|FaultInjectingFileSystemTests
PYTHON_TESTS := Tests/python

.PHONY: all build test test-python browser venv deps bench-deps soak soak-powerloss bench report bench-server bench-compare bench-check bench-sim bench-opcua bench-edge fuzz demo clean help

help: ## List the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / { printf "  %-15s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

all: build

deps: ## Check the Swift toolchain (6.2+) and install system packages the build needs (liblz4-dev)
	@Scripts/check-toolchain.sh
	@if ! pkg-config --exists liblz4 2>/dev/null; then \
		echo "installing liblz4-dev"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liblz4-dev pkg-config >/dev/null; \
	fi

build: deps ## Build every target (debug)
	swift build $(SWIFT_BUILD_FLAGS)

test: deps ## Build and run the whole test suite (the README's test command): Swift, then the Python API tests
	swift build --build-tests $(SWIFT_BUILD_FLAGS)
	swift test --skip-build --disable-xctest --skip '$(HEAVY_TESTS)' $(SWIFT_BUILD_FLAGS)
	swift test --skip-build --disable-xctest --filter '$(HEAVY_TESTS)' $(SWIFT_BUILD_FLAGS)
	@$(MAKE) --no-print-directory test-python

test-python: deps browser $(VENV)/.ready ## Python tests against the real binaries (seed client, OpenAPI, schemathesis, sinter-sim, OPC UA interop with asyncua, sinter-edge, sinter-detect, the dashboard in headless chromium, the demo)
	swift build --product sinter-server $(SWIFT_BUILD_FLAGS)
	swift build --product sinter-sim $(SWIFT_BUILD_FLAGS)
	swift build --product sinter-opcua $(SWIFT_BUILD_FLAGS)
	swift build --product sinter-edge $(SWIFT_BUILD_FLAGS)
	swift build --product sinter-detect $(SWIFT_BUILD_FLAGS)
	SINTER_SERVER_BIN=$$(swift build $(SWIFT_BUILD_FLAGS) --show-bin-path)/sinter-server \
	SINTER_SIM_BIN=$$(swift build $(SWIFT_BUILD_FLAGS) --show-bin-path)/sinter-sim \
	SINTER_OPCUA_BIN=$$(swift build $(SWIFT_BUILD_FLAGS) --show-bin-path)/sinter-opcua \
	SINTER_EDGE_BIN=$$(swift build $(SWIFT_BUILD_FLAGS) --show-bin-path)/sinter-edge \
	SINTER_DETECT_BIN=$$(swift build $(SWIFT_BUILD_FLAGS) --show-bin-path)/sinter-detect \
		$(VENV)/bin/pytest -q $(PYTHON_TESTS)

browser: ## Debian chromium and chromedriver for the dashboard tests
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "installing chromium chromium-driver"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

venv: $(VENV)/.ready ## The Python virtualenv for the API tests (.venv, pinned in Tests/python/requirements.txt)

$(VENV)/.ready: $(PYTHON_TESTS)/requirements.txt
	@python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || { \
		echo "installing python3-venv"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	python3 -m venv --clear $(VENV) && $(VENV)/bin/pip install -q -r $(PYTHON_TESTS)/requirements.txt && touch $@

soak: deps ## Crash soak: SOAK_KILLS SIGKILLs of an ingesting child, verifying the store after each
	swift build -c release --product sinter-store
	.build/release/sinter-store crash-soak --kills $(SOAK_KILLS) --directory /tmp/sinter-soak

soak-powerloss: deps ## Simulated power cuts (POWERLOSS_CUTS, default 1000) at random points of a store + alert workload and of the edge spool; prints cuts, acknowledged, lost
	swift build -c release --product sinter-store
	.build/release/sinter-store powerloss-soak --cuts $${POWERLOSS_CUTS:-1000} --directory /tmp/sinter-powerloss
	swift build --build-tests
	SINTER_SPOOL_POWERLOSS_ROUNDS=$${POWERLOSS_CUTS:-1000} swift test --skip-build --disable-xctest --filter SpoolPowerLossTests/powerCutsAtRandomPointsLoseNoDurableRecord

bench-deps: deps ## System packages the Benchmarks package needs (libsqlite3-dev)
	@if ! pkg-config --exists sqlite3 2>/dev/null; then \
		echo "installing libsqlite3-dev"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-dev >/dev/null; \
	fi

bench-check: bench-deps ## CI gate (no clocks): debug build of the Benchmarks package, then sinter-bench check (bytes per frame on fixed seeded frames, bit-exact read back)
	cd Benchmarks && swift build $(SWIFT_BUILD_FLAGS)
	Benchmarks/.build/debug/sinter-bench check

bench-compare: bench-deps ## Sinter vs PostgreSQL 15, SQLite and LZ4 files (release) on a throwaway PG cluster; Benchmarks/Results/compare.{md,json}
	swift build -c release --product sinter-server
	cd Benchmarks && swift build -c release --product sinter-bench
	mkdir -p Benchmarks/Results
	set -o pipefail; cd Benchmarks && ../Scripts/pg-throwaway.sh run -- .build/release/sinter-bench compare \
		--server-bin ../.build/release/sinter-server --json Results/compare.json $(COMPARE_FLAGS) | tee Results/compare.md

bench: bench-deps ## package-benchmark suites (codec, durable append, range queries, JSON frame parser; release, with allocation counts)
	cd Benchmarks && swift package --disable-sandbox benchmark

report: bench-deps ## The store report quoted in README (compression, ingest, queries, restart, memory after 10 GB), table + JSON
	cd Benchmarks && swift build -c release --product store-report
	mkdir -p Benchmarks/Results
	Benchmarks/.build/release/store-report --gigabytes $${GIGABYTES:-10} --json Benchmarks/Results/store-report.json | tee Benchmarks/Results/store-report.md

bench-server: bench-deps ## HTTP load on the release sinter-server (ingest frames/s, query p99) with pass/fail bars, table + JSON
	swift build -c release --product sinter-server
	cd Benchmarks && swift build -c release --product server-report
	cd Benchmarks && .build/release/server-report --server-bin ../.build/release/sinter-server --results-dir Results $(SERVER_REPORT_FLAGS)

bench-sim: bench-deps ## Simulator speed: 100 DMLS + 100 FDM printers at 1 Hz pinned to one core (release), then the fleet-step benchmarks
	swift build -c release --product sinter-sim
	taskset -c 0 .build/release/sinter-sim --dmls 100 --fdm 100 --speed max --sim-seconds 300 --random-faults 2 \
		--start 2026-11-21T10:00:00Z --report-every 10
	cd Benchmarks && swift package --disable-sandbox benchmark --target SimulationBenchmarks

bench-opcua: deps ## OPC UA: 100x100 matrix writes/s into the release server on one core, write->notification latency, table + JSON
	swift build -c release --product sinter-opcua
	Scripts/bench-opcua.sh

bench-edge: deps $(VENV)/.ready ## Edge gateway: frames/s through sinter-edge (OPC UA in, HTTP out) and write->stored latency p50/p99 (release), table + JSON
	swift build -c release --product sinter-server
	swift build -c release --product sinter-edge
	swift build -c release --product sinter-sim
	Scripts/bench-edge.sh

fuzz: deps ## libFuzzer runs of the OPC UA decoders and the request sequence (FUZZ_SECONDS each, default 60)
	Scripts/fuzz.sh

demo: deps ## The whole pipeline (server, edge, detector, simulated printers with a fault) in release; prints the dashboard URL; Ctrl-C stops it
	swift build -c release
	Scripts/demo.sh --bin .build/release $(DEMO_FLAGS)

clean: ## Remove build output
	rm -rf .build Benchmarks/.build
