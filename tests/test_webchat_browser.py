"""The shopper's web chat in a real browser (headless Debian Chromium) against the running bot.

Written against the documented contracts (docs/architecture.md): a product request is answered with a
`product_cards` custom payload, quick replies are Rasa buttons, "compare the first two" is answered
with a `comparison` payload. Each step saves a screenshot under artifacts/webchat/.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from benchmarks.bench_webchat import browser_missing, headless_chrome

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=f"headless browser: {browser_missing()}"),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "webchat"
PHONE = (360, 740)
DESKTOP = (1280, 800)
ANSWER_TIMEOUT = 60.0
PRODUCT_REQUEST = "running shoes for men"
COMPARE_REQUEST = "compare the first two"


@pytest.fixture(scope="module")
def phone() -> Iterator[WebDriver]:
    browser = headless_chrome(*PHONE)
    try:
        yield browser.driver
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def desktop() -> Iterator[WebDriver]:
    browser = headless_chrome(*DESKTOP)
    try:
        yield browser.driver
    finally:
        browser.quit()


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def wait(
    driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout: float = ANSWER_TIMEOUT
) -> Any:
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        name = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")
        screenshot(driver, f"failed-{name}")
        raise AssertionError(
            f"timed out waiting for {what}; page text:\n{conversation_text(driver)}"
        ) from None


def conversation_text(driver: WebDriver) -> str:
    logs = driver.find_elements(By.CSS_SELECTOR, ".shopcue-log")
    return logs[0].text if logs else driver.find_element(By.TAG_NAME, "body").text


def open_fresh_chat(driver: WebDriver, url: str) -> None:
    """The chat page as a first-time visitor sees it (no session remembered)."""
    driver.get(url)
    driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    driver.get(url)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue[data-ready]"), "the widget to load")


def bot_messages(driver: WebDriver) -> List[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, ".shopcue-log .shopcue-msg--bot")


def user_texts(driver: WebDriver) -> List[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".shopcue-msg--user .shopcue-text")]


def typing_visible(driver: WebDriver) -> bool:
    return driver.find_element(By.CSS_SELECTOR, ".shopcue-typing").is_displayed()


def watch_typing_indicator(driver: WebDriver) -> None:
    """Count how often the typing indicator becomes visible (answers can come faster than a poll)."""
    driver.execute_script(
        """
        const typing = document.querySelector('.shopcue-typing');
        window.__typingShown = 0;
        new MutationObserver(() => { if (!typing.hidden) window.__typingShown += 1; })
          .observe(typing, {attributes: true, attributeFilter: ['hidden']});
        """
    )


def send_and_wait(driver: WebDriver, text: str, what: str) -> List[WebElement]:
    """Type a message, press Enter, wait for the bot's answer; the answer's message elements."""
    before = len(bot_messages(driver))
    box = driver.find_element(By.ID, "shopcue-input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    return wait_for_answer(driver, before, what)


def wait_for_answer(driver: WebDriver, before: int, what: str) -> List[WebElement]:
    wait(driver, lambda d: len(bot_messages(d)) > before and not typing_visible(d), what)
    return bot_messages(driver)[before:]


def in_answer(answer: List[WebElement], selector: str) -> List[WebElement]:
    return [found for message in answer for found in message.find_elements(By.CSS_SELECTOR, selector)]


def active_element_id(driver: WebDriver) -> str:
    return driver.switch_to.active_element.get_attribute("id") or ""


def assert_fits_width(driver: WebDriver) -> None:
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {PHONE[0]}px width"


CONTRAST_JS = """
function rgb(color) {
  const m = color.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const parts = m[1].split(',').map(Number);
  return {r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1};
}
function background(element) {
  for (let node = element; node; node = node.parentElement) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c && c.a > 0.5) return c;
  }
  return {r: 255, g: 255, b: 255, a: 1};
}
function luminance(c) {
  const ch = [c.r, c.g, c.b].map(v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
}
return arguments[0].map(selector => {
  const element = document.querySelector(selector);
  if (!element) return [selector, null];
  const fg = luminance(rgb(getComputedStyle(element).color));
  const bg = luminance(background(element));
  return [selector, (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)];
});
"""


def assert_contrast(driver: WebDriver, selectors: List[str], minimum: float = 4.5) -> None:
    """WCAG AA: normal text needs a contrast ratio of at least 4.5:1 against its background."""
    ratios = dict(driver.execute_script(CONTRAST_JS, selectors))
    missing = [selector for selector, ratio in ratios.items() if ratio is None]
    assert not missing, f"not on the page: {missing}"
    low = {selector: round(ratio, 2) for selector, ratio in ratios.items() if ratio < minimum}
    assert not low, f"contrast below {minimum}:1: {low}"


def test_shopper_finds_compares_and_comes_back_after_a_reload(bot: Any, phone: WebDriver) -> None:
    url = f"{bot.rasa_url}/webhooks/webchat/"
    driver = phone

    # 1. The page opens at phone width with a labelled input and a live conversation region.
    open_fresh_chat(driver, url)
    log = driver.find_element(By.CSS_SELECTOR, ".shopcue-log")
    assert log.get_attribute("aria-live") == "polite"
    assert driver.find_element(By.CSS_SELECTOR, "label[for=shopcue-input]").get_attribute("textContent")
    assert bot_messages(driver), "no welcome message"
    assert_fits_width(driver)
    screenshot(driver, "01-open")
    session = driver.execute_script("return localStorage.getItem('shopcue.session')")
    assert session, "the widget did not keep the session the server issued"

    # 2. Ask for a product (keyboard only): typing indicator, then product cards.
    watch_typing_indicator(driver)
    answer = send_and_wait(driver, PRODUCT_REQUEST, "an answer to the product request")
    assert user_texts(driver)[-1] == PRODUCT_REQUEST
    assert driver.execute_script("return window.__typingShown") >= 1, "no typing indicator while waiting"
    cards = in_answer(answer, ".shopcue-card")
    assert cards, f"step 2 (product request): no product cards; the bot said:\n{conversation_text(driver)}"
    for card in cards:
        title = card.find_element(By.CSS_SELECTOR, ".shopcue-card-title").text
        price = card.find_element(By.CSS_SELECTOR, ".shopcue-card-price").text
        stock = card.find_element(By.CSS_SELECTOR, ".shopcue-stock").text
        assert title.strip() and re.search(r"\d", price) and stock.strip(), (title, price, stock)
        image = card.find_element(By.CSS_SELECTOR, "img")
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
        assert card.rect["x"] + card.rect["width"] <= PHONE[0], "a product card is wider than the phone"
    # The plain-text fallback's numbered list is not repeated above the cards.
    lines = [line for p in in_answer(answer, ".shopcue-text") for line in p.text.splitlines()]
    assert not [line for line in lines if re.match(r"\s*\d+[.)]\s", line)], lines
    assert active_element_id(driver) == "shopcue-input", "focus did not stay in the input after sending"
    assert_fits_width(driver)
    screenshot(driver, "02-product-cards")

    # 3. Quick replies: readable, and clicking one sends it and shows its title as the shopper's message.
    replies = driver.find_elements(By.CSS_SELECTOR, ".shopcue-log .shopcue-replies .shopcue-reply")
    assert replies, (
        f"step 3 (quick reply): the search answer has no quick-reply buttons:\n{conversation_text(driver)}"
    )
    assert_contrast(
        driver,
        [
            ".shopcue-msg--user .shopcue-text",
            ".shopcue-msg--bot .shopcue-text",
            ".shopcue-card-title",
            ".shopcue-card-price",
            ".shopcue-stock",
            ".shopcue-reply",
            ".shopcue-send",
            ".shopcue-title",
            ".shopcue-subtitle",
        ],
    )
    choice = replies[0].text
    before = len(bot_messages(driver))
    replies[0].click()
    wait_for_answer(driver, before, "an answer to the quick reply")
    assert user_texts(driver)[-1] == choice
    assert active_element_id(driver) == "shopcue-input", (
        "focus did not return to the input after a quick reply"
    )
    screenshot(driver, "03-quick-reply")

    # 4. Compare two results: a comparison table with both products as columns.
    answer = send_and_wait(driver, COMPARE_REQUEST, "an answer to the compare request")
    tables = in_answer(answer, "table.shopcue-table")
    assert tables, f"step 4 (compare): no comparison table; the bot said:\n{conversation_text(driver)}"
    headers = [th.text for th in tables[0].find_elements(By.CSS_SELECTOR, "thead th")][1:]
    assert len(headers) >= 2 and all(h.strip() for h in headers), headers
    assert tables[0].find_elements(By.CSS_SELECTOR, "tbody tr"), "the comparison table has no rows"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tables[0])
    assert_fits_width(driver)
    screenshot(driver, "04-comparison")

    # 5. Reload: the same shopper, the conversation is shown again and carries on where it was.
    shown_before = user_texts(driver)
    driver.refresh()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue[data-ready]"), "the reloaded widget")
    assert driver.execute_script("return localStorage.getItem('shopcue.session')") == session
    assert user_texts(driver) == shown_before, "the reloaded page does not show the same conversation"
    assert driver.find_elements(By.CSS_SELECTOR, ".shopcue-card"), "product cards are missing after reload"
    assert driver.find_elements(By.CSS_SELECTOR, "table.shopcue-table"), "the table is missing after reload"
    screenshot(driver, "05-reloaded")
    tables_before = len(driver.find_elements(By.CSS_SELECTOR, "table.shopcue-table"))
    # "the first two" only means something to a bot that still has this shopper's results.
    answer = send_and_wait(driver, COMPARE_REQUEST, "an answer after the reload")
    assert in_answer(answer, "table.shopcue-table"), (
        f"step 5 (after reload): the bot lost the conversation; it said:\n{conversation_text(driver)}"
    )
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.shopcue-table")) == tables_before + 1
    screenshot(driver, "06-continued-after-reload")


def test_an_empty_message_is_not_sent(bot: Any, phone: WebDriver) -> None:
    open_fresh_chat(phone, f"{bot.rasa_url}/webhooks/webchat/")
    before = len(phone.find_elements(By.CSS_SELECTOR, ".shopcue-msg"))
    box = phone.find_element(By.ID, "shopcue-input")
    box.send_keys("   ")
    box.send_keys(Keys.ENTER)
    hint = phone.find_element(By.ID, "shopcue-hint")
    assert "type a message" in hint.text
    assert box.get_attribute("aria-invalid") == "true"
    assert len(phone.find_elements(By.CSS_SELECTOR, ".shopcue-msg")) == before
    assert active_element_id(phone) == "shopcue-input"
    screenshot(phone, "07-empty-message")
    box.send_keys("hello")
    assert hint.text == "", "the hint should go away once the shopper types"


def test_a_stale_or_forged_session_is_replaced_and_the_chat_carries_on(bot: Any, phone: WebDriver) -> None:
    """An expired session, or one the server never signed (another secret, or forged), gets 401: the
    widget asks for a new session and the shopper starts a new conversation without seeing an error."""
    url = f"{bot.rasa_url}/webhooks/webchat/"
    open_fresh_chat(phone, url)
    forged = "AAAAAAAAAAAAAAAAAAAAAA.1000000000." + "A" * 43
    phone.execute_script("localStorage.setItem('shopcue.session', arguments[0])", forged)
    phone.get(url)
    wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue[data-ready]"), "the widget to load")
    assert phone.find_elements(By.CSS_SELECTOR, ".shopcue-msg--welcome"), conversation_text(phone)
    answer = send_and_wait(phone, "hello", "an answer with a replaced session")
    assert any(message.text.strip() for message in answer)
    assert not phone.find_elements(By.CSS_SELECTOR, ".shopcue-msg--error"), conversation_text(phone)
    session = phone.execute_script("return localStorage.getItem('shopcue.session')")
    assert session and session != forged


def test_a_failed_request_shows_a_friendly_message(bot: Any, phone: WebDriver) -> None:
    open_fresh_chat(phone, f"{bot.rasa_url}/webhooks/webchat/")
    phone.execute_cdp_cmd("Network.enable", {})
    phone.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    try:
        before = len(bot_messages(phone))
        box = phone.find_element(By.ID, "shopcue-input")
        box.send_keys("hello")
        box.send_keys(Keys.ENTER)
        wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue-msg--error"), "the error message")
        error = phone.find_element(By.CSS_SELECTOR, ".shopcue-msg--error").text
        assert "Sorry" in error and "try again" in error
        assert not typing_visible(phone), "the typing indicator kept spinning after the failure"
        assert len(bot_messages(phone)) == before + 1
        screenshot(phone, "08-request-failed")
    finally:
        phone.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        pass


@pytest.fixture
def shop_page(bot: Any, tmp_path: Path) -> Iterator[str]:
    """A shop's own page on another origin that embeds the widget with one script tag."""
    (tmp_path / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Some shop</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
        "<h1>Some shop</h1><p><a href='#deals'>Today's deals</a></p>"
        f"<script src='{bot.rasa_url}/webhooks/webchat/shopcue-widget.js' "
        f"data-shopcue-url='{bot.rasa_url}'></script></body></html>"
    )
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_a_shop_embeds_the_widget_with_one_script_tag(shop_page: str, desktop: WebDriver) -> None:
    driver = desktop
    open_fresh_chat(driver, shop_page)
    launcher = driver.find_element(By.CSS_SELECTOR, ".shopcue-launcher")
    panel = driver.find_element(By.ID, "shopcue-panel")
    assert launcher.is_displayed() and not panel.is_displayed()
    assert launcher.get_attribute("aria-expanded") == "false"
    screenshot(driver, "09-embedded-closed")

    # Keyboard only: Tab to the launcher, Enter opens the chat with the input focused.
    for _ in range(5):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if "shopcue-launcher" in (driver.switch_to.active_element.get_attribute("class") or ""):
            break
    assert "shopcue-launcher" in driver.switch_to.active_element.get_attribute("class"), (
        "launcher not tabbable"
    )
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    assert panel.is_displayed() and launcher.get_attribute("aria-expanded") == "true"
    assert active_element_id(driver) == "shopcue-input"

    # A message from the shop's origin reaches the bot (cross-origin) and is answered.
    answer = send_and_wait(driver, "hi", "an answer inside the embedded widget")
    assert not driver.find_elements(By.CSS_SELECTOR, ".shopcue-msg--error"), conversation_text(driver)
    assert any(message.text.strip() for message in answer)
    screenshot(driver, "10-embedded-open")

    # Escape closes it and gives focus back to the launcher.
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not panel.is_displayed()
    assert "shopcue-launcher" in driver.switch_to.active_element.get_attribute("class")
