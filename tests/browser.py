"""What the headless-Chromium tests share: a browser for a block, screenshots, and waits that fail with a
screenshot and the page's text (so a red browser test says what the page showed)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from benchmarks.bench_webchat import headless_chrome


@contextlib.contextmanager
def chrome(width: int, height: int) -> Iterator[WebDriver]:
    """A headless Chromium window of this size, quit after the block even on errors."""
    browser = headless_chrome(width, height)
    try:
        yield browser.driver
    finally:
        browser.quit()


def save_screenshot(folder: Path, driver: WebDriver, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(folder / f"{name}.png"))


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, folder: Path,
             timeout: float) -> Any:
    """`condition`'s first truthy value; on timeout a `failed-<what>` screenshot and the page text."""
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        save_screenshot(folder, driver, "failed-" + re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-"))
        body = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"timed out waiting for {what}; page text:\n{body}") from None
