# The two commands of the README: `make train` (the main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: train test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0    # the CPU wheel on disk; never the multi-GB CUDA build
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job: a small DCGAN on scikit-learn's embedded 8x8 digits (no download), about 2 minutes on 2 cores.
train: $(STAMP)
	$(BIN)/ganforge train --preset digits-dcgan

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
