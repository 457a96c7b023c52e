"""The code MLflow runs to build a served policy (MLflow's "models from code").

It is copied into every logged policy model instead of a pickled Python object; loading the
model imports the harness (serve with `--env-manager local` in the harness's environment).
"""

import mlflow

from rl_harness.deploy.serving import PolicyModel

mlflow.models.set_model(PolicyModel())
