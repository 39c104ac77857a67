"""The product mode in a real browser (headless Chromium), against the running bot's own catalog: a
reviewer fixes a product the model tagged wrongly, with clicks and keys, and the bot's next search finds
it because of the fix.

The session's `bot` fixture serves the Rasa server and the action server over a session catalog file
(SHOPCUE_CATALOG_DB). Enrichment facts are seeded there for three men's scarves; one of them, Northwind's
men's silk scarf, is stored as a women's product (the model read "female" at 0.42). A search for "scarf
for men" (the gender filters) leaves it out; after the reviewer sets its gender to male in the console
(served in this process over the same catalog file), the same search through the REST webhook has it.
Everything seeded is put back afterwards, so the session's other tests see the demo catalog.
Screenshots go to artifacts/console/.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import delete, select

from actions.catalog.db import ensure_catalog, session_for
from actions.catalog.models import AttributeFact, Product
from benchmarks.bench_webchat import browser_missing
from bot.launcher import BotProcesses
from console.app import create_app
from console.routers.products import catalog_engine
from console.settings import ConsoleSettings
from enrichment.review import product_review_events
from learning.db import get_engine as learning_engine
from tests.browser import ServedApp, chrome, log_in, press, save_screenshot, wait_for
from tests.console_seed import PASSWORD, add_users

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=f"headless browser: {browser_missing()}"),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
TIMEOUT = 30.0
SEARCH = "scarf for men"
WRONG = "P00612"  # Northwind Men's Silk Scarf - Red, stored as female
# (product, attribute, value the model read, its confidence); the first is wrong, the others right.
FACTS = [
    (WRONG, "gender", "female", 0.42),
    ("P00600", "gender", "male", 0.71),
    ("P00617", "gender", "male", 0.93),
]


class ProductConsole:
    """The console app in a background thread over the bot's catalog and a learning database of its own."""

    def __init__(self, root: Path, catalog_url: str) -> None:
        self.settings = ConsoleSettings(database_url=f"sqlite:///{root / 'console.db'}",
                                        data_dir=root / "data", heldout_path=root / "heldout_reviewed.yml")
        add_users(learning_engine(self.settings.database_url))
        self.catalog = ensure_catalog(catalog_url)
        app = create_app(self.settings)
        app.dependency_overrides[catalog_engine] = lambda: self.catalog
        self.served = ServedApp(app)
        self.url = self.served.url

    def start(self) -> ProductConsole:
        self.served.start(TIMEOUT)
        return self

    def stop(self) -> None:
        self.served.stop()

    def product(self, product_id: str) -> Product:
        with session_for(self.catalog) as session:
            return session.get(Product, product_id)

    def fact(self, product_id: str, attribute: str) -> AttributeFact:
        with session_for(self.catalog) as session:
            return session.get(AttributeFact, (product_id, attribute))


@pytest.fixture(scope="module")
def console(bot: BotProcesses, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductConsole]:
    served = ProductConsole(tmp_path_factory.mktemp("products"), f"sqlite:///{bot.env['SHOPCUE_CATALOG_DB']}")
    originals = {}
    with session_for(served.catalog) as session, session.begin():
        for product_id, attribute, value, confidence in FACTS:
            product = session.get(Product, product_id)
            originals[product_id] = getattr(product, attribute)
            setattr(product, attribute, value)  # the value in use is mirrored on the column search reads
            session.add(AttributeFact(product_id=product_id, attribute=attribute, value=value,
                                      source="inferred", confidence=confidence))
    served.start()
    try:
        yield served
    finally:
        served.stop()
        with session_for(served.catalog) as session, session.begin():
            ids = [product_id for product_id, *_ in FACTS]
            session.execute(delete(AttributeFact).where(AttributeFact.product_id.in_(ids)))
            session.execute(delete(product_review_events))
            for product_id, original in originals.items():
                session.get(Product, product_id).gender = original


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    with chrome(1400, 1000) as browser:
        yield browser


def screenshot(driver: WebDriver, name: str) -> None:
    save_screenshot(ARTIFACTS, driver, name)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    return wait_for(driver, condition, what, ARTIFACTS, TIMEOUT)


# Read in one script, so a re-render between two WebDriver calls cannot leave a stale element.
def data_of(driver: WebDriver, selector: str, key: str) -> List[str]:
    script = "return [...document.querySelectorAll(arguments[0])].map((node) => node.dataset[arguments[1]]);"
    return driver.execute_script(script, selector, key)


def queue_ids(driver: WebDriver) -> List[str]:
    return data_of(driver, "#queue .qitem", "id")


