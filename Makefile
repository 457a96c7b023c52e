# Two commands on a fresh machine:  `make install train`  and  `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install train test test-full lint ui serve

$(PY):
	$(PYTHON) -m venv $(VENV)

install: $(PY)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: a looser requirement would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"

train:
	$(PY) -m rl_harness algo=ppo env=cartpole n_timesteps=20000

test:
	$(PY) -m pytest -m "not slow" -q

test-full:
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check rl_harness envs tests experiments

ui:
	$(VENV)/bin/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}

# The newest registered model version (MODEL=<name> for that name's newest, or
# MODEL_URI=models:/<name>@<alias>) on http://127.0.0.1:$(PORT)/invocations.
PORT ?= 5001
serve:
	$(PY) -m rl_harness.serving serve port=$(PORT) $(if $(MODEL),name=$(MODEL)) $(if $(MODEL_URI),model=$(MODEL_URI))
