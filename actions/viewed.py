"""The products a shopper opened, newest last: the `viewed_products` slot's bookkeeping. Opened means
asked the details of (`action_product_details`) or clicked the card of in the web chat (the channel
records the click into the slot, bot/channels/webchat.py). Pure and free of Rasa and the catalog, so the
web chat channel and the actions share it; the ids it reads back are re-checked against the catalog by
whoever uses them (a client can set a slot)."""

from __future__ import annotations

from typing import Any, List, Sequence

VIEWED_PRODUCTS = "viewed_products"
MAX_VIEWED = 5
MAX_ID_CHARS = 32


def read_viewed(value: Any) -> List[str]:
    """The slot's value as ids: a list of non-empty strings, cut to the id length, each once (the latest
    place kept), the last MAX_VIEWED; anything else reads as nothing."""
    if not isinstance(value, list):
        return []
    ids: List[str] = []
    for item in value[-4 * MAX_VIEWED :]:
        if isinstance(item, str) and item.strip():
            pid = item.strip()[:MAX_ID_CHARS]
            if pid in ids:
                ids.remove(pid)
            ids.append(pid)
    return ids[-MAX_VIEWED:]


def remember_viewed(value: Any, opened: Sequence[str]) -> List[str]:
    """The slot after opening these products (in order): each moves to the end, the oldest fall off."""
    return read_viewed(read_viewed(value) + [str(pid) for pid in opened])


def earlier_views(viewed: Sequence[str], current: str, count: int = 2) -> List[str]:
    """The `count` products opened most recently before, other than `current`, newest first."""
    return [pid for pid in reversed(viewed) if pid != current][:count]
