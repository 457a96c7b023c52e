"""What a person sees in the MLflow UI, in a real browser: Debian's Chromium, headless, driven by
Selenium over `mlflow ui` on loopback, on a store with seeds of one configuration, a sweep and a
registered model. Screenshots go to $RL_HARNESS_SCREENSHOTS (default: the test's own folder).

Slow (about a minute and a half: the UI server alone takes ~25 s to answer). Needs `chromium` and
`chromium-driver` (`.ci/run` installs them); with RL_HARNESS_REQUIRE_BROWSER set, a missing browser
fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rl_harness.deploy import serving
from rl_harness.tracking import runs as tracking
from rl_harness.training import train
from tests.conftest import compose_config
from tests.waiting import free_port, group_gone, http_ok, wait_for

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HAVE_BROWSER = Path(CHROMIUM).exists() and Path(DRIVER).exists()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not HAVE_BROWSER and not os.environ.get("RL_HARNESS_REQUIRE_BROWSER"),
        reason="no chromium / chromium-driver (apt-get install chromium chromium-driver)",
    ),
]
TINY = ["algo=ppo", "env=cartpole", "n_timesteps=256", "algo.n_steps=64", "algo.batch_size=64"]
TINY += ["eval.freq=128", "eval.episodes=2", "checkpoint.freq=0", "mlflow.system_metrics=false"]
STUDY = "ui-demo"


def build_store(root: Path) -> dict[str, str]:
    """Two seeds of one configuration, a 2-trial sweep, a registered model."""
    seeds = [train.run(compose_config([*TINY, f"seed={s}"]))["run_id"] for s in (0, 1)]
    sweep = subprocess.run(
        [
            *(sys.executable, "-m", "rl_harness", "-m", "sweep=ppo", *TINY),
            *(f"hydra.sweeper.study_name={STUDY}", "hydra.sweeper.n_trials=2"),
            "hydra.sweeper.pruner.name=none",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    serving.register(seeds[0], "cartpole-ppo", "champion")
    first = tracking.get_run(seeds[0])
    assert tracking.get_run(seeds[1]).data.tags["seed_group"] == first.data.tags["seed_group"]
    return {
        "experiment": first.info.experiment_id,
        "run": seeds[0],
        "seed_group": first.data.tags["seed_group"],
    }


@pytest.fixture
def ui(isolated: Path) -> Iterator[str]:
    """`mlflow ui` over this test's store, on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1"),
            *("--port", str(port), "--backend-store-uri", os.environ["MLFLOW_TRACKING_URI"]),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        what = f"the MLflow UI to answer /health on port {port}"
        wait_for(lambda: proc.poll() is not None or http_ok(port, "/health"), what, 180)
        assert proc.poll() is None, f"mlflow ui exited with {proc.returncode}"
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
        wait_for(lambda: group_gone(proc.pid), "the UI's processes to exit", 30)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1600,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def shots(tmp: Path) -> Path:
    out = Path(os.environ.get("RL_HARNESS_SCREENSHOTS") or tmp / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def page_text(driver) -> str:
    return driver.find_element("tag name", "body").text


def visit(driver, url: str, *texts: str, timeout: float = 90) -> str:
    """Open `url` and wait until the page shows every one of `texts`."""
    driver.get(url)

    def shown() -> str | None:
        text = page_text(driver)
        return text if all(x in text for x in texts) else None

    try:
        return wait_for(shown, f"{url} to show {texts}", timeout)
    except BaseException:  # what the page showed instead, beside the other screenshots
        driver.save_screenshot(str(shots(Path.cwd()) / "failed.png"))
        raise


def test_runs_sweeps_models_read_at_a_glance(isolated: Path, ui: str, browser) -> None:
    from selenium.webdriver.common.keys import Keys

    store = build_store(isolated)
    out = shots(isolated)
    exp_url = f"{ui}/#/experiments/{store['experiment']}"

    text = visit(
        browser, f"{exp_url}/runs", "ppo-CartPole-v1-s0", "ppo-CartPole-v1-s1", f"sweep {STUDY}"
    )
    browser.save_screenshot(str(out / "runs_list.png"))
    assert "trial-0" not in text  # nested: folded under their sweep until expanded

    expander = browser.find_element(
        "xpath", f"//*[text()='sweep {STUDY}']/ancestor::*[@role='row'][1]//button"
    )
    expander.click()
    wait_for(
        lambda: all(t in page_text(browser) for t in ("trial-0", "trial-1")),
        "the sweep's trials to show under it",
        30,
    )
    browser.save_screenshot(str(out / "sweep_expanded.png"))

    # seeds of one configuration, grouped by MLflow itself: one curve per configuration
    close = browser.find_elements("xpath", "//button[@aria-label='Close']")  # the assistant pane
    if close:
        close[0].click()
    browser.find_element("xpath", "//button[normalize-space(.)='Group by']").click()
    wait_for(
        lambda: browser.find_elements("xpath", "//*[normalize-space(text())='seed_group']"),
        "the Group by menu to list the seed_group tag",
        30,
    )[0].click()
    browser.find_element("tag name", "body").send_keys(Keys.ESCAPE)
    group = store["seed_group"]
    wait_for(lambda: f"Group: {group}" in page_text(browser), f"a row for group {group}", 30)
    chart_view = browser.find_element("css selector", "input[type=radio][value=CHART]")
    browser.execute_script("arguments[0].click()", chart_view)
    wait_for(
        lambda: browser.find_elements("xpath", "//input[@placeholder='Search metric charts']"),
        "the chart view",
        60,
    )[0].send_keys("eval/mean_reward")
    wait_for(
        lambda: f"{group} (eval/mean_reward)" in page_text(browser),
        "a chart of eval/mean_reward with one curve for the grouped seeds",
        60,
    )
    browser.save_screenshot(str(out / "seed_grouped_chart.png"))

    run_url = f"{exp_url}/runs/{store['run']}"
    visit(browser, run_url, "ppo-CartPole-v1-s0", "Logged models", "Registered models")
    model_links = wait_for(
        lambda: browser.find_elements("xpath", "//a[normalize-space(.)='policy']"),
        "the run's logged model 'policy' as a link",
        30,
    )
    assert model_links[0].get_attribute("href")
    browser.save_screenshot(str(out / "run_page_with_model.png"))

    visit(browser, f"{ui}/#/models/cartpole-ppo", "cartpole-ppo", "Version 1", "champion")
    browser.save_screenshot(str(out / "registered_model.png"))
