# Quick start: `make run` (the whole system on simulated hardware at http://127.0.0.1:8080)
# and `make test` (every test). Both set up what they need on a fresh Debian machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= data

.PHONY: run test bench system venv clean central wheelhouse

system:
	@bash scripts/setup-system.sh

$(STAMP): pyproject.toml
	@python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

venv: system $(STAMP)

# The hub, the simulated RS485 devices (their page at :$(DEVICES_PORT)) and the device bridge.
# `make run CONFIG=config/demo-reporting.toml`: the demo center with that file's fields and sections
CONFIG ?=
DEVICES_PORT ?= 8091
run: venv
	@VENV=$(VENV) HOST=$(HOST) PORT=$(PORT) DATA=$(DATA) DEVICES_PORT=$(DEVICES_PORT) CONFIG=$(CONFIG) bash scripts/run-demo.sh

# The province's central backend on this machine (PostgreSQL in data-central/), for the demo center
# `make central CENTRAL_PORT=8095`: elsewhere than 8090 (README, "Reporting to the province")
CENTRAL_PORT ?= 8090
central: venv
	VENV=$(VENV) PORT=$(CENTRAL_PORT) bash scripts/central-demo.sh

# Three test processes (pytest-xdist), a file's tests in one of them; `pytest tests/<file>` alone
# runs in one process as usual.
test: venv
	$(VENV)/bin/pytest -q -n 3 --dist loadfile

# The hub under test runs from a venv with the runtime dependencies only, as on a Pi; the
# benchmark's own clients run from the test venv.
RUNTIME := .venv-runtime
$(RUNTIME)/.installed: pyproject.toml
	@python3 -m venv $(RUNTIME)
	@$(RUNTIME)/bin/python -m pip install -q --disable-pip-version-check -e .
	@touch $@

# `make bench COMPARE=<git revision>` also measures that revision's hub, taking turns with this one.
COMPARE ?=
bench: venv $(RUNTIME)/.installed
	$(PY) bench/benchmark.py --server-python $(RUNTIME)/bin/python $(if $(COMPARE),--compare $(COMPARE))

# Every Python package of a release, for an offline install on a Pi (docs/install.md): run it on
# a machine of the Pi's architecture (arm64) with internet, copy the folder with the repository.
wheelhouse:
	python3 -m pip wheel --wheel-dir wheelhouse .

clean:
	rm -rf $(VENV) $(RUNTIME) build *.egg-info .pytest_cache
