# The README's two commands: `make run` (web chat on seeds/) and `make test` (the whole suite).
# Each sets up .venv/ itself; running them again is cheap (the set-up is skipped when up to date).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test index eval setup clean

setup: $(STAMP)

# torch first, pinned: the CPU wheel (a bare `torch` requirement would pull a multi-GB CUDA build).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/assistant index
	$(PY) app.py

test: $(STAMP)
	$(PY) -m pytest -q

index: $(STAMP)
	$(VENV)/bin/assistant index

eval: $(STAMP)
	$(VENV)/bin/assistant eval

clean:
	rm -rf index .pytest_cache
