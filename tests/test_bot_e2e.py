"""The bot end to end: trained from the project's files, both servers up, messages over the REST webhook."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from bot.launcher import BotProcesses, http_json

pytestmark = pytest.mark.e2e

DOMAIN = yaml.safe_load((Path(__file__).resolve().parent.parent / "bot" / "domain.yml").read_text())


def response_texts(name: str) -> List[str]:
    """The texts the domain declares for a response, to recognise the bot's answer exactly."""
    return [variant["text"].strip() for variant in DOMAIN["responses"][name] if "text" in variant]


def texts(replies: List[Dict[str, Any]]) -> List[str]:
    return [reply["text"].strip() for reply in replies if reply.get("text")]


def product_cards(replies: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [
        product
        for reply in replies
        if isinstance(reply.get("custom"), dict) and reply["custom"].get("type") == "product_cards"
        for product in reply["custom"]["products"]
    ]


def test_both_servers_answer_on_localhost(bot: BotProcesses) -> None:
    assert http_json("GET", f"{bot.actions_url}/health")["status"] == "ok"
    status = bot.api("GET", "/status")
    assert status["model_file"].endswith(".tar.gz")


def test_greeting_is_answered_with_a_greeting(bot: BotProcesses) -> None:
    replies = bot.send("e2e-greet", "hi")
    assert texts(replies), f"no text reply to 'hi': {replies}"
    assert texts(replies)[0] in response_texts("utter_greet")


def test_product_search_answers_with_products_from_the_catalog(bot: BotProcesses) -> None:
    replies = bot.send("e2e-search", "running shoes for men")
    cards = product_cards(replies)
    assert cards, f"no product cards in the reply: {replies}"
    catalog = sqlite3.connect(bot.env["SHOPCUE_CATALOG_DB"])
    try:
        for card in cards:
            row = catalog.execute("SELECT title, price FROM products WHERE id = ?", (card["id"],)).fetchone()
            assert row is not None, f"{card['id']} is not in the catalog"
            assert row[0] == card["title"]
            assert row[1] == pytest.approx(card["price"])
    finally:
        catalog.close()
    assert any(cards[0]["title"] in text for text in texts(replies)), "the text must name them"


def test_out_of_scope_message_gets_the_out_of_scope_answer(bot: BotProcesses) -> None:
    replies = bot.send("e2e-oos", "what's the weather like on mars tomorrow")
    assert texts(replies), f"no reply: {replies}"
    assert texts(replies)[0] in response_texts("utter_out_of_scope")
