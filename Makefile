# Two commands: `make demo` runs the main job on the bundled model, `make test` runs the tests.
# `make pretrained` rebuilds the bundled model from scratch.
# Both create .venv when it is missing. GPU users: make test TORCH="torch==2.13.0 --index-url ..."
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.worldsim-installed
DEMO_OUT ?= outputs/demo

.PHONY: demo pretrained test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[dev,nuscenes]"
	touch $(STAMP)

BUNDLE := worldsim/assets/pretrained
PRE_DATA := outputs/data/procedural_300
PRE_SWITCH := outputs/data/procedural_switch16
PRE_WM := outputs/runs/world_model_long_rollout/checkpoints/last.ckpt
PRE_HEADS := outputs/runs/eval_heads_pretrained/checkpoints/last.ckpt
PRE_DRIVING := outputs/runs/driving_heads/checkpoints/last.ckpt
PRE_EVAL := outputs/pretrained/eval
# The demo's evaluation: a quick preset of the bundled model's full report (which ships with it).
DEMO_EVAL := procedural.starts=8 procedural.horizon=30 horizons=[1,5,10,30] \
	procedural.drift_rollouts=2 procedural.drift_horizon=150 drift_edges=[10,30,60,150] \
	speed.vector_envs=4 speed.repeats=2 progress=false
# The bundled model's report: 48 held-out starts, 10-step fidelity, sixteen 600-step drift
# rollouts (four left the out-of-range rate to chance).
PRE_EVAL_ARGS := procedural.horizon=10 horizons=[1,5,10] procedural.drift_rollouts=16 \
	speed.enabled=false progress=false

# On the bundled model: a small procedural preview store, three scenario rollouts in
# worldsim/DrivingWorld-v0, and a quick evaluation report. Each stage can be re-run.
demo: $(STAMP)
	$(BIN)/worldsim-data out=$(DEMO_OUT)/store episodes=2 frames=60 preview=true progress=false
	$(BIN)/worldsim-rollout out=$(DEMO_OUT)/rollouts \
		scenarios=[hard_braking,night_rain_curve,lane_change_left]
	$(BIN)/worldsim-eval out=$(DEMO_OUT)/eval $(DEMO_EVAL)
	@echo "procedural preview: $(DEMO_OUT)/store/preview/preview.mp4"
	@echo "rollouts:           $(DEMO_OUT)/rollouts/<scenario>/rollout.mp4, contact_sheet.png, steps.csv"
	@echo "evaluation:         $(DEMO_OUT)/eval/metrics.json, report.md"

# Rebuild the bundled model from scratch: data, world model (then fine-tuned on its own rollouts,
# then grown by the ground-moved view of the previous frame, then with an adversarial term,
# then on a mix with drives whose prompt switches, twice, the second time with longer
# rollouts), evaluation heads, driving heads, the held-out evaluation, then export to
# $(BUNDLE). Interrupted stages resume. Prints the wall time.
pretrained: $(STAMP)
	@start=$$(date +%s); set -e; \
	$(BIN)/worldsim-data out=$(PRE_DATA) episodes=300 frames=80 seed=0 workers=2 progress=false; \
	$(BIN)/worldsim-train experiment=world_model_pretrained ckpt_path=last; \
	$(BIN)/worldsim-train experiment=world_model_rollout ckpt_path=last; \
	$(BIN)/worldsim-train experiment=world_model_ground ckpt_path=last; \
	$(BIN)/worldsim-train experiment=world_model_adversarial ckpt_path=last; \
	$(BIN)/worldsim-data out=$(PRE_SWITCH) episodes=300 frames=16 seed=7 source.switch_prob=1.0 \
		workers=2 progress=false; \
	$(BIN)/worldsim-train experiment=world_model_switch_mix ckpt_path=last; \
	$(BIN)/worldsim-train experiment=world_model_switch_mix2 ckpt_path=last; \
	$(BIN)/worldsim-train experiment=world_model_long_rollout ckpt_path=last; \
	$(BIN)/worldsim-train experiment=eval_heads_pretrained ckpt_path=last; \
	$(BIN)/worldsim-train experiment=driving_heads ckpt_path=last; \
	trained=$$(( $$(date +%s) - start )); \
	$(BIN)/worldsim-eval checkpoint=$(PRE_WM) heads=$(PRE_HEADS) out=$(PRE_EVAL) $(PRE_EVAL_ARGS); \
	$(BIN)/worldsim-export checkpoint=$(PRE_WM) heads=$(PRE_HEADS) driving_heads_ckpt=$(PRE_DRIVING) \
		out=$(BUNDLE) \
		eval_dir=$(PRE_EVAL) recipe="make pretrained" train_seconds=$$trained; \
	echo "make pretrained: $$trained s to train, $$(( $$(date +%s) - start )) s wall in all"

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every benchmark on the bundled model, one table (the store is written on first use).
BENCH_STORE := outputs/data/procedural
bench: $(STAMP)
	test -f $(BENCH_STORE)/manifest.json || \
		$(BIN)/worldsim-data out=$(BENCH_STORE) episodes=8 frames=60 seed=0 progress=false
	$(BIN)/python benchmarks/bench.py --checkpoint $(BUNDLE) --store $(BENCH_STORE)

clean:
	rm -rf $(VENV) outputs dist build
