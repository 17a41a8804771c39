# Two commands: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv when it is missing. GPU users: make test TORCH="torch==2.13.0 --index-url ..."
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.worldsim-installed
DEMO_OUT ?= outputs/demo

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/worldsim-data out=$(DEMO_OUT)/store episodes=8 frames=80 preview=true
	@echo "preview video:  $(DEMO_OUT)/store/preview/preview.mp4"
	@echo "contact sheet:  $(DEMO_OUT)/store/preview/contact_sheet.png"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/sim_fps.py

clean:
	rm -rf $(VENV) outputs dist build
