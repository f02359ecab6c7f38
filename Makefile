# Two commands: `make book` builds the site, `make test` runs the tests.
# Each creates (or reuses) the virtual environment .venv and installs what it needs.
PROFILE ?= smoke
DATASET ?= synthetic
ANOGAN_DATA ?=
SEED ?= 0
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: book test lint benchmark clean browser-check

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[book,test]'
	touch $(STAMP)

book: $(STAMP)
	$(PY) scripts/book.py build --profile $(PROFILE) --dataset $(DATASET) --seed $(SEED) $(if $(ANOGAN_DATA),--data-dir $(ANOGAN_DATA))

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest
	$(PY) scripts/book.py build --profile smoke --dataset synthetic

browser-check: $(STAMP)  # needs Debian's chromium; checks the last smoke build
	$(PY) scripts/browser_check.py _build/site/synthetic-smoke/_build/html --shots _build/screenshots

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

benchmark: $(STAMP)
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/mapping_speed.py
	$(PY) benchmarks/preprocess_speed.py $(ANOGAN_DATA)

clean:
	rm -rf _build book/_build
