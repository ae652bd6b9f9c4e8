# Two commands do all the set-up on a fresh machine with python3:
#   make run    installs into .venv and runs every experiment (writes results/)
#   make test   installs into .venv (with the test extras) and runs lint + the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

run: $(VENV)/.installed
	$(PY) -m experiments all $(ARGS)

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m pytest -q $(ARGS)

# Speed and memory against the references in ../shared/bench (ARGS=--quick: under a minute).
bench: $(VENV)/.installed
	$(PY) benchmarks/bench_core.py $(ARGS)
	$(PY) benchmarks/bench_lob.py $(ARGS)
	$(PY) benchmarks/bench_memory.py $(ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis .ruff_cache
