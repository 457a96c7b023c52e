"""The documented shell commands work as written, so neither the README nor the documentation
site (docs/**/*.md) can drift from the code.

Every command of a ```bash block of README.md or of a docs page is matched to exactly one rule
below, which says how it is checked; a new command with no rule fails the fast test, which asks
for a decision. The fast tests check each harness command's command line (pre-flight and
composition, in-process); the slow test runs each distinct command once, in a fresh shell with
the virtual environment activated, as the pages say, appending small budgets where a run would
be long (a later `key=value` wins in Hydra).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rl_harness.config import commands
from rl_harness.config.preflight import CONF_DIR
from tests.waiting import free_port, http_ok, port_closed, wait_for

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [
    "n_timesteps=512", "eval.freq=256", "eval.episodes=2", "checkpoint.freq=0",
    "progress_bar=false", "eval.final.episodes=4", "eval.final.max_episodes=8",
    "eval.final.n_envs=4", "n_envs=2",
]  # fmt: skip
SWEEP = [
    *TRAIN, "hydra.sweeper.n_trials=1", "hydra.sweeper.validate.top=0",
    "hydra.sweeper.seeds=1",
]  # fmt: skip


def pages() -> list[Path]:
    """The pages whose commands are checked: README.md, then the site's pages by path."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def page_commands(page: Path) -> list[str]:
    """The commands of a page's bash blocks, continuation lines joined, comments dropped."""
    commands_, inside, pending = [], None, ""
    for line in page.read_text().splitlines():
        if line.strip().startswith("```"):  # also fences indented in a list item
            inside = None if inside is not None else (line.strip()[3:].strip() or "plain")
            continue
        if inside != "bash":
            continue
        line = f"{pending} {line.strip()}" if pending else line
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].strip()
            continue
        pending = ""
        text = re.sub(r"\s+#\s.*$", "", line.strip())
        if text and not text.startswith("#"):
            commands_.append(text)
    return commands_


def documented() -> dict[str, list[str]]:
    """Each page (its path from the repository root) → its commands, README.md first."""
    return {p.relative_to(ROOT).as_posix(): page_commands(p) for p in pages()}


def documented_commands() -> list[str]:
    """Every documented command once, in the order the pages first give it (a command moved
    from the README into a docs page, or shown on both, is checked and run once)."""
    return list(dict.fromkeys(c for found in documented().values() for c in found))


@dataclass(frozen=True)
class Rule:
    pattern: str  # a regex the whole command matches
    how: str  # train | sweep | make | run | serve | request | answer | covered | remote | setup
    why: str = ""  # for what is not run here


RULES = [
    Rule(r"make install train|make test", "setup", "the two setup commands: .ci/run runs them"),
    Rule(r"source \.venv/bin/activate", "setup", "every command here runs after it"),
    Rule(r"make bench(-full)?", "setup", "benchmarks (minutes to hours), run by hand"),
    Rule(r"make results", "covered", "tests/experiments/lib/test_records.py: the same pages"),
    Rule(
        r"python -m experiments\.gates\.zoo_gate.*",
        "covered",
        "hours: tests/experiments/gates/test_zoo_gate.py runs one pair of it",
    ),
    Rule(r"python -m rl_harness -m sweep=(?!.*db-host).*", "sweep"),
    Rule(
        r"python -m rl_harness (?!-m sweep=)(?!rerun=)(?!.*my_conf)(?!.*submitit)"
        r"(?!.*env=corridor).*",
        "train",
    ),
    Rule(r"python -m rl_harness rerun=<run id>.*", "run"),  # a rerun takes no budget
    Rule(r"python -m rl_harness\.(evaluate|compare|export|serving register) .*", "run"),
    Rule(r"python -m rl_harness\.runs( .*)?", "run"),
    Rule(r"python -m rl_harness\.envs\.inventory_dp.*", "run"),
    Rule(r"python -c \"import onnxruntime.*", "run"),
    Rule(r"make (sweep|tune.*)", "make"),
    Rule(r"make cluster-(up|down)", "covered", "tests/rl_harness/test_cluster.py runs them"),
    Rule(r"python -m rl_harness\.cluster workers .*", "covered", "tests/rl_harness/test_slurm.py"),
    Rule(r".*hydra/launcher=submitit_slurm.*", "covered", "tests/rl_harness/test_slurm.py"),
    Rule(r"mlflow models serve .*|make serve", "serve"),
    Rule(r"make ui|optuna-dashboard .*|make docs", "ui"),
    Rule(r"make docs-build", "covered", "tests/test_docs.py builds the site strict; CI runs it"),
    Rule(r"\$ curl .*", "request"),
    Rule(r"\{.*", "answer"),
    Rule(r"cd my_project|.*my_conf.*", "covered", "tests/test_packaging.py runs these"),
    Rule(
        r"python -m rl_harness algo=qlearning env=corridor",
        "covered",
        "tests/rl_harness/config/test_project.py: a project's pyproject.toml names its configs",
    ),
    Rule(r"export MLFLOW_TRACKING_URI=http://mlflow-host.*|.*@db-host/.*", "remote", "other hosts"),
]


