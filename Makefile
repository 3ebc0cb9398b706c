# The two commands a fresh clone needs: `make run` and `make test`.
PYTHON_VERSION := $(shell cat .python-version)
PYTHON ?= python$(PYTHON_VERSION)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench chaos install tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/townsquare up

lint: $(STAMP)
	$(BIN)/ruff format --check townsquare tests benchmarks migrations
	$(BIN)/ruff check townsquare tests benchmarks migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

# System tools some tests drive: tmux (the console's real-terminal test) and Debian's
# chromium (the dashboard's browser test; never a downloaded browser).
SYSTEM_TOOLS := tmux chromium
tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "make test needs:$$missing; install with your package manager" >&2; exit 1; \
	  fi; \
	fi

test: lint tools
	COVERAGE_CORE=sysmon $(BIN)/python -m pytest -n 6 --dist worksteal -m 'not timing' --durations=25 --cov --cov-report= --cov-fail-under=0
	COVERAGE_CORE=sysmon $(BIN)/python -m pytest -m timing --cov --cov-append --cov-report=term

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The full chaos run (docs/reliability.md): minutes of kills and outages under the crowd; it
# prints the table of faults and invariants and writes it to var/chaos-report.md. Options:
# make chaos CHAOS_ARGS="--duration 600 --seed 3". The short form runs inside make test.
CHAOS_ARGS ?=
chaos: $(STAMP)
	mkdir -p var
	$(BIN)/python -m tests.chaos --report var/chaos-report.md $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage
