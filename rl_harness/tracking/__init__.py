"""Recording runs: the Recorder protocol, MLflow (runs), the helper process (background).

MLflow's usage telemetry is switched off in rl_harness/__init__.py, before anything imports
MLflow.
"""
