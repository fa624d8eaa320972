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

.PHONY: run test setup chromium lint clean

run: $(STAMP)
	$(BIN)/qa serve

test: $(STAMP) chromium
	$(BIN)/python -m pytest

# The UI tests drive Debian's Chromium through Playwright; never a downloaded browser build.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

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