def rule_of(command: str, where: str = "a page") -> Rule:
    matches = [r for r in RULES if re.fullmatch(r.pattern, command)]
    assert len(matches) == 1, f"command of {where} with {len(matches)} rules: {command}"
    return matches[0]


def test_every_documented_command_has_exactly_one_rule() -> None:
    found = documented()
    assert "make install train" in found["README.md"]
    assert sum(map(len, found.values())) > 30
    for page, commands_ in found.items():
        for command in commands_:
            rule_of(command, page)


def test_commands_are_read_from_every_docs_page(tmp_path: Path) -> None:
    """A bash block's commands are read from any page, a list item's too, and only bash's."""
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n```bash\npython -m rl_harness algo=ppo \\\n    env=custom   # a comment\n"
        "# a comment line\n```\n\n- item\n\n    ```bash\n    make sweep\n    ```\n\n"
        "```yaml\nseed: 0\n```\n```text\n$ python -m rl_harness algo.x=1\n```\n"
    )
    assert page_commands(page) == ["python -m rl_harness algo=ppo env=custom", "make sweep"]
    assert ROOT / "docs" / "configuration.md" in pages()
    assert ROOT / "docs" / "reference" / "api.md" in pages()


def substitute(command: str, run_id: str = "0" * 32, model: str = "model.zip") -> str:
    out = command.replace("<run id>", run_id)
    return re.sub(r"outputs/<date>/<time>_\w+_[\w-]+/model\.zip", model, out)


HARNESS = re.compile(r"python -m rl_harness(\.evaluate|\.compare|\.export)? (.*)")


def test_every_documented_harness_command_passes_the_pre_flight_and_composes() -> None:
    """What the CLI checks before any heavy work, for each documented command line: no
    ConfigError, and the composed config holds what the command asked for."""
    composed = 0
    for command in documented_commands():
        m = HARNESS.fullmatch(substitute(command))
        if not m or rule_of(command).how == "covered":
            continue
        name = {None: "config", ".evaluate": "evaluate", ".compare": "compare"}.get(m.group(1))
        if name is None:
            continue  # export: tested in tests/rl_harness/deploy
        checked = commands.checked_argv(name, shlex.split(m.group(2)))
        if any(a.startswith("-") or "," in a for a in checked):
            continue  # multirun and flags: each job is composed when it runs
        cfg = commands.compose(name, checked)
        for arg in checked:
            key, _, value = arg.lstrip("+").partition("=")
            if key in ("algo", "seed", "episodes", "n_timesteps", "experiment"):
                got = cfg.algo.name if key == "algo" else cfg[key]
                assert str(got) == value, (command, key, got)
        composed += 1
    assert composed >= 10  # the single-run harness commands of the README and docs (12 today)


