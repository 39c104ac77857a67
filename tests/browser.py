"""What the headless-Chromium tests share: a browser for a block, screenshots, waits that fail with a
screenshot and the page's text (so a red browser test says what the page showed), an app served by uvicorn
in a background thread, the console's login form and keys typed into the page."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import uvicorn
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from benchmarks.bench_webchat import headless_chrome
from bot.launcher import free_port


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


class ServedApp:
    """An ASGI app served by uvicorn on a free local port in a daemon thread: `start`, then `url`, `stop`."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def log_in(driver: WebDriver, username: str, password: str) -> None:
    """Fill in and send the console's login form (the page must show it)."""
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()


def press(driver: WebDriver, keys: str) -> None:
    """Type keys into whatever has the focus, as a person at the keyboard would."""
    ActionChains(driver).send_keys(keys).perform()
