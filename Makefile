# pytest-spark: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
APT_PACKAGES := postgresql pgbouncer prometheus prometheus-alertmanager chrony faketime haproxy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE ?= v1.4.0
FAULT ?=
PYTEST_ARGS ?=
# some shells export this; without .pyc files every pytest process recompiles its plugins
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup system venv test test-fast lint format demo bench clean

setup: system venv ## idempotent: system servers + .venv with the project (editable) and test extras

system:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pgbouncer >/dev/null || missing="$$missing pgbouncer"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v chronyd >/dev/null || [ -x /usr/sbin/chronyd ] || missing="$$missing chrony"; \
	command -v faketime >/dev/null || missing="$$missing faketime"; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing (their system services are not started)"; \
	  policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=1; \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
	    $(SUDO) chmod +x /usr/sbin/policy-rc.d; fi; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  rc=$$?; [ -n "$$policy" ] && $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	else echo "system packages present: $(APT_PACKAGES)"; fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-*; touch $@

test: setup lint ## the whole suite: unit + plugin tests in parallel, then sandbox + check tests
	$(BIN)/pytest tests/unit tests/plugin -n 2 $(PYTEST_ARGS)
	$(BIN)/pytest tests/sandbox tests/checks $(PYTEST_ARGS)

test-fast: setup ## unit + plugin tests only (no reference stack)
	$(BIN)/pytest tests/unit tests/plugin -n 2 $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: setup ## start the reference stack, run every check, print the verdict and the bundle
	@$(BIN)/python -m pytest_spark.demo --release $(RELEASE) $(if $(FAULT),--fault $(FAULT))

bench: setup
	$(BIN)/python benchmarks/plugin_overhead.py
	$(BIN)/python benchmarks/sandbox_cold_start.py
	$(BIN)/python benchmarks/checks_warm.py
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf .sandbox reports/*/ .pytest_cache .ruff_cache

.PHONY: report-screenshot
report-screenshot: venv ## a real preflight run (one fault) -> HTML report -> headless Chromium -> docs/report.png
	$(BIN)/python tools/report_screenshot.py --out docs/report.png $(if $(FAULT),--fault $(FAULT))
