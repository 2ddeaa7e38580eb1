# nexus-tui: `make demo` runs the dashboard on a real local cluster; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -v -ra --durations=15

.PHONY: preflight venv jars test demo screenshots lint bench clean

# What the README's Quick start lists, checked in seconds before anything is installed, for the
# targets that need it: one line naming whatever is missing, and nothing done.
ifneq ($(filter preflight test demo screenshots bench,$(MAKECMDGOALS)),)
JAVA_CMD := $(if $(JAVA_HOME),$(JAVA_HOME)/bin/java,java)
MISSING :=
ifneq ($(shell $(PYTHON) -c 'import sys, venv, ensurepip; print(sys.version_info >= (3, 11))' 2>/dev/null),True)
MISSING += Python 3.11+ with venv (apt-get install python3 python3-venv);
endif
ifeq ($(shell v=$$($(JAVA_CMD) -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); [ -n "$$v" ] && [ "$$v" -ge 17 ] && echo ok),)
MISSING += Java 17+ (apt-get install openjdk-17-jre-headless);
endif
ifeq ($(shell command -v mvn),)
MISSING += Maven (apt-get install maven);
endif
ifeq ($(shell command -v git),)
MISSING += git (apt-get install git);
endif
ifneq ($(strip $(MISSING)),)
$(error install first (README, Quick start): $(strip $(MISSING)) then run make again)
endif
endif

preflight:
	@echo "prerequisites: all there"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

jars: venv
	$(BIN)/nexus-tui local fetch

test: venv jars
	$(BIN)/pytest $(PYTEST_ARGS)

demo: venv jars
	$(BIN)/nexus-tui demo

screenshots: venv jars
	$(BIN)/python -m nexus_tui.screenshots

BENCH_ARGS ?=
bench: venv jars
	@status=0; for b in local_up publisher subscriber request_reply snapshot tui; do \
	  $(BIN)/python bench/$$b.py $(BENCH_ARGS) || status=1; done; exit $$status

lint: venv
	$(BIN)/ruff check core nexus_tui tests bench

clean:
	rm -rf $(VENV) .pytest_cache
