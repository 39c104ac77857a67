"""Web chat latency as a shopper feels it: from pressing send to the first product card on screen.

Drives the real page (GET /webhooks/webchat/) in headless Debian Chromium against a running bot, sends
product requests one at a time, and times each in the browser itself: the clock starts in the form's
submit event (capture phase, before the widget sends) and stops in a MutationObserver callback when
the answer's first product card is added to the page. Selenium's polling is not part of the figure.

    python benchmarks/bench_webchat.py http://localhost:5005 [--messages 20] [--query "..."]

`headless_chrome()` is also what tests/test_webchat_browser.py uses to start the browser.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from common.stats import percentile  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Product requests the benchmark cycles through; each should be answered with product cards.
DEFAULT_QUERIES = (
    "running shoes for men",
    "headphones under 100",
    "i need a blue t-shirt for my daughter",
    "a bluetooth speaker",
    "yoga mat",
)


def browser_missing() -> Optional[str]:
    """Why the headless browser cannot start here, or None when Chromium and its driver are installed."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        return f"{' and '.join(missing)} not installed (run scripts/install-system-deps.sh)"
    return None


class HeadlessChrome:
    """A headless Debian Chromium with a throw-away profile, removed again by `quit()`."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="shopcue-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
        ):
            options.add_argument(argument)
        # An explicit driver path: selenium-manager never runs, so nothing is downloaded.
        try:
            self.driver: WebDriver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        except BaseException:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        if width < 500:
            # Headless windows are at least 500px wide; a phone-sized viewport needs device emulation.
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
            )

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def headless_chrome(width: int = 1280, height: int = 900) -> HeadlessChrome:
    """Start the browser; the caller must `quit()` it (also on failure)."""
    return HeadlessChrome(width=width, height=height)


# Installed once per page load: records when send is pressed and when the next product card appears.
TIMER_JS = """
const form = document.querySelector('.shopcue-form');
const log = document.querySelector('.shopcue-log');
window.__shopcueBench = {start: null, end: null};
form.addEventListener('submit', () => {
  window.__shopcueBench.start = performance.now();
  window.__shopcueBench.end = null;
}, true);
new MutationObserver((records) => {
  const bench = window.__shopcueBench;
  if (bench.start === null || bench.end !== null) return;
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (node.nodeType === 1 && (node.matches('.shopcue-card') || node.querySelector('.shopcue-card'))) {
        bench.end = performance.now();
        return;
      }
    }
  }
}).observe(log, {childList: true, subtree: true});
"""


def open_chat(driver: WebDriver, bot_url: str, timeout: float = 30.0) -> None:
    """Load the chat page and wait until the widget is ready for input."""
    driver.get(f"{bot_url.rstrip('/')}/webhooks/webchat/")
    # The widget marks itself ready once the earlier conversation (or the welcome) is on screen.
    WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue[data-ready]"))


# The browser's own timing of the latest webhook request (request sent to last byte received).
FETCH_JS = """
const entries = performance.getEntriesByType('resource')
  .filter((e) => e.name.endsWith('/webhooks/webchat/webhook'));
performance.clearResourceTimings();
return entries.length ? entries[entries.length - 1].duration : null;
"""


def time_to_first_card(driver: WebDriver, query: str, timeout: float) -> Tuple[float, float]:
    """Seconds from pressing send (Enter) to the first product card, and of that the HTTP round trip."""
    box = driver.find_element(By.ID, "shopcue-input")
    box.send_keys(query)
    box.send_keys(Keys.ENTER)
    done = WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return window.__shopcueBench.end !== null ? window.__shopcueBench : null")
    )
    # Let the widget finish this turn before the next message starts the clock again.
    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(By.CSS_SELECTOR, ".shopcue-typing").get_attribute("hidden") is not None
    )
    fetch_ms = driver.execute_script(FETCH_JS)
    total = (float(done["end"]) - float(done["start"])) / 1000.0
    return total, (float(fetch_ms) / 1000.0 if fetch_ms is not None else float("nan"))


def cycle(queries: Sequence[str], count: int) -> Iterator[str]:
    for index in range(count):
        yield queries[index % len(queries)]


def run(bot_url: str, messages: int, queries: Sequence[str], timeout: float) -> List[Tuple[float, float]]:
    problem = browser_missing()
    if problem:
        raise SystemExit(f"bench_webchat: {problem}")
    browser = headless_chrome()
    try:
        driver = browser.driver
        # A fresh shopper, so earlier conversations in this browser profile do not bleed in.
        open_chat(driver, bot_url)
        driver.execute_script("localStorage.clear();")
        open_chat(driver, bot_url)
        driver.execute_script(TIMER_JS)
        timings = []
        for index, query in enumerate(cycle(queries, messages), start=1):
            try:
                seconds, round_trip = time_to_first_card(driver, query, timeout)
            except Exception as error:  # a timeout here means no product card came back
                message = f"bench_webchat: message {index} ({query!r}) got no product card: {error}"
                raise SystemExit(message) from error
            timings.append((seconds, round_trip))
            print(
                f"  {index:2d}. {seconds * 1000:7.0f} ms (HTTP {round_trip * 1000:5.0f} ms)  {query}",
                flush=True,
            )
        return timings
    finally:
        browser.quit()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bot_url", help="the running bot, e.g. http://localhost:5005")
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--query", action="append", help="product request to send (repeatable)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer")
    args = parser.parse_args(argv)
    queries = args.query or list(DEFAULT_QUERIES)
    started = time.monotonic()
    results = run(args.bot_url, args.messages, queries, args.timeout)
    totals = [total for total, _ in results]
    round_trips = [trip for _, trip in results if trip == trip]  # drop NaN (no timing entry)
    print(
        f"send -> first product card over {len(totals)} messages: "
        f"median {statistics.median(totals) * 1000:.0f} ms, p90 {percentile(totals, 90) * 1000:.0f} ms, "
        f"min {min(totals) * 1000:.0f} ms, max {max(totals) * 1000:.0f} ms "
        f"(wall {time.monotonic() - started:.0f} s)"
    )
    if round_trips:
        print(
            f"of which the webhook HTTP round trip (bot: NLU + policies + actions): "
            f"median {statistics.median(round_trips) * 1000:.0f} ms, "
            f"p90 {percentile(round_trips, 90) * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
