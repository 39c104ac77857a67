"""The conversation log against the running bot: a scripted web chat and REST conversation leaves rows
with parses, replies, model id and channel, the suggestions its reactions give, and `python -m
learning.log delete --sender` removes them."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

import httpx
import pytest
from sqlalchemy import select

from bot.launcher import PROJECT_ROOT, BotProcesses
from learning.db import get_engine, messages, suggestions
from tests.test_webchat_channel import headers_of, open_session, webchat_post

pytestmark = pytest.mark.e2e

# Texts a small model may read as nlu_fallback (below FallbackClassifier's 0.4); the test uses the first
# that the model under test does read so, and fails if none does.
FALLBACK = "nlu_fallback"
FALLBACK_CANDIDATES = ("thingamajig", "hmmm what about", "banana", "whats good", "x")


def webchat(bot: BotProcesses, session: str, text: str, display: Optional[str] = None
            ) -> List[Dict[str, Any]]:
    reply = webchat_post(bot.rasa_url, session, text, display)
    assert reply.status_code == 200, reply.text
    return list(reply.json() or [])


def logged(bot: BotProcesses, sender: str) -> List[Dict[str, Any]]:
    with get_engine(bot.database_url).connect() as connection:
        rows = connection.execute(
            select(messages).where(messages.c.sender_id == sender).order_by(messages.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def suggested(bot: BotProcesses, message_ids: List[int]) -> List[Dict[str, Any]]:
    with get_engine(bot.database_url).connect() as connection:
        rows = connection.execute(
            select(suggestions).where(suggestions.c.message_id.in_(message_ids)).order_by(suggestions.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """The log is written off the event loop: poll until it holds what the conversation left."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"the learning log never held {what}")
        time.sleep(0.3)


def cards_of(replies: List[Dict[str, Any]]) -> List[str]:
    return [p["id"] for r in replies if (r.get("custom") or {}).get("type") == "product_cards"
            for p in r["custom"]["products"]]


def test_a_conversation_leaves_rows_and_suggested_labels_and_delete_removes_them(bot: BotProcesses) -> None:
    fallback = next((t for t in FALLBACK_CANDIDATES if bot.parse(t)["intent"]["name"] == FALLBACK), None)
    assert fallback, f"none of {FALLBACK_CANDIDATES} is nlu_fallback for this model: no fallback to rephrase"
    (session, web), rest = open_session(bot.rasa_url), f"rest-{uuid.uuid4().hex[:8]}"

    assert cards_of(webchat(bot, session, "red trainers for my son")), "the search showed no products"
    webchat(bot, session, "no, for a girl")
    webchat(bot, session, fallback)
    shown = cards_of(webchat(bot, session, "running shoes"))
    assert len(shown) >= 2, "the rephrased search showed too few products to click one"
    webchat(bot, session, "/show_more", display="Show more")  # the "Show more" button the search offered
    click = {"type": "card_click", "product_id": shown[1]}
    clicked = httpx.post(f"{bot.rasa_url}/webhooks/webchat/event", json=click, headers=headers_of(session))
    assert (clicked.status_code, clicked.json()) == (202, {"logged": True})
    bot.send(rest, "do you sell kayaks")

    rows = wait_for(lambda: (r := logged(bot, web)) and len(r) == 5 and r[-1]["replies"] and r, "5 messages")
    search, correction, misread, rephrased, button = rows
    assert [r["text"] for r in rows] == ["red trainers for my son", "no, for a girl", fallback,
                                         "running shoes", "Show more"]
    assert {r["channel"] for r in rows} == {"webchat"}
    assert all(len(r["model_id"]) >= 8 for r in rows), "every row names the model that parsed it"
    assert search["intent"] == "search_product" and search["intent_ranking"]
    assert any((e["entity"], e["value"]) == ("product_type", "trainers") for e in search["entities"])
    assert search["attributes"]["gender"]["value"] == "male"
    assert 0.0 <= search["doubt"] < 1.0 and misread["intent"] == FALLBACK and misread["doubt"] > 0.5
    assert search["replies"][0]["custom_type"] == "product_cards"
    assert search["replies"][0]["action"] == "action_search_products"
    assert misread["replies"][0]["action"] == "action_clarify_low_confidence"
    assert (button["intent"], button["doubt"]) == ("show_more", 0.0)

    ids = [r["id"] for r in rows]
    found = wait_for(lambda: (s := suggested(bot, ids)) and len(s) >= 4 and s, "the 4 suggestions")
    by_kind = {(s["kind"], s["message_id"]): s for s in found}
    assert by_kind[("correction", search["id"])]["label"] == {"attributes": {"gender": "female"}}
    assert by_kind[("correction", search["id"])]["related_message_id"] == correction["id"]
    rephrase = by_kind[("rephrase", misread["id"])]
    assert rephrase["related_message_id"] == rephrased["id"]
    assert rephrase["label"]["intent"] == "search_product"
    assert fallback in rephrase["evidence"] and "running shoes" in rephrase["evidence"]
    clicks = [s for s in found if s["kind"] == "click" and s["message_id"] == rephrased["id"]]
    assert any("Show more" in s["evidence"] for s in clicks)
    assert any(shown[1] in s["evidence"] for s in clicks)

    [kayaks] = wait_for(lambda: logged(bot, rest), "the REST message")
    assert kayaks["channel"] == "rest"
    [gap] = wait_for(lambda: suggested(bot, [kayaks["id"]]), "the zero-results suggestion")
    assert gap["kind"] == "zero_results" and "kayak" in gap["label"]["phrase"]

    command = [sys.executable, "-m", "learning.log", "--database-url", bot.database_url]
    report = subprocess.run(command + ["gaps"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0 and "kayak" in report.stdout, report.stderr
    deleted = subprocess.run(command + ["delete", "--sender", web], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=120)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted 5 messages and {len(found)} suggestions of {web}" in deleted.stdout
    assert logged(bot, web) == [] and suggested(bot, ids) == []
    assert len(logged(bot, rest)) == 1, "another shopper's messages stay"
