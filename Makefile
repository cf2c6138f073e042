# Every routine command. `make demo` and `make test` set up .venv/ themselves on a fresh machine.
PYTHON ?= python3
# skyrl-train 0.3.1 needs Python 3.12: used only to check the training config composes over its base config
# (pyenv's shim answers to python3.12 even when it cannot run it, so each candidate is tried)
PYTHON312 ?= $(shell for p in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && echo $$p && break; done)
VENV := .venv
STAMP := $(VENV)/.installed
SKYRL_VENV := .venv-skyrl
SKYRL_STAMP := $(SKYRL_VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SKYRL_STAMP):
	@if [ -z "$(PYTHON312)" ]; then echo "no Python 3.12 found: the skyrl-train config test will be skipped"; else \
	  $(PYTHON312) -m venv $(SKYRL_VENV) && \
	  $(SKYRL_VENV)/bin/pip install --quiet --no-deps skyrl-train==0.3.1 hydra-core==1.3.2 omegaconf==2.3.0 \
	    antlr4-python3-runtime==4.9.3 PyYAML==6.0.3 packaging==25.0 && touch $(SKYRL_STAMP); fi

.PHONY: setup skyrl-env demo test lint bench data
setup: $(STAMP)
skyrl-env: $(SKYRL_STAMP)

# a new run id each time, so the demo can be run again into the same recording
demo: $(STAMP)
	$(VENV)/bin/taurl run --domain airline --split test --agent oracle --user scripted \
	  --recording runs/demo --run-id demo-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP) skyrl-env
	$(VENV)/bin/pytest -q --taurl-recordings recordings

lint: $(STAMP)
	$(VENV)/bin/ruff check taurl tests tools
	$(VENV)/bin/ruff format --check taurl tests tools

bench: $(STAMP)
	set -e; for bench in tools/bench_*.py; do echo "== $$bench"; $(VENV)/bin/python $$bench; done

data: $(STAMP)
	$(VENV)/bin/python tools/generate_data.py
