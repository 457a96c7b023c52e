# Two commands on a fresh machine:  `make install train`  and  `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install lock train sweep tune test test-full lint format ui serve bench bench-full results \
	cluster-up cluster-down docs docs-build

$(PY):
	$(PYTHON) -m venv $(VENV)

# Exact versions from the committed lock, requirements/lock.txt (one file for Python 3.11, 3.12
# and 3.13; `make lock` refreshes it after a change to pyproject.toml's dependencies, and
# tests/test_lock.py fails while the two disagree). pip installs it, so pip's own configuration
# (find-links, constraints) still applies; the project itself goes in last, without dependencies.
# torch first, pinned: what `pip install torch==2.13.0` gets depends on where it runs. PyPI's
# Linux x86_64 wheel is the CUDA build (several GB with its nvidia-* packages), on every Python
# version; only a machine that keeps a CPU wheel in its pip find-links (as our Python 3.11 CI
# image does) gets the ~200 MB CPU build from PyPI's name. A CPU-only user gets the small build
# from PyTorch's own index:  make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
# The lock leaves out the packages only the CUDA build needs (nvidia-*, cuda-*, triton): the CUDA
# build's own pins bring them in where pip takes it, and nothing does where torch is the CPU build.
TORCH := torch==2.13.0
TORCH_INDEX ?=
LOCK := requirements/lock.txt
install: $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .

# Re-resolve the lock from pyproject.toml (uv, installed into the venv here; ~10 s, needs PyPI):
# the pins that still fit are kept; UPGRADE=1 takes the newest allowed version of everything.
lock: $(PY)
	$(PY) -m pip install -q uv
	$(PY) requirements/lock.py $(TORCH) $(if $(UPGRADE),--upgrade)

train:
	$(PY) -m rl_harness algo=ppo env=cartpole n_timesteps=20000

# A small Optuna sweep with pruning, two workers (a few minutes): see docs/sweeps.md.
sweep:
	$(PY) -m rl_harness -m sweep=ppo env=cartpole n_timesteps=20000 eval.freq=2000 \
		eval.episodes=5 hydra.sweeper.study_name=demo-ppo-cartpole hydra.sweeper.n_trials=12 \
		hydra.sweeper.n_workers=2 hydra.sweeper.pruner.median.n_startup_trials=3 \
		hydra.sweeper.pruner.median.n_warmup_steps=4000 hydra.sweeper.sampler.tpe.n_startup_trials=4 \
		hydra.sweeper.validate.top=2 hydra.sweeper.validate.seeds=3

# The validated loop for one pair (docs/sweeps.md, Validated tuning): TRIALS trials on 3 seeds
# each, the best 5 re-tested on 5 unseen seeds, the winner promoted into conf/hparams/ only when it is
# significantly better than the shipped config. Rerun it to continue after a stop.
# (ALGO=qlearning ENV=custom TRIALS=16: ~25 min on 2 cores; ALGO=ppo: ~45 min; ALGO=dqn: ~2 h.)
ALGO ?= ppo
ENV ?= custom
TRIALS ?= 20
tune:
	$(PY) -m rl_harness -m sweep=$(ALGO) algo=$(ALGO) env=$(ENV) hydra.sweeper.n_trials=$(TRIALS) \
		hydra.sweeper.seeds=3 hydra.sweeper.validate.promote=true \
		hydra.sweeper.study_name=tune-$(ALGO)-$(ENV)

# Tests in parallel (pytest-xdist; TEST_WORKERS=0 runs them in one process), the slowest listed.
# `test`: the fast suite (3m31s on 2 quiet cores; the target, 4 min, is a benchmark figure that
# .ci/run prints, not a gate); `test-full`: everything, learning checks, every SIGKILL stage,
# every env of every family built with every algorithm, the documented commands, the MLflow UI in
# a browser, the local cluster, SLURM (~32 min; CI runs it).
TEST_WORKERS ?= auto
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal
test:
	$(PYTEST) -m "not slow" --durations=15

