# kernel-lab: `make lab` runs the default labs and prints the results; `make test` runs the suite;
# `make check` runs the linter (ruff), the import contract and the unit tests (no traffic, no
# guest: the edit loop).
# lab and test do all set-up first (idempotent): Debian packages, then a virtual environment in .venv.
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.kernel-lab-installed
PYTEST  := $(VENV)/bin/pytest

.PHONY: setup system venv lab nightly source-kernel test check bench sweep

setup: system venv

system:
	@bash scripts/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
	@$(VENV)/bin/pip install -q -e . 2>&1 | grep -v "^WARNING: Location" || true
	@$(VENV)/bin/python -c "import harness.plugin, pyroute2, iperf3, tabulate, matplotlib, jsonschema, pytest_rerunfailures, pytest_repeat, xdist, junitparser, kcidb_io, yaml"
	@touch $(STAMP)

lab: setup
	$(VENV)/bin/kernel-lab lab

nightly: setup
	$(VENV)/bin/kernel-lab nightly

# Debian's kernel source built with the labs' config fragment (once, cached), booted as a tree
source-kernel: setup
	tree=$$($(VENV)/bin/kernel-lab build-kernel) && $(PYTEST) --kernel "$$tree" labs/ingress_ifb

test: setup
	$(PYTEST) --durations=25

check: venv
	$(VENV)/bin/ruff check harness labs tests bench
	$(VENV)/bin/lint-imports
	$(PYTEST) -q tests/unit

bench: setup
	$(VENV)/bin/python bench/build_teardown.py

sweep: setup
	$(VENV)/bin/kernel-lab sweep
