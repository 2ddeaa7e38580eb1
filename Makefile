# nexus-tui: `make demo` runs the dashboard on a real local cluster; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -v -ra --durations=15

.PHONY: venv jars test demo screenshots lint bench clean

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
