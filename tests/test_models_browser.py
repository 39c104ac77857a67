"""The console's Models page in headless Chromium: the registry with its buttons, the shadow's agreement
and disagreements, the A/B arms with intervals and verdicts, and a promote that switches the Rasa
server (a local stand-in for its ops routes records the request). Screenshot: artifacts/console/."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Dict, Iterator, List

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import insert

from benchmarks.bench_webchat import browser_missing, headless_chrome
from learning import registry
from learning.db import messages, utcnow
from learning.retrain import RetrainOptions, RetrainResult
from ops import shadow
from ops.serving_client import RASA_URL_ENV
from tests.console_seed import PASSWORD, add_message
from tests.test_console_browser import Console, screenshot, wait
from tests.test_shadow import SURE, KnownParser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=f"headless browser: {browser_missing()}"),
]


class FakeOps:
    """The Rasa server's ops routes as the console sees them: what is served, and switch requests."""

    def __init__(self, live: str, candidate: str) -> None:
        self.view: Dict[str, Any] = {"live": {"id": live, "model_file": "live.tar.gz"}, "share": 0.5,
                                     "candidate": {"id": candidate, "model_file": "cand.tar.gz"}}
        self.switches: List[Dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: Dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(outer.view)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.switches.append({"path": self.path, **body})
                outer.view["live"] = {"id": body.get("model_id"), "model_file": "switched.tar.gz"}
                self._answer(outer.view)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _rows(console: Console, model: str, shoppers: int, fallbacks: int) -> None:
    with console.engine.begin() as conn:
        for n in range(shoppers):
            intent = "nlu_fallback" if n < fallbacks else "search_product"
            conn.execute(insert(messages).values(
                sender_id=f"{model}-{n}", channel="webchat", text=f"t {model} {n}", text_key=f"t {model} {n}",
                intent=intent, intent_confidence=0.9, intent_ranking=[], entities=[], attributes={},
                replies=[{"text": "ok", "custom_type": "product_cards", "action": "action_search_products"}],
                model_id=model, redactions={}, doubt=0.1, created_at=utcnow() - timedelta(hours=1),
                state="auto"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    root = tmp_path_factory.mktemp("models-page")
    console = Console(root)
    archives = {}
    for name in ("live", "cand", "shadow"):
        path = root / f"{name}.tar.gz"
        path.write_bytes(f"archive {name}".encode())
        archives[name] = registry.register(console.engine, path, "h", note=f"{name} model")
    registry.promote(console.engine, archives["live"].id, "adam", serve_dir=None)
    registry.set_shadow(console.engine, archives["shadow"].id)
    first = add_message(console.engine, "hello there", 0.1, intent="greet")
    add_message(console.engine, "bye for now", 0.1, intent="goodbye")
    parser = KnownParser({"intent": {"name": "greet", "confidence": 0.9}, "entities": [], "attributes": SURE})
    for row in shadow.pending(console.engine, first - 1):
        shadow.handle(console.engine, parser, archives["shadow"].id, row)
    _rows(console, archives["live"].id, 60, 6)
    _rows(console, archives["cand"].id, 60, 18)
    fake = FakeOps(archives["live"].id, archives["cand"].id)
    patch = pytest.MonkeyPatch()
    patch.setenv(RASA_URL_ENV, fake.url)
    console.start()
    browser = headless_chrome(1400, 1100)
    try:
        yield {"console": console, "models": archives, "fake": fake, "driver": browser.driver}
    finally:
        browser.quit()
        console.stop()
        fake.server.shutdown()
        patch.undo()


def test_the_models_page_shows_shadow_and_ab_and_promotes(setup: Dict[str, Any]) -> None:
    console, models, fake = setup["console"], setup["models"], setup["fake"]
    driver: WebDriver = setup["driver"]
    driver.get(f"{console.url}/login?next=/models")
    driver.find_element(By.NAME, "username").send_keys("adam")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready]"), "the models page")
    table = driver.find_element(By.ID, "models-table").text
    assert all(m.id in table for m in models.values()) and "shadow" in table
    shadow_line = driver.find_element(By.ID, "shadow-summary").text
    assert shadow_line == f"shadow {models['shadow'].id}: 1/2 agree (50.0%)"
    assert "bye for now" in driver.find_element(By.ID, "shadow-disagreements").text
    rows = {r.find_elements(By.TAG_NAME, "td")[0].text: [c.text for c in r.find_elements(By.TAG_NAME, "td")]
            for r in driver.find_elements(By.CSS_SELECTOR, "#ab-table tbody tr")}
    assert set(rows) == {"fallback", "rephrase", "card_click", "add_to_cart", "handoff"}
    assert rows["fallback"][1].startswith("6/60 = 10.0%") and rows["fallback"][2].startswith("18/60 = 30.0%")
    assert rows["fallback"][4] == "fallback higher with the candidate"  # 10% vs 30% of 60: significant
    assert rows["handoff"][4] == "not yet significant"
    assert "50.0% of traffic" in driver.find_element(By.ID, "ab-summary").text
    screenshot(driver, "models-page")

    cand_row = [r for r in driver.find_elements(By.CSS_SELECTOR, "#models-table tbody tr")
                if models["cand"].id in r.text][0]
    cand_row.find_element(By.XPATH, ".//button[text()='Promote']").click()
    wait(driver, lambda d: "Promote: done" in d.find_element(By.ID, "models-status").text, "the promote")
    assert fake.switches == [{"path": "/webhooks/ops/models/live", "model_id": models["cand"].id}]
    assert registry.live_model(console.engine).id == models["cand"].id


def test_an_admin_retrains_from_the_models_page_and_follows_it(setup: Dict[str, Any]) -> None:
    """The button starts the console's retrain job; the page shows its progress lines, the comparison
    table and why the candidate was not promoted (the job's work is learning.retrain's, tested in
    tests/test_retrain.py; here a runner that takes a moment stands in for minutes of training)."""
    console, models = setup["console"], setup["models"]
    driver: WebDriver = setup["driver"]
    release = threading.Event()

    def runner(options: RetrainOptions, _engine: Any, progress: Any) -> RetrainResult:
        progress("exported 3 reviewed examples")
        progress("training the candidate")
        release.wait(20)
        progress("scored; entity F1 dropped 0.012")
        table = "| set | metric | live | candidate | delta |\n| heldout | entity F1 | 0.930 | 0.918 | -0.012"
        return RetrainResult(models["cand"], models["live"], {}, {}, table, False,
                             ["heldout entity F1 dropped by 0.012"])

    console.server.config.app.state.retrain_runner = runner  # the app uvicorn serves
    driver.get(f"{console.url}/models")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready]"), "the models page")
    driver.find_element(By.ID, "retrain").click()
    wait(driver, lambda d: "training the candidate" in d.find_element(By.ID, "retrain-lines").text,
         "the retrain's progress")
    assert not driver.find_element(By.ID, "retrain").is_enabled()  # one job at a time
    release.set()
    wait(driver, lambda d: "not promoted" in d.find_element(By.ID, "retrain-state").text, "the outcome")
    assert "heldout entity F1 dropped by 0.012" in driver.find_element(By.ID, "retrain-state").text
    assert "0.918" in driver.find_element(By.ID, "retrain-table").text
    assert driver.find_element(By.ID, "retrain").is_enabled()
    screenshot(driver, "models-retrain")
