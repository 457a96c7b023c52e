"""Recording runs: the Recorder protocol, MLflow (runs), the helper process (background).

The harness records to the user's own store and nowhere else. MLflow 3 sends usage telemetry
unless told not to, and reads the switch once, when `mlflow` is first imported: it is set here,
before any module of this package imports MLflow (set MLFLOW_DISABLE_TELEMETRY=false to allow
it).
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
