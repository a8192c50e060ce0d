# finetune-course: `make demo` runs the offline demo, `make test` the tests; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lab bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name finetune-course --display-name "finetune-course (Python)"
	touch $(STAMP)

demo: install
	$(BIN)/finetune-course demo --out demo_output

test: install
	$(BIN)/python -m pytest

lab: install
	$(BIN)/jupyter lab lessons/

bench: install
	$(BIN)/python bench/head_only.py
	$(BIN)/python bench/demo.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache
