"""What a run ran on: package versions, Python, platform, CPU, torch threads, commit and whether
the harness's checkout had uncommitted changes.

Collected once per run (~0.02 s of CPU: the head of every installed distribution's metadata
file, one `git status`), by the recording helper where there is one. The facts are flat strings
keyed by their MLflow tag names, so a run's tags read back (`from_tags`) compare with this
machine's now (`facts`) by `differences` — what `rerun=<run id>` reports. Nothing here imports
torch or MLflow.

    facts(torch_threads)      {"version.torch": "2.13.0", ..., "git.dirty": "false"}
    installed()               every distribution: {name: version} → environment/packages.txt
    git_state(), git_diff()   commit, dirty flag; the uncommitted diff → environment/git.diff
    user_code(env_id)         the user's own code: the working directory's repository (where
                              it is not the harness's checkout) and the env's distribution
"""

from __future__ import annotations

import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

# The distributions whose versions decide a run's numbers: each gets a tag `version.<name>`.
KEY_PACKAGES = (
    "stable-baselines3",
    "sb3-contrib",
    "torch",
    "gymnasium",
    "numpy",
    "optuna",
    "mlflow",
    "hydra-core",
)
VERSION_PREFIX = "version."
PYTHON_TAG = "version.python"
PLATFORM_TAG = "platform"
CPU_TAG = "cpu"
THREADS_TAG = "torch.threads"
COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own name: its UI shows it
DIRTY_TAG = "git.dirty"
# The user's own code: the working directory's repository, where it is not the harness's.
USER_COMMIT_TAG = "user.git.commit"
USER_DIRTY_TAG = "user.git.dirty"
USER_REPO_TAG = "user.git.repo"
ENV_PACKAGE_TAG = "env.package"  # the distribution that registers the env
ENV_VERSION_TAG = "env.package.version"  # ... and its version
OTHER_TAGS = (PLATFORM_TAG, CPU_TAG, THREADS_TAG, COMMIT_TAG, DIRTY_TAG)
ARTIFACT_DIR = "environment"  # packages.txt, git.diff
HARNESS_DIR = Path(__file__).resolve().parents[1]  # the code whose commit is recorded
# What the experiments write into the checkout: records and the pages rendered from them. Not
# code: a benchmark that merges each finished part into its record would otherwise make its own
# later runs "dirty", unable to reuse a run of the same code (tuning/reuse.py).
OUTPUTS = ("experiments/results",)
GIT_TIMEOUT_S = 5


def normalized(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503): `Stable_Baselines3` is
    `stable-baselines3`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """Every installed distribution's version, by normalized name; where one is installed twice,
    the one Python imports (first on sys.path)."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = _name_version(dist)
        if name and version:
            found.setdefault(normalized(name), version)
    return dict(sorted(found.items()))


def _name_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """`Name` and `Version` from the head of the distribution's metadata file: what
    `dist.metadata` gives, at a tenth of its cost (it parses the whole file, long descriptions
    included: 0.1 s of every run's CPU for ~180 distributions)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():  # the headers end at the first blank line
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("name", "version"):
            fields.setdefault(key.strip().lower(), value.strip())
    return fields.get("name"), fields.get("version")


def packages_text(packages: Mapping[str, str]) -> str:
    """`name==version` lines, sorted: what `pip install -r` reads back."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(packages.items()))


def parse_packages(text: str) -> dict[str, str]:
    """The inverse of `packages_text` (a recorded packages.txt → {name: version})."""
    pairs = (line.split("==", 1) for line in text.splitlines() if "==" in line)
    return {normalized(name.strip()): version.strip() for name, version in pairs}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):  # x86 / ARM
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@dataclass(frozen=True)
class GitState:
    """The harness checkout's commit and whether it differs from it (None: not a git checkout).
    Untracked files count as changes: a new `conf/hparams` file changes what a run trains.
    What the experiments write (OUTPUTS) does not."""

    commit: str | None
    dirty: bool | None
    untracked: tuple[str, ...] = ()

    def tags(self) -> dict[str, str]:
        tags = {COMMIT_TAG: self.commit} if self.commit else {}
        if self.dirty is not None:
            tags[DIRTY_TAG] = str(self.dirty).lower()
        return tags


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
            cwd=where,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def git_state(where: Path = HARNESS_DIR, outputs: tuple[str, ...] = OUTPUTS) -> GitState:
    """One `git status` (a few ms): the commit, and any change to tracked or untracked files
    outside `outputs` (the harness's by default; a user's repository: pass ())."""
    out = _git(where, "status", "--porcelain=v2", "--branch", "--untracked-files=normal",
               "--", *_not(outputs))  # fmt: skip
    if out is None:
        return GitState(None, None)
    commit, dirty, untracked = None, False, []
    for line in out.splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split()[-1]
            commit = None if oid == "(initial)" else oid
        elif line.startswith("? "):
            untracked.append(line[2:])
        elif not line.startswith("#"):
            dirty = True
    return GitState(commit, dirty or bool(untracked), tuple(untracked))


def git_diff(state: GitState, where: Path = HARNESS_DIR) -> str:
    """The uncommitted changes against the commit (`git apply` takes it back), headed by the
    untracked files, whose content it does not hold; "" for a clean checkout."""
    if not state.dirty or state.commit is None:
        return ""
    head = "".join(f"# untracked: {path}\n" for path in state.untracked)
    return head + (_git(where, "diff", "HEAD", "--", *_not(OUTPUTS)) or "")


def _not(outputs: tuple[str, ...]) -> list[str]:
    """Pathspecs: the whole checkout but `outputs` (from its top, wherever git runs)."""
    return [":(top)", *(f":(top,exclude){path}" for path in outputs)]


def _toplevel(where: Path) -> Path | None:
    out = _git(where, "rev-parse", "--show-toplevel")
    return Path(out.strip()).resolve() if out and out.strip() else None


def env_module(env_id: str) -> str | None:
    """The module that registers or defines an env: `module:EnvId`'s module, else the entry
    point of the env's Gymnasium registration (where gymnasium holds it)."""
    if ":" in env_id:
        return env_id.split(":", 1)[0]
    try:
        import gymnasium

        entry = gymnasium.spec(env_id).entry_point
    except Exception:  # noqa: BLE001 - an env id gymnasium cannot resolve here: no module
        return None
    if isinstance(entry, str):
        return entry.split(":", 1)[0]
    return getattr(entry, "__module__", None)


def env_distribution(env_id: str) -> tuple[str, str] | None:
    """(name, version) of the installed distribution that provides the env's module (None for a
    module no distribution installs, e.g. a directory on PYTHONPATH)."""
    module = env_module(env_id)
    if not module:
        return None
    for name in _providers(module.split(".")[0]):
        try:
            return normalized(name), metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _providers(top: str) -> list[str]:
    """The distributions that install the top-level package `top`: the one named like it where
    there is one (gymnasium, rl_harness: a lookup by name), else those that list it among their
    files (`packages_distributions` reads every distribution's file list: 0.25 s of CPU)."""
    try:
        metadata.distribution(top)
    except metadata.PackageNotFoundError:
        return metadata.packages_distributions().get(top, [])
    return [top]


def user_code(env_id: str, cwd: Path | None = None) -> dict[str, str]:
    """The user's own code version as tags: the commit and dirty flag of the working
    directory's git repository (where it is a repository other than the harness's checkout,
    whose commit `git_state` records), and the distribution that registers the env
    (`env.package`, `env.package.version`). Recorded, not compared by `rerun=`."""
    tags: dict[str, str] = {}
    where = (cwd or Path.cwd()).resolve()
    top = _toplevel(where)
    if top is not None and top != _toplevel(HARNESS_DIR):
        state = git_state(top, outputs=())
        tags[USER_REPO_TAG] = str(top)
        if state.commit:
            tags[USER_COMMIT_TAG] = state.commit
        if state.dirty is not None:
            tags[USER_DIRTY_TAG] = str(state.dirty).lower()
    if dist := env_distribution(env_id):
        tags[ENV_PACKAGE_TAG] = dist[0]
        tags[ENV_VERSION_TAG] = dist[1]
    return tags


def facts(
    torch_threads: int | None = None,
    packages: Mapping[str, str] | None = None,
    git: GitState | None = None,
) -> dict[str, str]:
    """This process's environment as tags: key package versions, Python, platform, CPU, torch
    threads (given by the caller, which has torch loaded), commit and dirty flag.

    `packages` and `git`: already collected (`installed()`, `git_state()`), not read again."""
    packages = installed() if packages is None else packages
    git = git_state() if git is None else git
    tags = {VERSION_PREFIX + name: packages[name] for name in KEY_PACKAGES if name in packages}
    tags[PYTHON_TAG] = platform.python_version()
    tags[PLATFORM_TAG] = platform.platform()
    tags[CPU_TAG] = cpu_model()
    if torch_threads is not None:
        tags[THREADS_TAG] = str(torch_threads)
    return {**tags, **git.tags()}


def from_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The facts among a recorded run's tags (`run.data.tags`), shaped as `facts` returns them."""
    return {
        key: value
        for key, value in tags.items()
        if key.startswith(VERSION_PREFIX) or key in OTHER_TAGS
    }


class Difference(NamedTuple):
    key: str
    recorded: str | None  # None: the fact was not recorded (an older run, a missing package)
    current: str | None

    def __str__(self) -> str:
        return f"{self.key}: {self.recorded or 'none'} recorded, {self.current or 'none'} now"


def differences(
    recorded: Mapping[str, str], current: Mapping[str, str], keys: Iterable[str] | None = None
) -> list[Difference]:
    """The facts that differ between two `facts`-shaped dicts, by key (only `keys`, if given)."""
    chosen = sorted(set(recorded) | set(current)) if keys is None else list(keys)
    return [
        Difference(key, recorded.get(key), current.get(key))
        for key in chosen
        if recorded.get(key) != current.get(key)
    ]


def write(out_dir: Path, packages: Mapping[str, str], diff: str) -> list[Path]:
    """`<out_dir>/environment/packages.txt`, and `git.diff` where there is one: the files to
    attach to the run."""
    folder = out_dir / ARTIFACT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "packages.txt"]
    files[0].write_text(packages_text(packages))
    diff_file = folder / "git.diff"
    diff_file.unlink(missing_ok=True)  # a directory reused by a rerun: no stale diff
    if diff:
        diff_file.write_text(diff)
        files.append(diff_file)
    return files
