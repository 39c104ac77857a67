"""Reading the bot's replies (lists of REST or web chat messages) in end-to-end tests."""

from __future__ import annotations

from typing import Any, Dict, List


def card_ids(replies: List[Dict[str, Any]]) -> List[str]:
    """The ids of the products shown as cards, in the order shown."""
    return [
        product["id"]
        for reply in replies
        if isinstance(reply.get("custom"), dict) and reply["custom"].get("type") == "product_cards"
        for product in reply["custom"]["products"]
    ]
