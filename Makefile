# torpor — every target sets itself up: a virtualenv in .venv/, pinned
# dependencies from requirements/dev.txt, the package installed editable.
# `make help` lists the targets.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := agent controlplane torporctl common tests bench proto/generate.py setup.py demo

.DEFAULT_GOAL := help
.PHONY: help venv proto check lint format types proto-check layers test test-unit test-integration chaos-long demo bench bench-snapshot bench-snapshot-busy dist lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "torpor needs Python >= 3.11: install python3.11 and run make again")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): on Debian run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP) ## create .venv with pinned dependencies and torpor installed editable

proto: $(STAMP) ## regenerate proto/gen/ from proto/torpor/v1/*.proto
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python proto/generate.py

proto-check: $(STAMP)
	@PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python proto/generate.py --check

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

format: $(STAMP) ## rewrite sources with ruff's formatter and safe fixes
	$(BIN)/ruff check --fix $(SOURCES)
	$(BIN)/ruff format $(SOURCES)

# mypy cannot see through setuptools' editable finder, so it reads torpor.*
# through a tree of links (build/typecheck/torpor/agent -> agent/, ...).
TYPECHECK_LINKS := agent:agent controlplane:controlplane ctl:torporctl common:common proto:proto/gen

types: $(STAMP)
	@mkdir -p build/typecheck/torpor
	@for link in $(TYPECHECK_LINKS); do ln -sfn ../../../$${link#*:} build/typecheck/torpor/$${link%%:*}; done
	$(BIN)/mypy agent controlplane torporctl common

layers: $(STAMP)
	$(BIN)/python tests/layering.py

check: lint types proto-check layers ## lint + types + proto freshness + import layering

test: $(STAMP) systemd-tools ## run the whole test suite (SQLite and PostgreSQL), minutes-long chaos aside
	$(BIN)/pytest -q -m "not chaos_long"

chaos-long: $(STAMP) ## the chaos tests at literal lengths (control-plane outages of 30 s, 90 s, 5 min)
	$(BIN)/pytest -q -m chaos_long

test-unit: $(STAMP) ## only the fast in-process tests
	$(BIN)/pytest -q -m unit

demo: $(STAMP) ## the story: a user, an instance, work written, idle, hibernated, woken, data intact
	PYTHONPATH=$(CURDIR) $(BIN)/python -m demo

bench: $(STAMP) bench-tools ## run the benchmarks under bench/ and print the table
	PYTHONPATH=$(CURDIR) TORPOR_BENCH_SNAPSHOT_SIZE=$(SNAPSHOT_SIZE) $(BIN)/python -m bench

# The reference tools come from Debian packages, installed only when missing.
SNAPSHOT_SIZE ?= 2GiB
SNAPSHOT_COMPRESSION ?= zstd:1,zstd:3,lz4
SNAPSHOT_TOOLS := restic:restic borg:borgbackup zstd:zstd /usr/bin/time:time

.PHONY: bench-tools
bench-tools:
	@missing=""; for t in $(SNAPSHOT_TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		{ apt-get install -y -q $$missing >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$missing >/dev/null 2>&1; }; } \
		|| { echo "bench-snapshot: could not install$$missing with apt-get (need root and the Debian mirror); install them and run again"; exit 1; }; \
	fi

# tests/integration/test_packaging.py runs `systemd-analyze verify` on packaging/*.service;
# Debian's systemd package brings it (installed only when missing; nothing is started).
.PHONY: systemd-tools
systemd-tools:
	@command -v systemd-analyze >/dev/null || { \
		echo "installing systemd (for systemd-analyze verify)"; \
		{ apt-get install -y -q systemd >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q systemd >/dev/null 2>&1; }; } \
		|| { echo "systemd-tools: could not install systemd with apt-get (need root and the Debian mirror); install it and run again"; exit 1; }; }

bench-snapshot: $(STAMP) bench-tools ## torpor snapshot vs restic, borg, tar|zstd (SNAPSHOT_SIZE=2GiB)
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.snapshot --size $(SNAPSHOT_SIZE) --compression $(SNAPSHOT_COMPRESSION)

bench-snapshot-busy: $(STAMP) bench-tools ## the same, with a CPU-bound process beside every phase
	PYTHONPATH=$(CURDIR) $(BIN)/python -m bench.snapshot --size $(SNAPSHOT_SIZE) --compression $(SNAPSHOT_COMPRESSION) --neighbour

dist: $(STAMP) ## build the wheel and sdist into dist/
	$(BIN)/python -m build --no-isolation --outdir dist .

lock: ## re-pin requirements/dev.txt from pyproject.toml (needs the registry)
	rm -rf /tmp/torpor-lock && $(PYTHON) -m venv /tmp/torpor-lock
	/tmp/torpor-lock/bin/pip install --quiet '.[dev]'
	(echo "# Exact versions for the Makefile venv. Regenerate with 'make lock'."; /tmp/torpor-lock/bin/pip freeze --all --exclude torpor --exclude pip) > requirements/dev.txt

clean: ## remove the virtualenv, build outputs and demo state
	rm -rf $(VENV) build dist .demo .bench *.egg-info .pytest_cache .mypy_cache .ruff_cache
