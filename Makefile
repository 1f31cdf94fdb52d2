# The two commands of the README bootstrap themselves: a virtual environment in .venv, the package
# installed into it (editable, with the dev tools), then the job.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: run test lint typecheck pytest bench clean

# A .venv left by a failed first try (no pip: python3-venv was missing; or made by a Python older
# than 3.11) is made again rather than reused.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "lienthong needs Python 3.11 or later: run make PYTHON=python3.11 (or later)" >&2; exit 1; }
	@$(BIN)/python -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# the demo: simulators of every agency system, the bus, a narrated scenario (`lienthong serve` is
# the production command); `make run ARGS=--once` plays it once and fails if a step failed
run: $(STAMP)
	$(BIN)/lienthong demo --config examples/lienthong.yaml $(ARGS)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
