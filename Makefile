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

.PHONY: run test setup lint clean

run: $(STAMP)
	$(BIN)/qa ingest || [ $$? -eq 6 ]  # 6: some files were skipped, the rest are indexed
	$(BIN)/qa chat

test: $(STAMP)
	$(BIN)/python -m pytest

setup: $(STAMP)

# torch first and pinned: the CPU build, not the multi-GB CUDA one.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check qa tests

clean:
	rm -rf $(VENV) .qa-index
