# Two entry points, both from a fresh clone:
#   make run    install the project with the local models, run every suite against them, then compile the
#               routing recommendation from that run (the report opens with it)
#   make test   install the project with test extras and run the test suite
# llama-cpp-python is built portable (GGML_NATIVE=OFF): the native build crashes on some CPUs.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: run test install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local]'

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local,server,anthropic,openai,dev]'

run: install
	$(BIN)/evals run
	$(BIN)/evals recommend latest
	@echo "open reports/index.html (every run) or the newest reports/<run-id>/report.html (starts with the recommendation)"

test: install-dev
	$(BIN)/python -m pytest
