# The two commands of the README: `make run` and `make test`. Both install what
# they need into .venv first (again only when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
MANAGE := $(PY) manage.py

.PHONY: run test install lint format check worker-status clean

$(STAMP): pyproject.toml
	$(PYTHON) scripts/bootstrap_venv.py $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: migrate, load the demo, start web + worker + beat (Ctrl-C stops all)
run: $(STAMP)
	$(MANAGE) migrate --noinput
	$(MANAGE) load_demo
	$(MANAGE) serve

## make test: ruff (lint + format check) and the whole pytest suite
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

## make check: Django's system checks and the migrations check
check: $(STAMP)
	$(MANAGE) check
	$(MANAGE) makemigrations --check --dry-run

## make worker-status: is the database, broker, worker and beat alive?
worker-status: $(STAMP)
	$(MANAGE) status

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
