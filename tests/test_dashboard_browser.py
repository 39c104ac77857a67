"""The monitoring dashboard in a real browser (headless Chromium) over the learning database of a scripted
run: a shopper chats with the running bot (searches, a catalog gap, a fallback, a handoff), then the
console is served over that database and a reviewer opens /dashboard.

Checked: every chart draws (a canvas with painted pixels, the points it was given), the tiles show the
run's figures, and an alert banner appears once a threshold is set below a figure. Screenshots go to
artifacts/dashboard/.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import uvicorn
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import insert, select

from benchmarks.bench_webchat import browser_missing
from bot.launcher import BotProcesses, free_port
from console.app import create_app
from console.settings import ConsoleSettings
from learning.db import get_engine, messages, suggestions
from ops.monitor_baseline import BASELINE_ENV, baseline_path
from tests.browser import chrome, save_screenshot, wait_for
from tests.console_seed import PASSWORD, add_users

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=f"headless browser: {browser_missing()}"),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "dashboard"
TIMEOUT = 30.0
# Each chart and the colour of its first data series (static/dashboard.js): blue, red, orange.
CHARTS = {"chart-volume": (37, 87, 214), "chart-fallback": (179, 38, 30), "chart-confidence": (37, 87, 214),
          "chart-psi": (217, 119, 6), "chart-latency": (37, 87, 214)}
FALLBACK_CANDIDATES = ("thingamajig", "hmmm what about", "banana", "whats good", "x", "?")
SCRIPT = ("red trainers for my son", "cheaper", "do you sell kayaks", "hi", "a blue dress for a party",
          "do you have snorkel masks", "talk to a person", "wireless headphones under $100", "thanks")

# Pixels of a chart's canvas painted in (about) a series colour: the data drawn, not just axes and grid.
PAINTED_JS = """
const [id, r, g, b] = arguments;
const canvas = document.querySelector('#' + id + ' canvas');
if (!canvas) return -1;
const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] > 0 && Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 60) {
    painted++;
  }
}
return painted;
"""


def copy_senders(source_url: str, target_url: str, prefix: str) -> None:
    """The rows of the senders whose id starts with `prefix` (their messages and suggestions), copied
    into a database of their own: the session's bot also logs every other test's conversations."""
    source, target = get_engine(source_url), get_engine(target_url)
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(messages).where(messages.c.sender_id.startswith(prefix)))]
        ids = [row["id"] for row in rows]
        found = [dict(r._mapping) for r in conn.execute(
            select(suggestions).where(suggestions.c.message_id.in_(ids)))] if ids else []
    with target.begin() as conn:
        if rows:
            conn.execute(insert(messages), rows)
        if found:
            conn.execute(insert(suggestions), found)


@pytest.fixture(scope="module")
def scripted_run(bot: BotProcesses, trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The scripted conversation through the running bot; the URL of a database holding only its rows."""
    fallback = next((t for t in FALLBACK_CANDIDATES if bot.parse(t)["intent"]["name"] == "nlu_fallback"),
                    None)
    assert fallback, f"none of {FALLBACK_CANDIDATES} is nlu_fallback for this model"
    prefix = f"dash-{uuid.uuid4().hex[:6]}-"
    for n, text in enumerate((*SCRIPT, fallback)):
        bot.send(f"{prefix}{n % 3}", text)
    baseline = baseline_path(trained_model)
    if not baseline.is_file():  # once per model: the held-out split parsed by it
        subprocess.run([sys.executable, "-m", "ops.monitor_baseline", "--model", str(trained_model)],
                       check=True, capture_output=True, timeout=900)
    time.sleep(1.0)  # the log writer stores the last turn's replies off the event loop
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard-run') / 'learning.db'}"
    copy_senders(bot.database_url, url, prefix)
    return url


@pytest.fixture(scope="module")
def console(scripted_run: str, trained_model: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[str]:
    root = tmp_path_factory.mktemp("dashboard")
    settings = ConsoleSettings(database_url=scripted_run, data_dir=root / "data")
    add_users(get_engine(settings.database_url))
    patch = pytest.MonkeyPatch()
    patch.setenv(BASELINE_ENV, str(baseline_path(trained_model)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the console did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        patch.undo()


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    with chrome(1400, 1400) as browser:
        yield browser


def screenshot(driver: WebDriver, name: str) -> None:
    save_screenshot(ARTIFACTS, driver, name)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    return wait_for(driver, condition, what, ARTIFACTS, TIMEOUT)


def open_dashboard(driver: WebDriver, url: str) -> None:
    driver.get(f"{url}/dashboard")  # a new page: no data-dashboard until its figures are drawn
    wait(driver, lambda d: d.execute_script("return document.body.dataset.dashboard") == "ready", "figures")


def test_a_reviewer_sees_every_chart_drawn_with_the_runs_data(console: str, driver: WebDriver) -> None:
    driver.get(f"{console}/login?next=/dashboard")
    driver.find_element(By.NAME, "username").send_keys("rita")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver, lambda d: d.execute_script("return document.body.dataset.dashboard") == "ready", "figures")
    for chart, colour in CHARTS.items():
        points = int(driver.find_element(By.ID, chart).get_attribute("data-points") or 0)
        assert points > 0, f"{chart} was given no data"
        assert driver.execute_script(PAINTED_JS, chart, *colour) > 20, f"{chart} drew no data"
    tiles = driver.find_element(By.ID, "tiles").text
    assert f"{len(SCRIPT) + 1}\nmessages" in tiles, tiles
    assert "handoffs" in tiles and "held-out" in tiles
    words = driver.find_element(By.ID, "gap-words").text
    assert "kayaks" in words or "kayak" in words, words
    assert driver.find_element(By.ID, "alerts").get_attribute("hidden") is not None, "an alert on 10 messages"
    screenshot(driver, "scripted-run")


def test_an_alert_banner_shows_when_a_threshold_is_crossed(console: str, driver: WebDriver,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPCUE_ALERT_MIN_MESSAGES", "1")
    monkeypatch.setenv("SHOPCUE_ALERT_ZERO_RESULT_RATE", "0.05")
    open_dashboard(driver, console)
    banner = driver.find_element(By.ID, "alerts")
    assert banner.is_displayed()
    items = banner.find_elements(By.CSS_SELECTOR, "li[data-metric]")
    assert "zero_result_rate" in {i.get_attribute("data-metric") for i in items}, banner.text
    assert "zero-result search rate" in banner.text
    screenshot(driver, "alert-banner")
