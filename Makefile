# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Each creates the virtual environment in .venv and installs gankit into it first.
PYTHON ?= python3
VENV   ?= .venv
# The CPU build of torch (on our machines it installs from a local file; with a newer or
# unpinned torch pip would fetch a multi-GB CUDA build). Override: make TORCH=torch==X.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gankit-installed

.PHONY: install demo test test-all bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,mnist5k]'
	touch $(STAMP)

install: $(STAMP)

# the collapse and its cure side by side: the plain non-saturating GAN and the best toy
# preset on the ring, one seed each, as a small sweep; it ends with its report page's path
demo: $(STAMP)
	$(BIN)/gankit sweep nonsaturating ns_r1_ema --set train.steps=6000 --seeds 1 --jobs 2 \
		--baseline nonsaturating --out runs/demo-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/loop_overhead.py
	$(BIN)/python benchmarks/toy_modes.py

clean:
	rm -rf $(VENV) runs
