# pytest-spark: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
# system servers apt installs when missing; chrony is NOT among them: installing the
# chrony package removes systemd-timesyncd (the machine's own time sync), so chronyd is
# unpacked from the package into the project's cache instead (chrony-cache below).
APT_PACKAGES := postgresql pgbouncer prometheus prometheus-alertmanager faketime haproxy
DEB_CACHE := .cache/debs
CHRONYD_CACHED := $(DEB_CACHE)/chrony/usr/sbin/chronyd
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE ?= v1.4.0
FAULT ?=
PYTEST_ARGS ?=
# some shells export this; without .pyc files every pytest process recompiles its plugins
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup system chrony-cache runtime venv test test-fast lint format demo demo-canary bench clean

setup: system runtime ## idempotent: system binaries + .venv with the project and its runtime extras

system: ## apt-installs missing servers (their services are neither started nor enabled)
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v pgbouncer >/dev/null || missing="$$missing pgbouncer"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v faketime >/dev/null || missing="$$missing faketime"; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing (their system services are not started)"; \
	  policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then policy=1; \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null; \
	    $(SUDO) chmod +x /usr/sbin/policy-rc.d; fi; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  rc=$$?; [ -n "$$policy" ] && $(SUDO) rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || exit $$rc; \
	else echo "system packages present: $(APT_PACKAGES)"; fi
	@if command -v chronyd >/dev/null || [ -x /usr/sbin/chronyd ]; then echo "chronyd present"; \
	elif [ -x $(CHRONYD_CACHED) ]; then echo "chronyd present: $(CHRONYD_CACHED)"; \
	else $(MAKE) --no-print-directory chrony-cache; fi

# chronyd taken from the chrony package without installing it (the sandbox finds it here):
# `apt-get download` + `dpkg -x`, plus the shared libraries it links when missing.
chrony-cache:
	@mkdir -p $(DEB_CACHE)
	@deb=$$(ls /var/cache/apt/archives/chrony_*.deb 2>/dev/null | tail -1); \
	if [ -n "$$deb" ]; then cp "$$deb" $(DEB_CACHE)/; \
	else (cd $(DEB_CACHE) && apt-get download chrony) || exit 1; fi
	dpkg -x "$$(ls $(DEB_CACHE)/chrony_*.deb | tail -1)" $(DEB_CACHE)/chrony
	@libs=""; for lib in $$(apt-cache depends chrony | awk '$$1 == "Depends:" && $$2 ~ /^lib/ {print $$2}'); do \
	  dpkg -s "$$lib" >/dev/null 2>&1 || libs="$$libs $$lib"; done; \
	if [ -n "$$libs" ]; then echo "installing libraries chronyd links:$$libs"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$libs; fi
	@$(CHRONYD_CACHED) --version >/dev/null && echo "chronyd unpacked: $(CHRONYD_CACHED) (chrony not installed)"

runtime: $(RUN_STAMP) ## .venv with the project and what a user run needs (html, sandbox extras)

venv: $(TEST_STAMP) ## the developer .venv: runtime + the project's test tools (xdist, timeout, pact, ruff...)

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ -e $(TEST_STAMP) ]; then touch $@; else \
	  $(BIN)/python -m pip install -q --upgrade pip && \
	  $(BIN)/python -m pip install -q -e '.[html,sandbox]' && \
	  rm -f $(VENV)/.installed-run-* && touch $@; fi

$(TEST_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-*; touch $@ $(RUN_STAMP)

# The project's own tests: pytester and a 300 s per-test ceiling are theirs alone
# (tests/conftest.py loads pytester), never in a user's run of checks/.
TEST_FLAGS := --timeout=300

test: system venv lint ## the whole suite: unit + plugin tests on 2 workers, then the stack tests on 3 (a reference stack each)
	$(BIN)/pytest tests/unit tests/plugin -n 2 $(TEST_FLAGS) $(PYTEST_ARGS)
	$(BIN)/pytest tests/sandbox tests/checks -n 3 --dist loadscope $(TEST_FLAGS) $(PYTEST_ARGS)

test-fast: venv ## unit + plugin tests only (no reference stack)
	$(BIN)/pytest tests/unit tests/plugin -n 2 $(TEST_FLAGS) $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: setup ## start the reference stack, run every check, print the verdict and the bundle
	@$(BIN)/python -m pytest_spark.demo --release $(RELEASE) $(if $(FAULT),--fault $(FAULT))

demo-canary: setup ## canary rollout on the reference stack: GO, or NO-GO + rollback with FAULT=canary-latency
	@$(BIN)/python -m pytest_spark.canary.demo --release $(RELEASE) $(if $(FAULT),--fault $(FAULT))

bench: system venv
	$(BIN)/python benchmarks/plugin_overhead.py
	$(BIN)/python benchmarks/sandbox_cold_start.py
	$(BIN)/python benchmarks/checks_warm.py
	$(BIN)/python benchmarks/startup.py

clean:
	rm -rf .sandbox reports/*/ .pytest_cache .ruff_cache

.PHONY: report-screenshot
report-screenshot: venv ## a real preflight run (one fault) -> HTML report -> headless Chromium -> docs/report.png
	$(BIN)/python tools/report_screenshot.py --out docs/report.png $(if $(FAULT),--fault $(FAULT))
