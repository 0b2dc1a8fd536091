# Two entry points: `make run` (set up, then replay the bundled stream through the
# daemon) and `make test` (set up, then lint and run the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A real ActivityWatch server for the tests, in its own venv: aw-server pins versions
# (platformdirs<4, Flask 2) that festina does not share. peewee 3.17 broke aw-server.
AW_VENV ?= .venv-aw
# Where `make constraints` resolves the dependencies afresh; removed afterwards.
FRESH ?= .venv-constraints
# What aw-server's venv asks for; constraints-aw.txt holds the exact versions.
AW_PACKAGES := 'aw-server==0.12.0' 'aw-client>=0.5' 'peewee<3.17'

.PHONY: run test lint mutation coverage clean constraints default-model

# Both installs take the exact versions in constraints.txt (pyproject.toml only gives
# ranges). The runtime (`make run`): the daemon's dependencies only, as `pipx install`
# gives them: no torch, no scikit-learn; the trained default gate is in the package.
RUNTIME := $(VENV)/.installed-runtime
$(RUNTIME): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

# Development (`make test`): everything, torch included (training other encoders, the
# torch-vs-ONNX checks, evaluations).
DEV := $(VENV)/.installed-dev
$(DEV): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,train,postgres]'
	touch $@

run: $(RUNTIME)
	$(BIN)/festina daemon run
	$(BIN)/festina decisions --limit 15

# The documentation site (docs/, mkdocs.yml) is built too: with --strict a broken link or
# anchor, or a page missing from the nav, fails. Not --quiet: mkdocs then stops counting
# warnings, and --strict passes anything. The variable silences Material's end-of-life notice.
lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir .site
	$(BIN)/mypy

$(AW_VENV)/bin/aw-server: constraints-aw.txt
	$(PYTHON) -m venv $(AW_VENV)
	$(AW_VENV)/bin/python -m pip install --quiet -c constraints-aw.txt $(AW_PACKAGES)
	touch $@

test: lint $(AW_VENV)/bin/aw-server
	FESTINA_AW_VENV=$(AW_VENV) $(BIN)/pytest
	$(MAKE) mutation

# Mutation testing of the decision core (the cost rule, the decision chain, etiquette, its
# offer history and the personal model; [tool.mutmut] in pyproject.toml): every mutant
# against the tests that reach it, about seven minutes on two cores. A survivor must be
# explained in tests/mutation_survivors.txt.
mutation: $(DEV)
	rm -rf mutants
	$(BIN)/mutmut run > /dev/null
	$(BIN)/python tests/mutation_check.py

# Line and branch coverage of agent/, gate/ and memory/ ([tool.coverage] in pyproject.toml),
# the `festina` processes the tests start included; a report per file, then the totals.
# Not part of `make test`: tracing doubles the suite's time. The install test is left out:
# it runs a built wheel in another venv, not the code here.
coverage: $(DEV) $(AW_VENV)/bin/aw-server
	rm -rf .coverage && mkdir .coverage
	FESTINA_AW_VENV=$(AW_VENV) $(BIN)/coverage run -m pytest -q --deselect tests/test_install.py
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

# Rebuild the default gate shipped in the package (gate/default_model) from the data
# beside the checkout, once per release; the same data and code give the same files.
default-model: $(DEV)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) $(BIN)/festina gate release

# Refresh constraints.txt and constraints-aw.txt: resolve everything afresh in throwaway
# venvs (the newest releases the ranges allow) and record what got installed. Run it after
# changing a dependency in pyproject.toml, then `make test` and commit both files.
constraints:
	rm -rf $(FRESH)
	$(PYTHON) -m venv $(FRESH)
	$(FRESH)/bin/python -m pip install --quiet --upgrade pip
	$(FRESH)/bin/python -m pip install --quiet -e '.[dev,train,postgres]'
	{ sed -n '/^#/p' constraints.txt; \
	  $(FRESH)/bin/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; \
	} > constraints.txt.new
	rm -rf $(FRESH)
	$(PYTHON) -m venv $(FRESH)
	$(FRESH)/bin/python -m pip install --quiet $(AW_PACKAGES)
	{ sed -n '/^#/p' constraints-aw.txt; $(FRESH)/bin/python -m pip freeze; } > constraints-aw.txt.new
	rm -rf $(FRESH)
	mv constraints.txt.new constraints.txt
	mv constraints-aw.txt.new constraints-aw.txt

clean:
	rm -rf $(VENV) $(AW_VENV) $(FRESH) *.egg-info .pytest_cache .ruff_cache mutants .coverage
