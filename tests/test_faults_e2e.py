"""Faults with the real bot (issue 15, item 5): a bot of this module's own (its action server is stopped
and paused; the shared `bot` fixture's must keep working for other tests).

- The action server stopped: the shopper gets the apology over the web chat and the phone's REST channel,
  not silence; once it is started again the next message gets products.
- The action server hung (SIGSTOP): the apology after SHOPCUE_ACTION_TIMEOUT_S plus the 1 s probe, not
  after Rasa's 5 minutes, and answers again once it resumes.

The unit versions (and the store outages with fakes) are in tests/test_faults.py.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Dict, Iterator, List

import httpx
import pytest

from bot.channels.apologies import ACTIONS_DOWN
from bot.launcher import BotProcesses
from tests.test_webchat_channel import open_session, webchat_post

pytestmark = pytest.mark.e2e

# The bot gives up on a hung action server after this many seconds (bot/channels/faults.py).
ACTION_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def fault_bot(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcesses]:
    work = tmp_path_factory.mktemp("faults")
    bot = BotProcesses(model=trained_model, log_dir=work / "logs", database_url=f"sqlite:///{work / 'l.db'}",
                       env={"SHOPCUE_CATALOG_DB": str(work / "catalog.db"),
                            "SHOPCUE_ACTION_TIMEOUT_S": str(ACTION_TIMEOUT_S)},
                       shadow=False)
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
    actions = bot._actions_process  # the launcher's child; paused here, never replaced
    assert actions is not None
    os.killpg(actions.pid, signal.SIGSTOP)
    try:
        # the client gives up after 120 s; without the bound Rasa waits 300 s for the action.
        replies = rest(bot, "e2e-fault-hung", "blue trainers")
    finally:
        os.killpg(actions.pid, signal.SIGCONT)
    assert texts(replies) == [ACTIONS_DOWN]
    assert has_cards(rest(bot, "e2e-fault-hung", "blue trainers"))
