# Two entry points: `make run` (set up, then replay the bundled stream through the
# daemon) and `make test` (set up, then lint and run the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A real ActivityWatch server for the tests, in its own venv: aw-server pins versions
# (platformdirs<4, Flask 2) that festina does not share. peewee 3.17 broke aw-server.
AW_VENV ?= .venv-aw

.PHONY: model run test lint clean

$(BIN)/festina: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train,postgres]'
	touch $@

model: $(BIN)/festina
	$(BIN)/festina gate train --if-missing

run: model
	$(BIN)/festina daemon run
	$(BIN)/festina decisions --limit 15

lint: $(BIN)/festina
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(AW_VENV)/bin/aw-server:
	$(PYTHON) -m venv $(AW_VENV)
	$(AW_VENV)/bin/python -m pip install --quiet 'aw-server==0.12.0' 'aw-client>=0.5' 'peewee<3.17'

test: lint $(AW_VENV)/bin/aw-server
	FESTINA_AW_VENV=$(AW_VENV) $(BIN)/pytest

clean:
	rm -rf $(VENV) $(AW_VENV) *.egg-info .pytest_cache .ruff_cache