test-full:
	$(PYTEST) --durations=25

# The documentation site (mkdocs.yml; docs/): `docs` serves it on http://127.0.0.1:$(DOCS_PORT)
# and rebuilds on a change to docs/, conf/, experiments/results/ or the code; `docs-build` builds
# it into site/ as CI does (--strict: a broken link or anchor, a page left out of the nav, a
# missing snippet fails), and site/index.html then opens offline. With mkdocs<2 pinned
# (pyproject.toml), Material's notice about MkDocs 2.0 is left out.
DOCS_PORT ?= 8000
MKDOCS := NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs
docs:
	$(MKDOCS) serve --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-build:
	$(MKDOCS) build --strict --site-dir site

# Lint, format and types, as CI runs them (`make format` rewrites the files).
SRC := rl_harness envs tests experiments hydra_plugins requirements docs/hooks
lint:
	$(VENV)/bin/ruff check $(SRC)
	$(VENV)/bin/ruff format --check $(SRC)
	$(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff check --fix $(SRC)
	$(VENV)/bin/ruff format $(SRC)

# PostgreSQL (Optuna's storage) and an MLflow server on loopback, in .cluster/
# (docs/many-machines.md); PURGE=1 deletes their data on the way down.
cluster-up:
	$(PY) -m rl_harness.cluster up

cluster-down:
	$(PY) -m rl_harness.cluster down $(if $(PURGE),purge)

UI_PORT ?= 5000
ui:
	$(VENV)/bin/mlflow ui --port $(UI_PORT) --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}

# The newest registered model version (MODEL=<name> for that name's newest, or
# MODEL_URI=models:/<name>@<alias>) on http://127.0.0.1:$(PORT)/invocations.
PORT ?= 5001
serve:
	$(PY) -m rl_harness.serving serve port=$(PORT) $(if $(MODEL),name=$(MODEL)) $(if $(MODEL_URI),model=$(MODEL_URI))

# Evidence for the docs (experiments/; runs in MLflow experiment `bench`). Each script writes a
# JSON record (every per-seed value, the command, commit, versions, machine) and its Markdown page,
# rendered from the record. `bench`: a quick look (its parts and their times: docs/benchmarks.md);
# its records go to $(QUICK) (git-ignored) and never to the docs or a tracked file,
# so `make test` stays green after it (tests/test_makefile.py checks its commands). `bench-full`:
# hours (the sweep benchmark alone ~30 min); the published records, in experiments/results/, then
# the docs pages' generated blocks. `results`: every published page again from the records
# (seconds; tests/experiments/lib/test_records.py checks that nothing differs).
QUICK ?= .bench-quick
bench:
	mkdir -p $(QUICK)
	$(PY) -m experiments.benchmarks.overhead --timesteps 20000 --rounds 2 --out $(QUICK)/overhead_quick.json
	$(PY) -m experiments.benchmarks.serving --single 500 --batch 50 --out $(QUICK)/serving_quick.json
	$(PY) -m experiments.benchmarks.qlearning --repeats 2 --out $(QUICK)/qlearning_quick.json
	$(PY) -m experiments.benchmarks.scaling --quick --out $(QUICK)/scaling_quick.json
	$(PY) -m experiments.benchmarks.matrix --quick --out $(QUICK)/bench_quick.md
	@echo "quick results in $(QUICK)/ (docs/ and experiments/results/ unchanged: make bench-full)"

bench-full:
	$(PY) -m experiments.benchmarks.overhead
	$(PY) -m experiments.benchmarks.serving
	$(PY) -m experiments.benchmarks.qlearning
	$(PY) -m experiments.benchmarks.sweep --timesteps 20000
	$(PY) -m experiments.benchmarks.scaling
	$(PY) -m experiments.benchmarks.seed_threads
	$(PY) -m experiments.benchmarks.matrix --readme

results:
	$(PY) -m experiments.render

