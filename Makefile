# finetune-course: `make demo` runs the offline demo, `make test` the tests; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader shells out to tools of the environment (alembic), so they must be on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install demo test test-browser test-hub hub lab check lessons autograde feedback grades bundle bench mutation docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/finetune-course demo --out demo_output

test: install
	$(BIN)/python -m pytest

# A lesson in JupyterLab, driven by headless Chromium (installs Debian's chromium if missing).
test-browser: install
	$(BIN)/python -m pytest -m browser tests/test_browser.py

# The classroom server tests alone (as root: they create local accounts fcth-*, removed at the end).
test-hub: install
	$(BIN)/python -m pytest -m hub tests/test_hub.py tests/test_hub_rooms.py tests/test_hub_service.py tests/test_hub_env.py

# A classroom JupyterHub on this machine (as root), e.g. `sudo make hub ROSTER=roster.csv`; see docs/classroom-server.md.
ROSTER ?= roster.csv
HUB_ARGS ?=
hub: install
	$(BIN)/finetune-course hub --roster $(ROSTER) $(HUB_ARGS)

# JupyterLab for students: lessons/ with the course's environment as kernel, nbgrader's
# Validate button on and its instructor panels off (see jupyter/). Prints the URL to open.
# MPLBACKEND is unset: an inherited Agg backend would stop figures from showing inline.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
lab: install
	env -u MPLBACKEND JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter $(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR)/lessons $(ALLOW_ROOT)

# Students: run a lesson's visible tests before submitting, e.g. `make check LESSON=03`.
check: install
	$(BIN)/finetune-course check $(LESSON)

# Instructors (see docs/instructors.md): each step is `finetune-course grade STEP`, over nbgrader.
# Regenerate the student versions (lessons/) from solutions/ and record them in the gradebook.
lessons: install
	$(BIN)/finetune-course grade release
autograde: install
	$(BIN)/finetune-course grade autograde
feedback: install
	$(BIN)/finetune-course grade feedback
grades: install
	$(BIN)/finetune-course grade export
bundle: install
	$(BIN)/finetune-course grade bundle

bench: install
	$(BIN)/python bench/head_only.py
	$(BIN)/python bench/demo.py
	$(BIN)/python bench/lessons.py
	$(BIN)/python bench/grading.py
	$(BIN)/python bench/quiz_guessing.py
	$(BIN)/python bench/backbones.py

# Mutation testing of the tests: wrong variants of every solution, each run against its exercise's
# tests; writes bench/results/mutation.json (see docs/quality.md, mutation testing).
mutation: install
	$(BIN)/python tests/mutation

# The documentation site (docs/, mkdocs.yml) into build/site/; a broken link or anchor, or a page
# left out of the nav, fails the build (tests/test_docs.py builds it the same way in `make test`).
docs: install
	$(BIN)/mkdocs build --strict --site-dir build/site

clean:
	rm -rf $(VENV) demo_output .pytest_cache
