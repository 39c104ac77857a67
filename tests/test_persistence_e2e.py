"""Conversations survive a crash: the bot keeps them in its SQL tracker store (SQLite by default), so
after a kill -9 of the Rasa server and a restart the shopper's search and what they opened are still
there, and "tell me about the second one" still means the second shoe they were shown (issue 15, item 1)."""

from __future__ import annotations

import sqlite3
from typing import Any, Dict

import pytest

from bot.launcher import BotProcesses
from tests.replies import card_ids

pytestmark = pytest.mark.e2e

SENDER = "e2e-persist"


def tracker(bot: BotProcesses) -> Dict[str, Any]:
    return dict(bot.api("GET", f"/conversations/{SENDER}/tracker"))


def test_a_conversation_resumes_after_the_rasa_server_is_killed(crashable_bot: BotProcesses) -> None:
    bot = crashable_bot
    shown = card_ids(bot.send(SENDER, "running shoes for men"))
    assert len(shown) >= 2, f"the search showed too few shoes: {shown}"
    assert any(r.get("text") for r in bot.send(SENDER, "tell me about the first one"))
    before = tracker(bot)
    assert before["slots"]["focus_id"] == shown[0]

    bot.kill_rasa()
    rows = sqlite3.connect(bot.conversations_url.removeprefix("sqlite:///")).execute(
        "SELECT COUNT(*) FROM events WHERE sender_id = ?", (SENDER,)).fetchone()[0]
    assert rows >= len(before["events"]), "the events were not on disk when the server died"
    bot.start_rasa()

    after = tracker(bot)
    assert after["slots"] == before["slots"], "slots changed across the restart"
    assert len(after["events"]) == len(before["events"])
    # The search the shopper ran before the crash is the one "the second one" points into now.
    bot.send(SENDER, "tell me about the second one")
    assert tracker(bot)["slots"]["focus_id"] == shown[1]
