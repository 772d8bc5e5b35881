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

## The main job on the bundled samples: validate every submission (marking up the faulty ones), roll up a
## district (three tiers, 2025-H1) and a province (two tiers, 2025-H2), then a whole city: every ward of
## Hà Nội synthesised and rolled up into 30 district workbooks and the city workbook.
demo: $(VENV)/.installed
	$(CTSTAT) validate samples/wards
	-$(CTSTAT) validate samples/faulty --period 2025-H1 --annotate $(OUT)/kiem-tra
	$(CTSTAT) rollup samples/wards/2025-H1-hoang-mai --period 2025-H1 --out $(OUT)/2025-H1-hoang-mai
	$(CTSTAT) rollup samples/wards/2025-H2-lai-chau --period 2025-H2 --out $(OUT)/2025-H2-lai-chau
	$(CTSTAT) synth --unit 01 --period 2025-H1 --out $(OUT)/wards-ha-noi --jobs 0
	$(CTSTAT) rollup $(OUT)/wards-ha-noi --period 2025-H1 --out $(OUT)/2025-H1-ha-noi --jobs 0
	@echo "Outputs in $(OUT)/: kiem-tra/ (marked-up faulty files) and one folder of workbooks per rollup."

## Print what ctstat writes with LibreOffice and check the pages (district, province, city, a marked-up copy):
## PDFs and PNGs in /tmp/ctstat-render/pdf to look at. Needs libreoffice-calc-nogui and poppler-utils.
render: $(VENV)/.installed
	$(PY) scripts/render_check.py --city

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

.PHONY: install demo test samples render clean
