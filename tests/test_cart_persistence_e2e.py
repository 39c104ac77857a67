"""The cart is kept by shopper in the project's database, end to end with the trained bot: what a shopper
adds over REST is a row under their sender id and nobody else's, it is still in their cart after a kill -9
of the Rasa server and a restart of the action server, and the database, not the conversation's `cart`
slot, is what the bot reads: a cart deleted by `python -m actions.cart_store delete` is gone for the bot
too (issue 15, item 1)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from typing import Any, Dict, List, Tuple

import pytest

from bot.launcher import PROJECT_ROOT, BotProcesses

pytestmark = pytest.mark.e2e

SHOPPER, OTHER = "e2e-cart-a", "e2e-cart-b"
ORDINALS = ("first", "second", "third", "fourth", "fifth")


def text(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(reply.get("text") or "" for reply in replies)


def in_stock_positions(replies: List[Dict[str, Any]]) -> List[Tuple[int, str]]:
    """(position on screen, product id) of the in-stock cards a search showed."""
    return [
        (product["position"], product["id"])
        for reply in replies
        if isinstance(reply.get("custom"), dict) and reply["custom"].get("type") == "product_cards"
        for product in reply["custom"]["products"]
        if product["in_stock"]
    ]


def cart_rows(bot: BotProcesses, sender: str) -> List[Tuple[str, int]]:
    """(product id, quantity) of the sender's stored cart, read straight from the database file."""
    connection = sqlite3.connect(bot.env["SHOPCUE_CATALOG_DB"])
    try:
        return connection.execute(
            "SELECT product_id, quantity FROM cart_lines WHERE sender_id = ? ORDER BY id", (sender,)
        ).fetchall()
    finally:
        connection.close()


def add(bot: BotProcesses, sender: str, position: int) -> str:
    reply = text(bot.send(sender, f"add the {ORDINALS[position - 1]} one to my cart"))
    assert "Added" in reply, f"adding the product at {position} was not confirmed: {reply!r}"
    return reply


def test_the_cart_is_kept_by_shopper_across_a_crash_and_the_database_is_its_truth(
    crashable_bot: BotProcesses,
) -> None:
    bot = crashable_bot
    shown = in_stock_positions(bot.send(SHOPPER, "show me headphones"))
    assert len(shown) >= 3, f"the search showed too few headphones in stock: {shown}"
    (first, first_id), (second, second_id), (third, third_id) = shown[:3]

    assert "You have 1 item in your cart" in add(bot, SHOPPER, first)
    assert cart_rows(bot, SHOPPER) == [(first_id, 1)]
    assert in_stock_positions(bot.send(OTHER, "show me headphones"))
    assert "You have 1 item in your cart" in add(bot, OTHER, second), "another shopper's cart showed"
    assert cart_rows(bot, OTHER) == [(second_id, 1)] and cart_rows(bot, SHOPPER) == [(first_id, 1)]

    bot.kill_rasa()
    bot.stop_actions()
    bot.start_actions()
    bot.start_rasa()
    reply = add(bot, SHOPPER, second)
    assert "You have 2 items in your cart" in reply, f"the cart was lost in the crash: {reply!r}"
    assert cart_rows(bot, SHOPPER) == [(first_id, 1), (second_id, 1)]

    deleted = subprocess.run(
        [sys.executable, "-m", "actions.cart_store", "delete", "--sender", SHOPPER], cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "SHOPCUE_CATALOG_DB": bot.env["SHOPCUE_CATALOG_DB"]},
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert "removed 2 cart line(s)" in deleted.stdout
    slots = bot.api("GET", f"/conversations/{SHOPPER}/tracker")["slots"]
    assert len(slots["cart"]) == 2, "the conversation still mirrors the old cart"
    reply = add(bot, SHOPPER, third)
    assert "You have 1 item in your cart" in reply, f"the deleted cart came back from the slot: {reply!r}"
    assert cart_rows(bot, SHOPPER) == [(third_id, 1)] and cart_rows(bot, OTHER) == [(second_id, 1)]
