# Every routine command. `make demo` and `make test` set up .venv/ themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: setup demo test lint bench data
setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/taurl run --domain airline --split test --agent oracle --user scripted

test: $(STAMP)
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check taurl tests tools

bench: $(STAMP)
	$(VENV)/bin/python tools/bench_reset_reward.py

data: $(STAMP)
	$(VENV)/bin/python tools/generate_data.py
