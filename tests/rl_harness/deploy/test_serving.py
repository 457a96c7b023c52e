"""The policy as an MLflow model: logged by training, registered, served over REST, and bad
requests answered with a 400 that names the problem while the server keeps serving."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
from pathlib import Path

import gymnasium as gym
import mlflow
import numpy as np
import pytest
from gymnasium import spaces as gym_spaces
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from rl_harness.build import registry as algos
from rl_harness.common import space_codec as spaces
from rl_harness.deploy import serving
from rl_harness.errors import ConfigError, ObservationError
from rl_harness.tracking import runs as tracking
from rl_harness.training import model_logging
from rl_harness.training import saved_agent as agents
from tests.rl_harness import tabular_double
from tests.waiting import free_port, group_gone, port_closed, wait_for

ROOT = Path(__file__).resolve().parents[3]


def reference_actions(trained, obs: np.ndarray) -> np.ndarray:
    """The in-process policy: the run's model and VecNormalize statistics, SB3's own calls."""
    model = agents.load_model("ppo", trained.result["model_path"])
    stats_path = Path(trained.result["model_path"]).with_name("vecnormalize.pkl")
    vecnorm = VecNormalize.load(str(stats_path), DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    return model.predict(vecnorm.normalize_obs(obs.astype(np.float32)), deterministic=True)[0]


def observations(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.2, 0.2, size=(n, 4))


# ---------------------------------------------------------------- observation checks


BOX = gym_spaces.Box(np.array([-1.0, -np.inf]), np.array([1.0, np.inf]), dtype=np.float32)
MULTI = gym_spaces.MultiDiscrete([21, 11, 7])


@pytest.mark.parametrize(
    "obs, space, message",
    [
        ([0.5, 0.0], BOX, "expected a batch of observations of shape (n, 2), got shape (2,)"),
        ([[0.5, 0.0, 1.0]], BOX, "shape (n, 2), got shape (1, 3)"),
        (np.zeros((0, 2)), BOX, "empty batch"),
        (np.zeros((11, 2)), BOX, "larger than max_batch=10"),
        ([[0.0, 0.0], [0.0, np.nan]], BOX, "NaN at row 1, dim 1"),
        ([[0.0, np.inf]], BOX, "an infinite value at row 0, dim 1"),
        (
            [[1.5, 0.0]],
            BOX,
            "value 1.5 at row 0, dim 0 is outside the observation space's range [-1, 1]",
        ),
        ([[0.0, 1e39]], BOX, "value 1e+39 at row 0, dim 1 is outside"),  # beyond float32
        ([["a", "b"]], BOX, "must be real numbers, got dtype <U1"),
        ([[True, False]], BOX, "must be real numbers, got dtype bool"),
        (
            [[3, 2, 7]],
            MULTI,
            "value 7.0 at row 0, dim 2 is outside the observation space's range [0, 6]",
        ),
        ([[3, 2.5, 1]], MULTI, "value 2.5 at row 0, dim 1 is not an integer"),
        (
            [[-1, 0, 0], [-1, 0, 0]],
            MULTI,
            "row 0, dim 0 is outside the observation space's range "
            "[0, 20] (1 more rows have this problem)",
        ),
        (
            [[1], [2]],
            gym_spaces.Discrete(4),
            "expected a batch of observations of shape (n), got shape (2, 1)",
        ),
        ([0, 4], gym_spaces.Discrete(4), "value 4.0 at row 1 is outside"),
    ],
)
def test_check_batch_names_the_problem(obs, space, message: str) -> None:
    with pytest.raises(ObservationError) as err:
        spaces.check_batch(obs, space, max_batch=10)
    assert message in str(err.value)


def test_check_batch_passes_valid_batches_in_the_space_dtype() -> None:
    out = spaces.check_batch([[1.0, 2.0, 3.0]], MULTI, 10)
    assert out.dtype == np.int64 and out.tolist() == [[1, 2, 3]]
    out = spaces.check_batch([[0.5, -1e30]], BOX, 10)
    assert out.dtype == np.float32
    assert spaces.check_batch([0, 3], gym_spaces.Discrete(4), 10).tolist() == [0, 3]


@pytest.mark.parametrize(
    "space", [BOX, MULTI, gym_spaces.Discrete(5, start=2), gym_spaces.MultiBinary(3)]
)
def test_spaces_round_trip_through_json(space) -> None:
    back = spaces.from_json(json.loads(json.dumps(spaces.to_json(space))))
    assert back == space


# ---------------------------------------------------------------- the logged model


def test_training_logs_a_pyfunc_policy_that_acts_like_the_agent(trained) -> None:
    run = tracking.get_run(trained.run_id)
    uri = run.data.tags[serving.MODEL_URI_TAG]
    assert run.data.metrics["time/policy_model_log_s"] > 0  # its size: bench_serving.py's
    model = mlflow.pyfunc.load_model(uri)
    sig = model.metadata.signature
    assert sig.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": (-1, 4)}}
    ]
    assert sig.outputs.to_dict()[0]["tensor-spec"] == {"dtype": "int64", "shape": (-1,)}
    obs = observations(200)
    np.testing.assert_array_equal(model.predict(obs), reference_actions(trained, obs))
    with pytest.raises(MlflowException, match="NaN at row 0, dim 2") as err:
        model.predict(np.array([[0.0, 0.0, np.nan, 0.0]]))
    assert err.value.get_http_status_code() == 400


def test_tabular_agent_is_served_through_its_own_load(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(algos.REGISTRY, tabular_double.REGISTRY_NAME, tabular_double.REGISTRY_PATH)
    agent = tabular_double.GreedyTable(gym_spaces.MultiDiscrete([21, 2, 7]), n_actions=11)
    agent.save(tmp_path / "model.zip")
    cfg = OmegaConf.create(
        {
            "algo": {"name": tabular_double.REGISTRY_NAME},
            "env": {"id": "rl_harness.envs:Inventory-v0"},
        }
    )
    with tracking.mlflow_run("tabular") as rec:
        uri = model_logging.log_policy_model(rec.run_id, tmp_path / "model.zip", None, cfg)
    model = mlflow.pyfunc.load_model(uri)
    grid = np.stack(np.meshgrid(range(21), range(2), range(7), indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_array_equal(
        model.predict(grid.astype(np.float64)), agent.predict(grid, deterministic=True)[0]
    )
    with pytest.raises(MlflowException, match="value 2.0 at row 0, dim 1 is outside"):
        model.predict(np.array([[0.0, 2.0, 0.0]]))


@pytest.mark.skipif("qlearning" not in algos.REGISTRY, reason="QLearning not on this branch")
def test_qlearning_run_logs_a_servable_policy() -> None:
    from rl_harness.training import train
    from tests.conftest import compose_config

    result = train.run(
        compose_config(
            [
                "algo=qlearning",
                "env=frozenlake",
                "n_timesteps=256",
                "eval.freq=0",
                "checkpoint.freq=0",
                "eval.episodes=2",
            ]
        )
    )
    uri = tracking.get_run(result["run_id"]).data.tags[serving.MODEL_URI_TAG]
    model = mlflow.pyfunc.load_model(uri)
    reference = agents.load_model("qlearning", result["model_path"])
    obs = np.arange(16)
    np.testing.assert_array_equal(
        model.predict(obs.astype(np.float64)), reference.predict(obs, deterministic=True)[0]
    )


def test_register_moves_the_alias_and_finds_the_latest(trained) -> None:
    assert serving.register(trained.run_id, "cartpole-ppo") == "models:/cartpole-ppo/1"
    assert serving.register(trained.run_id, "cartpole-ppo", "staging") == "models:/cartpole-ppo/2"
    client = tracking.client()
    assert int(client.get_model_version_by_alias("cartpole-ppo", "champion").version) == 1
    assert int(client.get_model_version_by_alias("cartpole-ppo", "staging").version) == 2
    assert serving.latest_registered() == "models:/cartpole-ppo/2"
    model = mlflow.pyfunc.load_model("models:/cartpole-ppo@champion")
    obs = observations(5)
    np.testing.assert_array_equal(model.predict(obs), reference_actions(trained, obs))
    with pytest.raises(ConfigError, match="no model is registered under the name 'nope'"):
        serving.latest_registered("nope")


def test_register_refuses_a_run_without_a_policy_model() -> None:
    with tracking.mlflow_run("plain") as rec:
        pass
    with pytest.raises(ConfigError, match="has no logged policy model"):
        serving.register(rec.run_id, "x")


def test_serve_env_finds_the_scoring_server_without_an_activated_venv() -> None:
    # MLflow execs `uvicorn` through bash and PATH; CI and `make serve` do not activate the venv.
    env = serving.serve_env({"PATH": "/usr/bin:/bin"})
    first = env["PATH"].split(os.pathsep)[0]
    assert (Path(first) / "uvicorn").exists()
    assert env["PATH"].endswith("/usr/bin:/bin")


def test_cli_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="unknown config key .runid.*: alias, name, run_id"):
        serving.parse(["register", "runid=3"])
    with pytest.raises(ConfigError, match="usage"):
        serving.parse(["deploy"])


# ---------------------------------------------------------------- the REST server


class Server:
    """`mlflow models serve` on loopback, as a subprocess in its own process group."""

    def __init__(self, model_uri: str, max_batch: int) -> None:
        self.port = free_port()
        pythonpath = f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
        env = {
            **serving.serve_env(),
            "PYTHONPATH": pythonpath,
            "SERVING_MODEL_CONFIG": json.dumps({"max_batch": max_batch}),
        }
        self.log = open(Path.cwd() / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            serving.serve_command(model_uri, self.port),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready(self) -> bool:
        """Answers /ping; an exited server fails at once with its log."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-3000:]}")
        try:
            return self.request("GET", "/ping")[0] == 200
        except OSError:  # not listening yet, or not answering yet
            return False

    def wait(self, timeout: float = 180) -> None:
        wait_for(self.ready, f"the server on port {self.port} to answer /ping", timeout)

    def request(self, method: str, path: str, body: str | bytes | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def predict(self, body: str | bytes) -> tuple[int, dict]:
        status, text = self.request("POST", "/invocations", body)
        return status, json.loads(text)

    def stop(self) -> None:
        """SIGTERM to the group (MLflow's launcher and uvicorn); returns once all have exited."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # uvicorn can outlive the launcher briefly: wait for the whole group, then make sure
        try:
            wait_for(lambda: group_gone(self.proc.pid), "the server's processes to exit", 20)
        finally:
            with contextlib.suppress(ProcessLookupError):  # a straggler past the deadline
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.log.close()


def inputs(obs) -> str:
    return json.dumps({"inputs": np.asarray(obs).tolist()})


MAX_BATCH = 100
# (request body, status, text the error message must contain)
BAD_REQUESTS: list[tuple[str, int, str]] = [
    ('{"inputs": [0.01, 0.02, 0.03, 0.04]}', 400, "Shape of input (4,) does not match"),
    ('{"inputs": [[0.0, 0.0, 0.0]]}', 400, "Shape of input (1, 3) does not match"),
    ('{"inputs": [[0.0, 0.0, "x", 0.0]]}', 400, "could not convert string to float: 'x'"),
    ('{"inputs": [[0.0, 0.0, NaN, 0.0]]}', 400, "NaN at row 0, dim 2"),
    ('{"inputs": [[0.0, Infinity, 0.0, 0.0]]}', 400, "an infinite value at row 0, dim 1"),
    (
        '{"inputs": [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -Infinity]]}',
        400,
        "an infinite value at row 1, dim 3",
    ),
    (
        '{"inputs": [[9.0, 0.0, 0.0, 0.0]]}',
        400,
        "value 9.0 at row 0, dim 0 is outside the observation space's range [-4.8, 4.8]",
    ),
    ('{"inputs": []}', 400, "Failed to enforce schema of data '[]'"),  # MLflow's own check
    ('{"inputs": [[]]}', 400, "Shape of input (1, 0) does not match"),
    ("", 400, "valid JSON"),
    ("not json", 400, "valid JSON"),
    ('{"inputs": [[0, 0], [0, 0, 0, 0]]}', 400, "inhomogeneous"),
    ('{"observations": [[0.0, 0.0, 0.0, 0.0]]}', 400, "exactly one of the input fields"),
    ('{"inputs": {"a": 1}}', 400, "un-named  model signature"),
    (
        inputs(np.zeros((MAX_BATCH + 1, 4))),
        400,
        f"batch of {MAX_BATCH + 1} observations is larger than max_batch={MAX_BATCH}",
    ),
]


def test_serve_registered_model_end_to_end(trained) -> None:
    serving.register(trained.run_id, "cartpole-ppo", "champion")
    server = Server("models:/cartpole-ppo@champion", MAX_BATCH)
    try:
        server.wait()
        obs = observations(MAX_BATCH, seed=1)
        expected = reference_actions(trained, obs)
        status, body = server.predict(inputs(obs[:1]))  # one observation
        assert (status, body) == (200, {"predictions": expected[:1].tolist()})
        status, body = server.predict(inputs(obs))  # a batch
        assert (status, body) == (200, {"predictions": expected.tolist()})
        status, body = server.predict(json.dumps({"dataframe_split": {"data": obs.tolist()}}))
        assert (status, body) == (200, {"predictions": expected.tolist()})

        # 300 malformed requests in a row: each answered 400, naming its problem.
        for i in range(300):
            request, code, message = BAD_REQUESTS[i % len(BAD_REQUESTS)]
            status, text = server.request("POST", "/invocations", request)
            assert status == code, (request[:80], status, text[:300])
            assert message in json.loads(text)["message"], (request[:80], text[:500])
        huge = inputs(np.zeros((20_000, 4)))  # ~0.5 MB
        status, text = server.request("POST", "/invocations", huge)
        assert status == 400 and "larger than max_batch" in text

        # Nothing named in a request is loaded: params are ignored, the answer is unchanged.
        hostile = json.dumps(
            {
                "inputs": obs[:3].tolist(),
                "params": {"model_uri": "/etc/passwd", "path": "runs:/x/y"},
            }
        )
        assert server.predict(hostile) == (200, {"predictions": expected[:3].tolist()})
        assert server.predict(inputs(obs)) == (200, {"predictions": expected.tolist()})
    finally:
        server.stop()
    wait_for(lambda: port_closed(server.port), f"port {server.port} to close after stop()", 30)