# ---------------------------------------------------------------- run as written


def shell(command: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """A fresh shell with the venv activated, as the README says."""
    script = f"source {ROOT}/.venv/bin/activate && cd {shlex.quote(str(cwd))} && {command}"
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=timeout)


def ok(command: str, cwd: Path, timeout: int = 600) -> str:
    proc = shell(command, cwd, timeout)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def pinned_budget(command: str) -> list[str]:
    """Where the search space holds the budget (conf/sweep/env/<sweep>_<env>.yaml), the test's
    budget as its one choice: sampled values override the command line's n_timesteps."""
    m = re.search(r"sweep=(\w+).* env=(\w+)", command)
    path = CONF_DIR / "sweep" / "env" / f"{m[1]}_{m[2]}.yaml" if m else None
    if path is None or not path.exists():
        return []
    space = OmegaConf.load(path).hydra.sweeper.get("space") or {}
    return ["hydra.sweeper.space.n_timesteps.choices=[512]"] if "n_timesteps" in space else []


def test_a_searched_budget_is_pinned_only_where_the_space_holds_it() -> None:
    assert pinned_budget("python -m rl_harness -m sweep=qlearning algo=qlearning env=custom")
    assert pinned_budget("python -m rl_harness -m sweep=ppo env=custom")
    assert pinned_budget("python -m rl_harness -m sweep=dqn algo=dqn env=custom")
    assert not pinned_budget("python -m rl_harness -m sweep=a2c env=custom")
    assert not pinned_budget("python -m rl_harness -m sweep=ppo env=cartpole")


def with_budget(command: str, budget: list[str]) -> str:
    return f"{command} {' '.join(shlex.quote(b) for b in budget)}"


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ~6 min on 2 quiet cores; far more on a busy machine
def test_documented_commands_run_as_written(tmp_path: Path) -> None:
    found = documented_commands()
    run_id = model = None
    for i, command in enumerate(found):
        study = [f"hydra.sweeper.study_name=readme-{i}"]  # each sweep its own study
        how = rule_of(command).how
        if how == "train":
            out = ok(with_budget(command, TRAIN), tmp_path)
            if command == "python -m rl_harness algo=ppo env=cartpole":
                run_id = re.search(r"^run ([0-9a-f]{32}) \|", out, re.M).group(1)
            if "env=custom" in command and "algo=ppo" in command:
                model = re.search(r"\| model (\S+model\.zip)$", out, re.M).group(1)
        elif how == "sweep":
            ok(with_budget(command, SWEEP + study + pinned_budget(command)), tmp_path)
        elif how == "make":
            dry = ok(f"make -s -n -C {ROOT} {command.removeprefix('make ')}", tmp_path)
            line = " ".join(dry.replace("\\\n", " ").split()).replace(".venv/bin/python", "python")
            ok(with_budget(line, SWEEP + study + pinned_budget(line)), tmp_path)
    assert run_id and model, "the documented PPO runs (CartPole, custom) gave a run and a model"
    for command in found:
        if rule_of(command).how == "run":
            ok(substitute(command, run_id, model), tmp_path)
    assert (tmp_path / "policy.onnx").exists()
    serve_and_ask(found, exchanges(), tmp_path)
    for command in (c for c in found if rule_of(c).how == "ui"):
        study = next((tmp_path / "sweeps").glob("*/optuna.journal")).parent.name
        port = free_port()
        with running(command.replace("<study>", study), tmp_path, port) as server:
            page = ok(
                f"curl -sL -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{port}/", tmp_path
            )
            assert page.strip() == "200" and server.poll() is None, command


DOCUMENTED_PORT = re.compile(r"127\.0\.0\.1:(5000|5001|8080)\b")


