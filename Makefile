# Two entry points: `make run` (set up, then replay the bundled stream through the
# daemon) and `make test` (set up, then lint and run the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

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

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
