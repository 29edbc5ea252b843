# exportgate developer commands. Everything installs what it needs into .venv and a cache
# outside the repo (~/.cache/exportgate); nothing has to be installed by hand first.
#
#   make demo   set up, then run the local demo (real API server, webhook, sidecar, operator)
#   make test   set up, then run every check and test (what CI runs)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: all setup browser cluster-binaries demo check lint test test-fast proto bench bench-peers clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

# Headless Chromium (Debian's package) for the audit report's browser test.
browser: setup
	$(BIN)/python -m tests.audit.browser install


cluster-binaries: setup
	$(BIN)/python -m tests.cluster build

demo: cluster-binaries
	$(BIN)/python -m scripts.demo

check: setup
	$(BIN)/exportgate check --tenant examples/tenants.yaml examples/workloads.yaml; \
	  code=$$?; [ $$code -eq 0 ] || [ $$code -eq 3 ]

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/gen_proto.py --check
	@if [ -f operator/crds/generate.py ]; then $(BIN)/python operator/crds/generate.py --check; fi
	@if [ -f charts/sync_crds.py ]; then $(BIN)/python charts/sync_crds.py --check; fi
	$(BIN)/python charts/tools/sync_kinds.py --check
	@if [ -f charts/tools/values_docs.py ]; then $(BIN)/python charts/tools/values_docs.py --check; fi

# The one test command: README and .ci/run call exactly this.
test: cluster-binaries browser lint
	EXPORTGATE_REQUIRE_CLUSTER=1 $(BIN)/pytest -q

# Pure tests only: no API server, seconds.
test-fast: setup
	$(BIN)/pytest -q -m "not cluster" tests/core tests/cli tests/decisionlog

proto: setup
	$(BIN)/python scripts/gen_proto.py

bench: cluster-binaries
	$(BIN)/python -m bench

# OPA Gatekeeper and Kyverno built from their Go modules into the same cache, for B2's side-by-side
# rows (docs/benchmarks.md). Not part of `make test`: tens of minutes on 2 cores, once.
bench-peers: cluster-binaries
	$(BIN)/python -m bench.peers build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
