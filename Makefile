# The two commands of the README bootstrap themselves: a virtual environment in .venv, then every
# package from the lock (uv.lock, with hashes) into it, the project itself editable, then the job.
# pip installs uv (and the pip and setuptools the venv keeps) from requirements-bootstrap.txt,
# hash-checked; uv installs the rest. Nothing is resolved on the day: `make lock` does that.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     ?= $(BIN)/uv
BOOT   := $(VENV)/.bootstrap-stamp
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
LOCK_FIX := run 'make lock' and commit uv.lock and requirements-bootstrap.txt
EXPORT_BOOTSTRAP := $(UV) export --frozen --quiet --no-header --only-group bootstrap --no-emit-project \
	--format requirements-txt
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test test-fast lint typecheck pytest bench clean lock lock-check

# The installer: pip (from the interpreter's venv module) installs the pinned pip, setuptools and
# uv, hash-checked. A .venv left by a failed first try (no pip: python3-venv was missing; or made
# by a Python older than 3.11) is made again rather than reused.
$(BOOT): requirements-bootstrap.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "lienthong needs Python 3.11 or later: run make PYTHON=python3.11 (or later)" >&2; exit 1; }
	@$(BIN)/python -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
		{ rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all: \
		-r requirements-bootstrap.txt
	touch $(BOOT)

# Everything else, exactly as locked: every extra (dev, otel, bench), the project editable.
$(STAMP): $(BOOT) pyproject.toml uv.lock
	@$(MAKE) --no-print-directory lock-check
	$(UV) sync --quiet --locked --all-extras
	touch $(STAMP)

# uv.lock and requirements-bootstrap.txt agree with pyproject.toml (CI checks it through the stamp)
lock-check:
	@$(UV) lock --check --offline --quiet 2>/dev/null || \
		{ echo "uv.lock does not match pyproject.toml: $(LOCK_FIX)" >&2; exit 1; }
	@$(EXPORT_BOOTSTRAP) | cmp -s - requirements-bootstrap.txt || \
		{ echo "requirements-bootstrap.txt does not match uv.lock: $(LOCK_FIX)" >&2; exit 1; }

# the newest versions pyproject.toml allows, into uv.lock and requirements-bootstrap.txt; then
# `make test` installs and tries them (docs/dependencies.md says when to run it)
lock: $(BOOT)
	$(UV) lock --upgrade
	$(EXPORT_BOOTSTRAP) > requirements-bootstrap.txt

# the demo: simulators of every agency system, the bus, a narrated scenario (`lienthong serve` is
# the production command); `make run ARGS=--once` plays it once and fails if a step failed
run: $(STAMP)
	$(BIN)/lienthong demo --config examples/lienthong.yaml $(ARGS)

test: lint typecheck pytest

# the loop to run while working: lint, types, then the unit and contract tests (every test marked
# slow left out: those that start the bus, a server, a broker or a browser; tests/conftest.py)
test-fast: lint typecheck
	$(BIN)/pytest -m "not slow" $(ARGS)

# ruff, then the layers: import-linter's contracts in pyproject.toml ([tool.importlinter])
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest --durations=25 $(ARGS)

# every benchmark beside its floor, then one table of the ratios with PASS/FAIL (docs/benchmarks.md);
# the Kafka ones only with LIENTHONG_KAFKA_BOOTSTRAP set; ARGS=--strict exits 1 on a FAIL
bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache .import_linter_cache
