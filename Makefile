# Both entry points build .venv from nothing with exactly the versions in uv.lock (tools/install:
# uv, or pip with requirements-lock.txt when uv cannot be had); the stamp re-installs when the
# lock, pyproject.toml or the installer changes. `make lock` re-resolves after a dependency edit.
PYTHON ?= python3
INSTALLER ?= auto
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK_ARGS ?=
export PYTHON INSTALLER

.PHONY: demo test lint lock bench clean

$(STAMP): pyproject.toml uv.lock requirements-lock.txt tools/install tools/uv
	tools/install
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -n auto -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples tools
	$(BIN)/ruff format --check src tests bench examples tools
	$(BIN)/mypy
	$(BIN)/mypy tools/check_lock.py
	$(BIN)/lint-imports
	$(PYTHON) tools/check_lock.py --stale
	@status=0; tools/uv lock --check --quiet || status=$$?; \
	if [ $$status -eq 3 ]; then echo "lint: uv not available, 'uv lock --check' skipped"; \
	elif [ $$status -ne 0 ]; then echo "error: uv.lock is stale: run 'make lock'" >&2; exit 1; fi

# Re-resolve uv.lock after an edit of pyproject.toml's dependencies (keeping every pin that
# still fits), and export the same pins with hashes for pip. LOCK_ARGS=--upgrade moves
# everything to the newest allowed versions; LOCK_ARGS='--upgrade-package NAME' just one.
lock:
	tools/uv lock $(LOCK_ARGS)
	tools/uv export --quiet --locked --extra dev --no-emit-project --format requirements.txt \
	    --output-file requirements-lock.txt

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
