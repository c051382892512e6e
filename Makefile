# The two commands of the README: `make run` and `make test`. Both set everything up first.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
INSTANCE ?= instance
# Test processes in parallel; the suite is sized for two cores.
TEST_WORKERS ?= 2

BROWSER_TESTS := tests/browser
AXE := $(BROWSER_TESTS)/node_modules/axe-core/axe.min.js
CHROMIUM := /usr/bin/chromium

.PHONY: setup run node test lint clean translations messages browser

setup: $(VENV)/.installed translations

# The web pages' catalogues (node/translations/*/LC_MESSAGES/messages.po) compiled to .mo.
translations: $(VENV)/.installed
	$(BIN)/pybabel -q compile -d node/translations

# After changing text in the pages: gather it into messages.pot and each language's catalogue,
# then translate the new entries in node/translations/<lang>/LC_MESSAGES/messages.po.
messages: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F node/translations/babel.cfg -k _l -k lazy_gettext --no-location \
	  --sort-output --project mutualaid -o node/translations/messages.pot .
	$(BIN)/pybabel -q update -i node/translations/messages.pot -d node/translations --no-fuzzy-matching

# What the browser tests need: Debian's Chromium and axe-core, each installed only when missing.
browser: $(CHROMIUM) $(AXE)

$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(AXE): $(BROWSER_TESTS)/package.json $(BROWSER_TESTS)/package-lock.json
	cd $(BROWSER_TESTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# A whole region on this machine: a federation and three neighbourhood nodes with their workers.
run: setup
	$(BIN)/mutualaid demo

# One node alone, kept in ./instance.
node: setup
	@test -f $(INSTANCE)/mutualaid.toml || $(BIN)/mutualaid --instance $(INSTANCE) init --join-policy open
	$(BIN)/mutualaid --instance $(INSTANCE) run

test: setup browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
