# Two commands on a fresh machine:  make demo  (the main job on the bundled samples)  and  make test.
VENV ?= .venv
PY := $(VENV)/bin/python
CTSTAT := $(VENV)/bin/ctstat
OUT ?= out

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## The main job on the bundled samples: validate every submission, mark up the faulty ones.
demo: $(VENV)/.installed
	$(CTSTAT) validate samples/wards
	-$(CTSTAT) validate samples/faulty --period 2025-H1 --annotate $(OUT)/kiem-tra
	@echo "Marked-up copies of the faulty files: $(OUT)/kiem-tra/"

## Lint, type-check and test (what CI runs).
test: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/ruff format --check src tests scripts bench
	$(VENV)/bin/mypy
	$(PY) -m pytest

samples: $(VENV)/.installed
	$(PY) scripts/make_samples.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache

.PHONY: install demo test samples clean
