#!/usr/bin/env bash
# The fast suite N times in a row on a loaded machine: a training job runs beside it the whole
# time (PPO on CartPole, tracking off, in a loop). Prints one line per run and a summary; exits
# non-zero if any run failed. Usage: bash experiments/checks/soak_fast_suite.sh [N=10]
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
PY=${PY:-.venv/bin/python}
LOAD_DIR=$(mktemp -d)
(
    cd "$LOAD_DIR"
    while true; do
        "$OLDPWD/$PY" -m rl_harness algo=ppo env=cartpole n_timesteps=200000 mlflow.enabled=false \
            eval.freq=0 checkpoint.freq=0 hydra.run.dir="$LOAD_DIR/run" >/dev/null 2>&1
    done
) &
LOADER=$!
trap 'kill -- -$LOADER 2>/dev/null; pkill -P $LOADER 2>/dev/null; kill $LOADER 2>/dev/null; rm -rf "$LOAD_DIR"' EXIT
echo "soak: $N fast-suite runs beside a PPO training loop; $(nproc) CPUs; $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD)"
failed=0
for i in $(seq 1 "$N"); do
    start=$(date +%s)
    log=$(mktemp)
    if make test >"$log" 2>&1; then status=green; else status=FAILED; failed=$((failed + 1)); fi
    summary=$(grep -E "passed|failed" "$log" | tail -1)
    printf 'run %2d  %-6s  %4d s  load %s  %s\n' "$i" "$status" $(( $(date +%s) - start )) \
        "$(cut -d' ' -f1 /proc/loadavg)" "$summary"
    [ "$status" = FAILED ] && grep -E "^FAILED|^ERROR" "$log" | head -5
    rm -f "$log"
done
echo "soak: $((N - failed)) of $N runs green"
[ "$failed" -eq 0 ]
