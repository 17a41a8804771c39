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
	$(BIN)/python -m pip install -e ".[dev,nuscenes]"
	touch $(STAMP)

WM_CKPT := outputs/runs/world_model_tiny/checkpoints/last.ckpt
HEADS_CKPT := outputs/runs/idm/checkpoints/last.ckpt

# Generate procedural data, train the tiny tokenizer and world model (resuming finished or
# interrupted stages), roll three scenarios out in worldsim/DrivingWorld-v0, then train the
# evaluation heads and write the evaluation report.
demo: $(STAMP)
	$(BIN)/worldsim-data out=$(DEMO_OUT)/store episodes=8 frames=60 preview=true progress=false
	$(BIN)/worldsim-train experiment=tokenizer_tiny ckpt_path=last
	$(BIN)/worldsim-train experiment=world_model_tiny ckpt_path=last
	$(BIN)/worldsim-rollout checkpoint=$(WM_CKPT) out=$(DEMO_OUT)/rollouts \
		scenarios=[hard_braking,night_rain_curve,lane_change_left]
	$(BIN)/worldsim-train experiment=idm ckpt_path=last
	$(BIN)/worldsim-eval checkpoint=$(WM_CKPT) heads=$(HEADS_CKPT) out=$(DEMO_OUT)/eval
	@echo "procedural preview: $(DEMO_OUT)/store/preview/preview.mp4"
	@echo "rollouts:           $(DEMO_OUT)/rollouts/<scenario>/rollout.mp4, contact_sheet.png, steps.csv"
	@echo "evaluation:         $(DEMO_OUT)/eval/metrics.json, report.md"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --checkpoint $(WM_CKPT)

clean:
	rm -rf $(VENV) outputs dist build
