"""Faults with the real bot (issue 15, item 5): a bot of this module's own, on the PostgreSQL tracker
store and the Redis lock store of tests/services.py (its action server is stopped and paused, and its
stores taken down; the shared `bot` fixture's must keep working for other tests).

- Redis or PostgreSQL stopped mid-conversation: the shopper gets 503 with Retry-After and the apology
  (no stack trace); after the restart the message sent again is answered in the same conversation (the
  search it refers to is still there) and every message is in the tracker exactly once.
- The widget in a browser: a 503 is retried once after Retry-After; when that fails too the apology is
  shown, the bubble says "Not sent" and the typed text is back in the input, and Enter sends it.
- The action server stopped: the apology over the web chat and the phone's REST channel, not silence;
  once it is started again the next message gets products.
- The action server hung (SIGSTOP): the apology after SHOPCUE_ACTION_TIMEOUT_S plus the 1 s probe, not
  after Rasa's 5 minutes, and answers again once it resumes.
- A slow catalog query on PostgreSQL: stopped by the statement limit (last: it restarts PostgreSQL).

The unit versions (with fakes) are in tests/test_faults.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from actions.catalog.db import dispose_engine, get_engine, is_statement_timeout, limit_statements, session_for
from benchmarks.bench_webchat import browser_missing
from bot.channels.apologies import ACTIONS_DOWN, SHOP_SYSTEM_DOWN
from bot.channels.faults import RETRY_AFTER_S
from bot.channels.session import SENDER_PREFIX
from bot.launcher import BotProcesses
from tests.browser import chrome
from tests.test_webchat_browser import (
    ANSWER_TIMEOUT,
    PHONE,
    bot_messages,
    open_fresh_chat,
    typing_visible,
    wait,
)
from tests.test_webchat_channel import open_session, webchat_post

if TYPE_CHECKING:  # the fixtures come through pytest_plugins (importing the module warns)
    from tests.services import PostgresServer, RedisServer

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.services"]  # the postgres and redis_server fixtures

# The bot gives up on a hung action server after this many seconds (bot/channels/faults.py).
ACTION_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def fault_bot(trained_model: Path, tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer,
              redis_server: RedisServer) -> Iterator[BotProcesses]:
    work = tmp_path_factory.mktemp("faults")
    bot = BotProcesses(model=trained_model, log_dir=work / "logs", database_url=f"sqlite:///{work / 'l.db'}",
                       env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db"),
                            "SHOPCUE_ACTION_TIMEOUT_S": str(ACTION_TIMEOUT_S)},
                       tracker_url=postgres.url, lock_url=redis_server.url, shadow=False)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()


def rest(bot: BotProcesses, sender: str, text: str) -> List[Dict[str, Any]]:
    reply = httpx.post(f"{bot.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                       timeout=120)
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def has_cards(replies: List[Dict[str, Any]]) -> bool:
    return any(isinstance(r.get("custom"), dict) and r["custom"].get("type") == "product_cards"
               for r in replies)


def texts(replies: List[Dict[str, Any]]) -> List[str]:
    return [r["text"] for r in replies if r.get("text")]


def card_ids(replies: List[Dict[str, Any]]) -> List[str]:
    return [product["id"] for r in replies if isinstance(r.get("custom"), dict)
            and r["custom"].get("type") == "product_cards" for product in r["custom"]["products"]]


def user_texts(bot: BotProcesses, sender: str) -> List[str]:
    events = bot.api("GET", f"/conversations/{sender}/tracker")["events"]
    return [event["text"] for event in events if event["event"] == "user"]


def assert_apology_503(reply: httpx.Response) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert reply.json()["error"] == SHOP_SYSTEM_DOWN
    assert "Traceback" not in reply.text and "Error" not in reply.text


def sent_again(bot: BotProcesses, session: str, text: str, tries: int = 3) -> httpx.Response:
    """The message sent again after an outage, as the widget does; a database restarted under a pool of
    old connections may refuse the first try (the pool then drops them all)."""
    for _ in range(tries - 1):
        reply = webchat_post(bot.rasa_url, session, text)
        if reply.status_code != 503:
            return reply
        time.sleep(1)
    return webchat_post(bot.rasa_url, session, text)


@pytest.mark.parametrize("store", ["redis", "postgres"])
def test_a_store_outage_is_a_clear_503_and_the_conversation_goes_on_after_it(
        fault_bot: BotProcesses, postgres: PostgresServer, redis_server: RedisServer, store: str) -> None:
    bot, server = fault_bot, {"redis": redis_server, "postgres": postgres}[store]
    session, sender = open_session(bot.rasa_url)
    shown = card_ids(webchat_post(bot.rasa_url, session, "running shoes for men").json())
    assert len(shown) >= 2, f"the search showed too few shoes: {shown}"

    server.stop()
    try:
        assert_apology_503(webchat_post(bot.rasa_url, session, "tell me about the first one"))
        phone = httpx.post(f"{bot.rasa_url}/webhooks/rest/webhook", timeout=60,
                           json={"sender": f"e2e-fault-{store}", "message": "red trainers"})
        assert_apology_503(phone)
    finally:
        server.start()

    answer = sent_again(bot, session, "tell me about the first one")
    assert answer.status_code == 200 and texts(answer.json()), answer.text
    tracker = bot.api("GET", f"/conversations/{sender}/tracker")
    assert tracker["slots"]["focus_id"] == shown[0], "the search before the outage was forgotten"
    assert user_texts(bot, sender) == ["running shoes for men", "tell me about the first one"]
    log = bot.rasa_log.read_text()
    assert f"channel.store_down channel=webchat sender={sender}" in log
    assert "tell me about" not in log


def store_down_lines(bot: BotProcesses) -> int:
    return bot.rasa_log.read_text().count("channel.store_down channel=webchat")


@pytest.mark.browser
@pytest.mark.skipif(browser_missing() is not None, reason=f"headless browser: {browser_missing()}")
def test_the_widget_sends_again_after_a_503_and_gives_the_text_back_when_that_fails_too(
        fault_bot: BotProcesses, redis_server: RedisServer) -> None:
    bot = fault_bot
    with chrome(*PHONE) as driver:
        open_fresh_chat(driver, f"{bot.rasa_url}/webhooks/webchat/")
        box = driver.find_element(By.ID, "shopcue-input")

        # Down for less than Retry-After: the widget's own second try is answered, and no error shows.
        refused = store_down_lines(bot)
        redis_server.stop()
        try:
            box.send_keys("running shoes for men", Keys.ENTER)
            wait(driver, lambda _: store_down_lines(bot) > refused, "the first try to be refused")
        finally:
            redis_server.start()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue-card"),
             "the products after the retry", timeout=RETRY_AFTER_S + ANSWER_TIMEOUT)
        assert not driver.find_elements(By.CSS_SELECTOR, ".shopcue-msg--error")

        # Down for longer: the apology, the bubble marked, the typed text back in the input.
        redis_server.stop()
        try:
            box.send_keys("tell me about the first one", Keys.ENTER)
            wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".shopcue-msg--error"), "the apology",
                 timeout=RETRY_AFTER_S + ANSWER_TIMEOUT)
            assert driver.find_element(By.CSS_SELECTOR, ".shopcue-msg--error").text.endswith(SHOP_SYSTEM_DOWN)
            assert "Not sent" in driver.find_element(By.CSS_SELECTOR, ".shopcue-msg--unsent").text
            assert box.get_attribute("value") == "tell me about the first one"
        finally:
            redis_server.start()

        before = len(bot_messages(driver))
        box.send_keys(Keys.ENTER)  # the shopper sends it again as it stands
        wait(driver, lambda d: len(bot_messages(d)) > before and not typing_visible(d), "the answer")
        session = driver.execute_script("return localStorage.getItem('shopcue.session');")
    sender = SENDER_PREFIX + session.split(".")[0]
    assert user_texts(bot, sender) == ["running shoes for men", "tell me about the first one"]


def test_the_action_server_stopped_gets_an_apology_and_products_when_it_is_back(fault_bot: BotProcesses
                                                                                ) -> None:
    bot = fault_bot
    session, _sender = open_session(bot.rasa_url)
    assert has_cards(webchat_post(bot.rasa_url, session, "running shoes for men").json())

    bot.stop_actions()
    try:
        web = webchat_post(bot.rasa_url, session, "show me red trainers")
        assert web.status_code == 200
        assert texts(web.json()) == [ACTIONS_DOWN]
        assert texts(rest(bot, "e2e-fault-phone", "red trainers please")) == [ACTIONS_DOWN]
    finally:
        bot.start_actions()

    assert has_cards(webchat_post(bot.rasa_url, session, "show me red trainers").json())
    assert has_cards(rest(bot, "e2e-fault-phone", "red trainers please"))
    log = bot.rasa_log.read_text()
    assert "channel.action_server_down channel=webchat" in log
    assert "red trainers" not in log.split("channel.action_server_down", 1)[1].splitlines()[0]


def test_a_hung_action_server_gets_the_apology_instead_of_a_five_minute_wait(fault_bot: BotProcesses
                                                                              ) -> None:
    bot = fault_bot
    bot.pause_actions()
    try:
        # the client gives up after 120 s; without the bound Rasa waits 300 s for the action.
        replies = rest(bot, "e2e-fault-hung", "blue trainers")
    finally:
        bot.resume_actions()
    assert texts(replies) == [ACTIONS_DOWN]
    assert has_cards(rest(bot, "e2e-fault-hung", "blue trainers"))


def test_a_slow_catalog_query_on_postgresql_is_stopped_and_the_limit_survives_a_restart(
        postgres: PostgresServer) -> None:
    # An engine of its own (another URL): other tests' catalog engines on this server stay unlimited.
    url = f"{postgres.url}?application_name=shopcue-fault-tests"
    engine = get_engine(url)
    limit_statements(engine, 0.5)
    try:
        with pytest.raises(OperationalError) as raised, session_for(engine) as session:
            session.execute(text("SELECT pg_sleep(30)"))
        assert is_statement_timeout(raised.value)

        postgres.restart()  # the pooled connection is dead now; the checkout replaces it
        with session_for(engine) as session:
            assert session.execute(text("SHOW statement_timeout")).scalar() == "500ms"
    finally:
        dispose_engine(url)