def on_port(command: str, port: int) -> tuple[str, str]:
    """A documented server command moved from its documented port (which something else on this
    machine may hold) to `port`, and the path where that server says it is ready."""
    if command == "make serve":
        return f"make -C {ROOT} serve PORT={port}", "/ping"
    if command == "make ui":
        return f"make -C {ROOT} ui UI_PORT={port}", "/health"
    if command == "make docs":
        return f"make -C {ROOT} docs DOCS_PORT={port}", "/index.html"
    if command.startswith("mlflow models serve "):
        return re.sub(r"--port \d+", f"--port {port}", command), "/ping"
    if command.startswith("optuna-dashboard "):
        return f"{command} --port {port}", "/api/meta"
    if command.removeprefix("$ ").startswith("curl "):  # a request to the served model
        return DOCUMENTED_PORT.sub(f"127.0.0.1:{port}", command), ""
    raise AssertionError(f"documented server command with no port rule in on_port: {command}")


def test_documented_servers_run_on_a_port_the_test_picks() -> None:
    """Each documented server command, and each request to one, moves to the test's free port:
    a server already on 5000, 5001 or 8080 cannot answer for the one under test."""
    moved = [c for c in documented_commands() if rule_of(c).how in ("serve", "ui", "request")]
    assert len(moved) >= 6  # 2 serve, 2 ui, 3 requests today
    moved.append("make docs")  # the site's server, documented or not yet
    for command in moved:
        text, _ = on_port(command, 54321)
        if text.startswith("make "):  # what make would run, with the port it was given
            text = ok(f"make -s -n {text.removeprefix('make ')}", ROOT)
        assert "54321" in text and not re.search(r"\b(5000|5001|8080)\b", text), text


@contextlib.contextmanager
def running(command: str, cwd: Path, port: int) -> Iterator[subprocess.Popen]:
    """A documented server command on `port` in a fresh shell with the venv activated, until that
    server reports ready on that port; stopped (its whole process group) afterwards."""
    command, ready = on_port(command, port)
    server = subprocess.Popen(
        ["bash", "-c", f"source {ROOT}/.venv/bin/activate && cd {cwd} && exec {command}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        what = f"{command} to answer {ready} on port {port}"
        wait_for(lambda: server.poll() is not None or http_ok(port, ready), what, 180)
        assert server.poll() is None, f"{command} exited with {server.returncode}"
        yield server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        wait_for(lambda: port_closed(port), f"port {port} to close", 60)


def exchanges() -> list[tuple[str, str | None]]:
    """Each documented request with the answer its page shows right after it (None where it
    shows none), once over all pages: a page pairs its own requests and answers."""
    out: dict[str, str | None] = {}
    for page, found in documented().items():
        request = None
        for command in found:
            how = rule_of(command, page).how
            if how == "request":
                request = command.removeprefix("$ ")
                out.setdefault(request, None)
            elif how == "answer" and request is not None:
                out[request], request = command, None
    return list(out.items())


def test_each_documented_request_pairs_with_the_answer_shown_after_it() -> None:
    found = exchanges()
    assert len(found) >= 3 and all(answer is not None for _, answer in found)
    refused = [r for r, answer in found if answer is not None and '"error_code"' in answer]
    assert len(refused) == 1 and "NaN" in refused[0]  # the one request the model refuses


def serve_and_ask(found: list[str], asked: list[tuple[str, str | None]], cwd: Path) -> None:
    """Each serving command, then the documented requests against it: as many predictions as
    the page's answer shows, or the refusal it shows (the NaN request)."""
    assert asked, "no documented request to a served model"
    for command in (c for c in found if rule_of(c).how == "serve"):
        port = free_port()
        with running(command, cwd, port):
            for request, answer in asked:
                got = json.loads(ok(on_port(request, port)[0], cwd))
                if answer is None:
                    continue
                if '"error_code"' in answer:  # shown abbreviated ("..."): only its kind
                    assert "error_code" in got, (request, got)
                else:
                    want = json.loads(answer)["predictions"]
                    assert len(got["predictions"]) == len(want), (request, got, answer)
