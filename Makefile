# The project's entry points. `make run` and `make test` work on a fresh machine with
# Python 3.11+, Java 17 and Maven (Kafka's jars come from Maven Central) and, for the
# PostgreSQL tests, the PostgreSQL 15 server binaries.
# The interpreter of .venv. A distribution's CPython (Debian's /usr/bin/python3) is built with
# profile-guided optimisation and link-time optimisation, as the production image's
# (python:3.11-slim) is; a version manager's default build (pyenv) has neither, and the services
# run about 13 % slower on it (docs/benchmarks.md, "the interpreter"). So the system's python3 is
# taken when it is 3.11+ and can make a venv; `make PY=...` chooses another.
PY ?= $(shell /usr/bin/python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run run-postgres test test-unit test-integration test-e2e test-e2e-kafka4 demo bench lint contracts clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/python -m deploy.localkafka fetch

run: setup  ## the whole system: local Kafka, SQLite under var/, three services; Ctrl-C stops it
	$(BIN)/python -m deploy.run

run-postgres: setup  ## the same on a local PostgreSQL (one database per service)
	$(BIN)/python -m deploy.run --postgres

test: setup lint  ## the static checks, then every test: unit, integration (real Kafka, real PostgreSQL), end-to-end, browser
	$(BIN)/python -m pytest

test-unit: setup
	$(BIN)/python -m pytest tests/unit

test-integration: setup
	$(BIN)/python -m pytest tests/integration

test-e2e: setup
	$(BIN)/python -m pytest tests/e2e

test-e2e-kafka4: setup  ## the whole e2e suite on Apache Kafka 4.4.0 (tests/e2e/test_kafka4.py runs a subset in `make test`)
	ANTT_KAFKA_VERSION=4.4.0 $(BIN)/python -m deploy.localkafka fetch
	ANTT_KAFKA_VERSION=4.4.0 $(BIN)/python -m pytest tests/e2e

demo: $(STAMP)  ## against a running system (make run)
	$(BIN)/python -m deploy.demo

bench: setup  ## N unit-years through the full lifecycle (N=10000 by default)
	$(BIN)/python -m bench.lifecycle --n $${N:-10000}

CHECKED := shared services deploy bench audit tests

lint: $(STAMP)  ## import boundaries, ruff (lint and format check), mypy (pyproject.toml says how strict)
	$(BIN)/lint-imports
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/mypy

contracts: $(STAMP)  ## regenerate docs/contracts and docs/asyncapi from the code
	$(BIN)/python -m shared.contracts.docs

clean:
	rm -rf var
