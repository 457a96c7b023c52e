# Two commands on a fresh machine:  `make install train`  and  `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install train sweep test test-full lint ui

$(PY):
	$(PYTHON) -m venv $(VENV)

install: $(PY)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: a looser requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"

train:
	$(PY) -m rl_harness algo=ppo env=cartpole n_timesteps=20000

# A small Optuna sweep with pruning, two workers (a few minutes): see README, Sweeps.
sweep:
	$(PY) -m rl_harness -m sweep=ppo env=cartpole n_timesteps=20000 eval.freq=2000 \
		eval.episodes=5 hydra.sweeper.study_name=demo-ppo-cartpole hydra.sweeper.n_trials=12 \
		hydra.sweeper.n_workers=2 hydra.sweeper.pruner.median.n_startup_trials=3 \
		hydra.sweeper.pruner.median.n_warmup_steps=4000 hydra.sweeper.sampler.tpe.n_startup_trials=4

test:
	$(PY) -m pytest -m "not slow" -q

test-full:
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check rl_harness envs tests experiments hydra_plugins

ui:
	$(VENV)/bin/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}