def current_id(driver: WebDriver) -> str:
    (found,) = data_of(driver, '#queue .qitem[aria-current="true"]', "id")
    return found


def shown_gender(driver: WebDriver) -> str:
    """The gender chip shown pressed for the current product ("" while none is)."""
    pressed = data_of(driver, '#facts tr[data-attribute="gender"] .chip[aria-pressed="true"]', "value")
    return pressed[0] if pressed else ""


def gender_chip(driver: WebDriver, value: str) -> Any:
    selector = f'#facts tr[data-attribute="gender"] .chip[data-value="{value}"]'
    return driver.find_element(By.CSS_SELECTOR, selector)


def search(bot: BotProcesses, sender: str) -> List[str]:
    """Send SEARCH over the REST webhook; every product id of the search's result (the ranked ids the
    search action keeps for "show more"), best first."""
    replies = bot.send(sender, SEARCH)
    assert replies, "the bot did not answer"
    tracker = bot.api("GET", f"/conversations/{urllib.parse.quote(sender)}/tracker")
    return list(tracker["slots"].get("ranked_ids") or [])


def test_the_search_misses_the_wrongly_tagged_product(bot: BotProcesses, console: ProductConsole) -> None:
    found = search(bot, "product-review-before")
    assert found, f"'{SEARCH}' found nothing"
    assert WRONG not in found
    genders = {console.product(product_id).gender for product_id in found}
    assert genders <= {"male", "unisex"}, genders  # the men's filter is on, so the tag decides


def test_the_product_page_needs_a_login(console: ProductConsole, driver: WebDriver) -> None:
    driver.get(f"{console.url}/products")
    wait(driver, lambda d: "/login" in d.current_url, "the redirect to the login form")
    assert driver.execute_script("return fetch('/api/products/queue').then((r) => r.status);") == 401
    assert "Northwind" not in driver.page_source


def test_log_in_and_see_the_products_by_doubt(console: ProductConsole, driver: WebDriver) -> None:
    log_in(driver, "rita", PASSWORD)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "body[data-ready]"), "the product page")
    assert driver.current_url.endswith("/products")
    assert queue_ids(driver) == [WRONG, "P00600", "P00617"]
    assert current_id(driver) == WRONG
    assert driver.find_element(By.ID, "p-title").text == console.product(WRONG).title
    row = driver.find_element(By.CSS_SELECTOR, '#facts tr[data-attribute="gender"]')
    assert row.find_element(By.CSS_SELECTOR, ".badge").text == "inferred"
    assert row.find_element(By.CSS_SELECTOR, ".conf").text == "0.42"
    assert shown_gender(driver) == "female"
    assert "Keyboard" in driver.find_element(By.CSS_SELECTOR, ".keys").text
    screenshot(driver, "products-01-queue")


def test_fix_the_gender_with_a_click_undo_it_and_fix_it_by_key(console: ProductConsole,
                                                               driver: WebDriver) -> None:
    gender_chip(driver, "male").click()
    wait(driver, lambda d: shown_gender(d) == "male", "the fix")
    assert console.product(WRONG).gender == "male"
    fact = console.fact(WRONG, "gender")
    assert (fact.value, fact.source, fact.review_state, fact.reviewed_by) == ("male", "reviewed", "corrected",
                                                                             "rita")
    assert "model read “female” (0.42)" in driver.find_element(
        By.CSS_SELECTOR, '#facts tr[data-attribute="gender"] .model-read').text
    screenshot(driver, "products-02-fixed")

    press(driver, "u")
    wait(driver, lambda d: shown_gender(d) == "female", "the undo")
    assert console.product(WRONG).gender == "female" and console.fact(WRONG, "gender").review_state == "auto"

    press(driver, "g")  # the next gender after female
    wait(driver, lambda d: shown_gender(d) == "male", "the fix by key")
    assert console.product(WRONG).gender == "male"
    press(driver, "\ue007")  # Enter: accept the rest and move on
    wait(driver, lambda d: WRONG not in queue_ids(d), "the reviewed product to leave the queue")
    assert current_id(driver) == "P00600"
    assert console.fact(WRONG, "gender").review_state == "corrected"


def test_the_bot_finds_the_product_because_of_the_fix(bot: BotProcesses, console: ProductConsole) -> None:
    found = search(bot, "product-review-after")
    assert WRONG in found
    with session_for(console.catalog) as session:
        men = session.execute(
            select(Product.id).where(Product.product_type == "scarf", Product.gender.in_(["male", "unisex"]))
        ).scalars().all()
    assert sorted(found) == sorted(men)
