"""The review console in a real browser (headless Debian Chromium) against the console app served by
uvicorn over a temporary SQLite database of 31 logged messages with known doubt, and a temporary data
folder. No trained model and no Rasa server: the console only reads and writes the database and data/.

The tests run in order on one browser session, as a reviewer would work: log in, read the queue, fix a
message (intent, spans drawn and resized with the mouse, attributes), bulk-accept a filtered set,
export, and check the exported YAML with Rasa's own loader. Screenshots go to artifacts/console/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest
from rasa.shared.nlu.training_data.loading import load_data
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select
from sqlalchemy.engine import Engine

from benchmarks.bench_webchat import browser_missing
from console.app import create_app
from console.settings import ConsoleSettings
from learning.db import get_engine, messages
from tests.browser import ServedApp, chrome, log_in, press, save_screenshot, wait_for
from tests.console_seed import PASSWORD, add_message, add_users, seed_queue, span

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=f"headless browser: {browser_missing()}"),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
TIMEOUT = 20.0
# The message the reviewer fixes: the model read the intent wrongly, marked "scarf for" as the product
# and "please" as a feature, and missed the colour and the recipient.
FIX_TEXT = "red wool scarf for my mum please"


class Console:
    """The console app served in a background thread, its database and its data folder."""

    def __init__(self, root: Path) -> None:
        self.settings = ConsoleSettings(
            database_url=f"sqlite:///{root / 'console.db'}",
            data_dir=root / "data",
            heldout_path=root / "heldout_reviewed.yml",
        )
        self.engine: Engine = get_engine(self.settings.database_url)
        add_users(self.engine)
        self.expected = seed_queue(self.engine)
        self.fix_id = add_message(
            self.engine, FIX_TEXT, 0.99, intent="refine_search",
            entities=[span(FIX_TEXT, "scarf for", "product_type", 0.4),
                      span(FIX_TEXT, "please", "feature", 0.3)],
        )
        self.expected.insert(0, {"id": self.fix_id, "text": FIX_TEXT, "doubt": 0.99})
        self.served = ServedApp(create_app(self.settings))
        self.url = self.served.url
        self.server = self.served.server  # test_models_browser reaches the served app through it

    def start(self) -> Console:
        self.served.start(TIMEOUT)
        return self

    def stop(self) -> None:
        self.served.stop()

    def row(self, message_id: int) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(select(messages).where(messages.c.id == message_id)).one()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    served = Console(tmp_path_factory.mktemp("console")).start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    with chrome(1400, 1000) as browser:
        yield browser


def screenshot(driver: WebDriver, name: str) -> None:
    save_screenshot(ARTIFACTS, driver, name)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    return wait_for(driver, condition, what, ARTIFACTS, TIMEOUT)


def word(driver: WebDriver, text: str) -> WebElement:
    found = [w for w in driver.find_elements(By.CSS_SELECTOR, "#words .w") if w.text == text]
    assert found, f"no word {text!r} in the message"
    return found[0]


def drag(driver: WebDriver, source: WebElement, target: WebElement) -> None:
    ActionChains(driver).click_and_hold(source).move_to_element(target).release().perform()


def shown_spans(driver: WebDriver) -> List[Dict[str, str]]:
    """The spans on screen: their words and type label."""
    spans = []
    for node in driver.find_elements(By.CSS_SELECTOR, "#words .ent"):
        words = " ".join(w.text for w in node.find_elements(By.CSS_SELECTOR, ".w"))
        spans.append({"words": words, "type": node.find_element(By.CSS_SELECTOR, ".ent-label").text})
    return spans


def queue_ids(driver: WebDriver) -> List[int]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#queue .qitem")
    return [int(row.get_attribute("data-id")) for row in rows]


def current_id(driver: WebDriver) -> int:
    row = driver.find_element(By.CSS_SELECTOR, '#queue .qitem[aria-current="true"]')
    return int(row.get_attribute("data-id"))


def chip(driver: WebDriver, attribute: str, value: str) -> WebElement:
    selector = f'.attribute[data-attribute="{attribute}"] .chip[data-value="{value}"]'
    return driver.find_element(By.CSS_SELECTOR, selector)


def test_the_console_refuses_access_without_login(console: Console, driver: WebDriver) -> None:
    driver.get(f"{console.url}/review")
    wait(driver, lambda d: "/login" in d.current_url, "the redirect to the login form")
    assert driver.current_url.endswith("/login?next=/review")
    status = driver.execute_script(
        "return fetch('/api/queue').then((r) => r.status);"
    )
    assert status == 401
    assert "Mum" not in driver.page_source and FIX_TEXT not in driver.page_source
    screenshot(driver, "01-login")


def test_log_in_and_see_the_queue_in_doubt_order(console: Console, driver: WebDriver) -> None:
    log_in(driver, "rita", PASSWORD)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready]"), "the review page")
    assert driver.current_url.endswith("/review")
    assert queue_ids(driver) == [row["id"] for row in console.expected]
    doubts = [float(d.text) for d in driver.find_elements(By.CSS_SELECTOR, "#queue .qitem .doubt")]
    assert doubts == sorted(doubts, reverse=True) and doubts[0] == 0.99
    assert driver.find_element(By.ID, "queue-total").text == "31 messages"
    first = driver.find_element(By.CSS_SELECTOR, "#queue .qitem")
    assert first.find_element(By.CSS_SELECTOR, ".badge").text == "auto"
    assert current_id(driver) == console.fix_id
    assert [w.text for w in driver.find_elements(By.CSS_SELECTOR, "#words .w")] == FIX_TEXT.split()
    assert shown_spans(driver) == [{"words": "scarf for", "type": "product_type"},
                                   {"words": "please", "type": "feature"}]
    screenshot(driver, "02-queue")


def test_fix_the_intent_spans_and_attributes_with_mouse_and_keys(console: Console, driver: WebDriver) -> None:
    Select(driver.find_element(By.ID, "intent")).select_by_value("search_product")
    press(driver, "\ue00c")  # Escape leaves the list, so the keys below reach the page

    # draw "red" by dragging over the one word and press 4 (color, the 4th type)
    drag(driver, word(driver, "red"), word(driver, "red"))
    press(driver, "4")
    # draw "my mum" by dragging from "my" to "mum" and pick recipient from the palette
    drag(driver, word(driver, "my"), word(driver, "mum"))
    assert [w.text for w in driver.find_elements(By.CSS_SELECTOR, "#words .w.sel")] == ["my", "mum"]
    driver.find_element(By.CSS_SELECTOR, '#palette button[data-type="recipient"]').click()
    # the product span was too long: drag its right handle back onto "scarf"
    product = driver.find_element(By.CSS_SELECTOR, "#words .ent.t0")
    drag(driver, product.find_element(By.CSS_SELECTOR, ".handle.right"), word(driver, "scarf"))
    # "please" is no feature: remove it with its ×
    feature = [n for n in driver.find_elements(By.CSS_SELECTOR, "#words .ent") if "please" in n.text][0]
    feature.find_element(By.CSS_SELECTOR, ".ent-remove").click()
    assert shown_spans(driver) == [
        {"words": "red", "type": "color"},
        {"words": "scarf", "type": "product_type"},
        {"words": "my mum", "type": "recipient"},
    ]

    chip(driver, "gender", "female").click()
    chip(driver, "age_group", "adult").click()
    press(driver, "f")  # gift: false -> true
    assert chip(driver, "gender", "female").get_attribute("aria-pressed") == "true"
    assert chip(driver, "gift", "true").get_attribute("aria-pressed") == "true"
    assert driver.find_element(By.ID, "save").text.startswith("Save correction")
    screenshot(driver, "03-corrected")

    press(driver, "\ue007")  # Enter saves the correction and moves on
    wait(driver, lambda d: current_id(d) == console.expected[1]["id"], "the next message")
    row = console.row(console.fix_id)
    assert row.state == "corrected" and row.reviewed_by == "rita"
    assert row.label["intent"] == "search_product"
    assert [(e["value"], e["entity"]) for e in row.label["entities"]] == [
        ("red", "color"), ("scarf", "product_type"), ("my mum", "recipient")
    ]
    assert row.label["attributes"] == {"gender": "female", "age_group": "adult", "gift": True}
    # with the unreviewed filter the corrected message has left the queue
    assert console.fix_id not in queue_ids(driver)


def test_skip_and_undo_by_keyboard(console: Console, driver: WebDriver) -> None:
    skipped = current_id(driver)
    press(driver, "s")
    wait(driver, lambda d: current_id(d) != skipped, "the message after the skipped one")
    assert console.row(skipped).state == "skipped"
    press(driver, "u")
    wait(driver, lambda d: current_id(d) == skipped, "the undone message to come back")
    assert console.row(skipped).state == "auto"


def test_the_help_overlay_lists_the_keys(driver: WebDriver) -> None:
    press(driver, "?")
    help_box = driver.find_element(By.ID, "help")
    assert help_box.is_displayed()
    assert "Ctrl" in help_box.text and "gender / age group / gift" in help_box.text
    screenshot(driver, "04-help")
    press(driver, "\ue00c")
    assert not help_box.is_displayed()


def test_bulk_accept_a_filtered_set(console: Console, driver: WebDriver) -> None:
    voice = [row["id"] for row in console.expected if console.row(row["id"]).channel == "voice"]
    channel = driver.find_element(By.NAME, "channel")
    channel.send_keys("voice")
    driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    total = f"{len(voice)} messages"
    wait(driver, lambda d: d.find_element(By.ID, "queue-total").text == total, "the filter")
    assert sorted(queue_ids(driver)) == sorted(voice)
    bulk = driver.find_element(By.ID, "bulk-accept")
    assert bulk.text == f"Bulk accept all {len(voice)} shown by this filter"
    bulk.click()
    alert = WebDriverWait(driver, TIMEOUT).until(expected_conditions.alert_is_present())
    assert f"all {len(voice)} unreviewed" in alert.text
    alert.accept()
    wait(driver, lambda d: d.find_element(By.ID, "status").text == f"Accepted {len(voice)} message(s).",
         "the bulk accept")
    assert {console.row(i).state for i in voice} == {"accepted"}
    others = [row["id"] for row in console.expected if row["id"] not in voice and row["id"] != console.fix_id]
    assert {console.row(i).state for i in others} == {"auto"}
    assert driver.find_element(By.ID, "empty").is_displayed()
    screenshot(driver, "05-bulk-accepted")


def test_export_writes_the_corrections_as_rasa_nlu_yaml(console: Console, driver: WebDriver) -> None:
    driver.find_element(By.ID, "export").click()
    result = wait(driver, lambda d: d.find_element(By.ID, "export-result").is_displayed()
                  and d.find_element(By.ID, "export-result"), "the export result")
    train_file = console.settings.data_dir / "nlu" / "reviewed" / "console.yml"
    assert str(train_file) in result.text
    screenshot(driver, "06-exported")

    examples = {}
    for path in (train_file, console.settings.heldout_path):
        for example in load_data(str(path)).intent_examples:
            examples[example.get("text")] = example
    assert len(examples) == 11  # the correction and the 10 bulk-accepted voice messages
    fixed = examples[FIX_TEXT]
    assert fixed.get("intent") == "search_product"
    assert [(e["start"], e["end"], e["entity"], e["value"]) for e in fixed.get("entities")] == [
        (0, 3, "color", "red"), (9, 14, "product_type", "scarf"), (19, 25, "recipient", "my mum")
    ]
    attributes = fixed.get("metadata")["example"]["attributes"]
    assert attributes == {"gender": "female", "age_group": "adult", "gift": True}
