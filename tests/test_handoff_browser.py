"""The handoff to a person in two real browsers (headless Debian Chromium): a shopper's web chat on the
running bot and an agent's console, over one project database.

The shopper asks for a person, the agent claims the conversation in the console, each sees the other's
messages (the bot stays silent meanwhile), the agent hands back and the bot answers the shopper's next
message. The opening hours are "always", so the test never runs outside them. Screenshots go to
artifacts/handoff/.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from benchmarks.bench_webchat import browser_missing
from bot.launcher import BotProcesses
from console.users import add_user
from learning.db import get_engine
from tests.browser import chrome, save_screenshot, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=f"headless browser: {browser_missing()}"),
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "handoff"
TIMEOUT = 60.0
AGENT, PASSWORD = "aggie", "correct horse battery"
AGENT_GREETING = "Hi, I'm Aggie from the shop. Which size do you need?"
SHOPPER_ANSWER = "size 9 please, and in blue"
AGENT_FOLLOW_UP = "Great, the blue ones come in size 9. I'll hand you back to Shopcue now."


@pytest.fixture(scope="module")
def shop(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcesses]:
    """The bot, the action server and the console over one fresh database, open round the clock."""
    work = tmp_path_factory.mktemp("handoff")
    processes = BotProcesses(
        model=trained_model,
        log_dir=work / "logs",
        env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db"), "SHOPCUE_HANDOFF_HOURS": "always"},
        database_url=f"sqlite:///{work / 'shop.db'}",
        console=True,
    )
    add_user(get_engine(processes.database_url), AGENT, PASSWORD, "agent")
    processes.start()
    try:
        yield processes
    finally:
        processes.stop()


@pytest.fixture(scope="module")
def shopper() -> Iterator[WebDriver]:
    with chrome(400, 800) as browser:
        yield browser


@pytest.fixture(scope="module")
def agent() -> Iterator[WebDriver]:
    with chrome(1400, 900) as browser:
        yield browser


def screenshot(driver: WebDriver, name: str) -> None:
    save_screenshot(ARTIFACTS, driver, name)


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str) -> Any:
    return wait_for(driver, condition, what, ARTIFACTS, TIMEOUT)


def chat_texts(driver: WebDriver, selector: str) -> List[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f".shopcue-log {selector}")]


def send(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "shopcue-input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def handoff_state(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, ".shopcue").get_attribute("data-handoff") or ""


def status_line(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, ".shopcue-handoff-status").text


def agent_reply(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "reply-text")
    box.send_keys(text)
    driver.find_element(By.ID, "send-reply").click()
    wait(driver, lambda d: any(text in t.text for t in d.find_elements(By.CSS_SELECTOR, "#turns .turn--agent")
                               ), "the agent's message in the console transcript")


def test_a_shopper_and_an_agent_talk_and_the_bot_takes_over_again(
    shop: BotProcesses, shopper: WebDriver, agent: WebDriver
) -> None:
    # 1. The shopper asks for a person and is told truthfully what happens.
    chat_url = f"{shop.rasa_url}/webhooks/webchat/"
    shopper.get(chat_url)
    shopper.execute_script("localStorage.clear(); sessionStorage.clear();")
    shopper.get(chat_url)
    wait(shopper, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue[data-ready]"), "the widget to load")
    send(shopper, "talk to a person")
    wait(shopper, lambda d: any("asked a colleague" in t for t in chat_texts(d, ".shopcue-msg--bot")),
         "the bot's handoff answer")
    wait(shopper, lambda d: handoff_state(d) == "waiting", "the widget to poll a waiting handoff")
    assert "Waiting for a colleague" in status_line(shopper)
    screenshot(shopper, "01-shopper-waiting")

    # 2. The agent logs in, finds the conversation in the queue and claims it.
    agent.get(f"{shop.console_url}/login?next=/handoff")
    agent.find_element(By.NAME, "username").send_keys(AGENT)
    agent.find_element(By.NAME, "password").send_keys(PASSWORD + Keys.ENTER)
    wait(agent, lambda d: d.current_url.endswith("/handoff"), "the handoff page after login")
    item = wait(agent, lambda d: d.find_elements(By.CSS_SELECTOR, "#handoff-queue li"), "the queue")[0]
    assert "asked" in item.text and "waited" in item.text
    item.find_element(By.CSS_SELECTOR, "button.open").click()
    wait(agent, lambda d: d.find_element(By.ID, "handoff").get_attribute("data-open-state") == "waiting",
         "the open conversation")
    assert not agent.find_element(By.ID, "reply-form").is_displayed()  # only the holder may reply
    transcript = agent.find_element(By.ID, "turns").text
    assert "talk to a person" in transcript and "intent: human_handoff" in transcript
    screenshot(agent, "02-agent-queue-and-transcript")
    agent.find_element(By.ID, "claim").click()
    wait(agent, lambda d: d.find_element(By.ID, "handoff").get_attribute("data-open-state") == "claimed",
         "the claim")
    assert agent.find_element(By.ID, "reply-form").is_displayed()
    wait(shopper, lambda d: handoff_state(d) == "claimed", "the shopper to see the agent join")
    assert status_line(shopper) == f"{AGENT} has joined the chat."

    # 3. The agent writes; the shopper sees it with the agent's name.
    agent_reply(agent, AGENT_GREETING)
    wait(shopper, lambda d: any(AGENT_GREETING in t for t in chat_texts(d, ".shopcue-msg--agent")),
         "the agent's message in the web chat")
    assert AGENT in chat_texts(shopper, ".shopcue-msg--agent .shopcue-agent-name")
    screenshot(shopper, "03-shopper-sees-agent")

    # 4. The shopper answers: the agent sees it with its parse, and the bot says nothing.
    bot_only = ".shopcue-msg--bot:not(.shopcue-msg--agent)"  # the bot's own messages and notices
    bot_messages_before = len(chat_texts(shopper, bot_only))
    send(shopper, SHOPPER_ANSWER)
    wait(agent, lambda d: SHOPPER_ANSWER in d.find_element(By.ID, "turns").text, "the shopper's message")
    turns = agent.find_elements(By.CSS_SELECTOR, "#turns .turn--user")
    assert "intent:" in turns[-1].find_element(By.CSS_SELECTOR, ".parse").text
    time.sleep(3)  # a bot answer would have arrived by now
    assert len(chat_texts(shopper, bot_only)) == bot_messages_before, chat_texts(shopper, ".shopcue-msg")
    agent_reply(agent, AGENT_FOLLOW_UP)
    wait(shopper, lambda d: any(AGENT_FOLLOW_UP in t for t in chat_texts(d, ".shopcue-msg--agent")),
         "the agent's second message")
    screenshot(agent, "04-agent-conversation")

    # 5. The agent hands back; the bot answers the shopper's next message.
    agent.find_element(By.ID, "hand-back").click()
    wait(agent, lambda d: d.find_element(By.ID, "handoff").get_attribute("data-open-state") == "closed",
         "the hand back")
    wait(shopper, lambda d: handoff_state(d) == "closed", "the shopper to be back with the bot")
    assert status_line(shopper) == "You're back with the Shopcue assistant."
    send(shopper, "running shoes for men")
    wait(shopper, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue-log .shopcue-card"),
         "the bot's products")
    screenshot(shopper, "05-shopper-back-with-the-bot")

    # 6. A reload shows the whole conversation again, the agent's messages with their name.
    shopper.refresh()
    wait(shopper, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue[data-ready]"), "the reload")
    time.sleep(3)  # a poll that showed the history's agent messages again would have done so by now
    agent_texts = chat_texts(shopper, ".shopcue-msg--agent")
    assert sum(AGENT_GREETING in t for t in agent_texts) == 1, agent_texts
    assert SHOPPER_ANSWER in chat_texts(shopper, ".shopcue-msg--user .shopcue-text")
    screenshot(shopper, "06-shopper-after-reload")
