# Two commands a new user needs: `make demo` (one full run on the embedded default) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export TQDM_MININTERVAL ?= 5

.PHONY: install demo test clean-data

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: install
	@test -d .git || git init -q
	@test -d .dvc || dvc init -q
	dvc repro
	dvc metrics show

test: install
	$(PY) -m pytest

clean-data:
	rm -rf data metrics .dvc/cache .dvc/tmp
