"""What the conversation's slots hold, read back with every value re-checked (slots can be set by a
client through a button payload), and the slot events that write them. One slot per fact."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.cart import CartLine, cart_state
from actions.query import SearchQuery
from actions.viewed import VIEWED_PRODUCTS, read_viewed, remember_viewed

SEARCH_STATE = "search_state"  # the SearchQuery being run
RANKED_IDS = "ranked_ids"  # every result of that search, best first (for "show more")
SHOWN_IDS = "shown_ids"  # the products on screen, in the order shown ("the second one")
FOCUS_ID = "focus_id"  # the product the conversation is about ("is it in stock?")
CART = "cart"  # a mirror of the cart kept in the database (actions/cart_store.py), never read back
PENDING_OFFER = "pending_offer"  # what the next words answer: GIFT_WRAP_OFFER, CART_OFFER or SIZE_OFFER
GIFT_WRAP = "gift_wrap"  # the shopper's answer to the gift-wrap offer, None until asked
GIFT_WRAP_OFFER = "gift_wrap"
CART_OFFER = "add_to_cart"
SIZE_OFFER = "size"  # "Which size of X?" was asked for the product in focus
# VIEWED_PRODUCTS: the products the shopper opened, newest last (actions/viewed.py)
MAX_IDS = 200


def _ids(tracker: Tracker, slot: str) -> List[str]:
    value = tracker.get_slot(slot)
    return [str(pid)[:32] for pid in value[:MAX_IDS]] if isinstance(value, list) else []


def ranked_ids(tracker: Tracker) -> List[str]:
    return _ids(tracker, RANKED_IDS)


def shown_ids(tracker: Tracker) -> List[str]:
    return _ids(tracker, SHOWN_IDS)


def focus_id(tracker: Tracker) -> Optional[str]:
    value = tracker.get_slot(FOCUS_ID)
    return str(value)[:32] if value else None


def viewed_ids(tracker: Tracker) -> List[str]:
    return read_viewed(tracker.get_slot(VIEWED_PRODUCTS))


def search_state(tracker: Tracker) -> Optional[SearchQuery]:
    return SearchQuery.from_state(tracker.get_slot(SEARCH_STATE))


def pending_offer(tracker: Tracker) -> Optional[str]:
    offer = tracker.get_slot(PENDING_OFFER)
    return offer if offer in (GIFT_WRAP_OFFER, CART_OFFER, SIZE_OFFER) else None


def gift_wrap_asked(tracker: Tracker) -> bool:
    return tracker.get_slot(GIFT_WRAP) is not None


def wants_gift(tracker: Tracker) -> bool:
    query = search_state(tracker)
    return bool(query and query.gift)


# --- events ------------------------------------------------------------------------------------------


def show(ids: Sequence[str], ranked: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """A new list on screen: the products shown (and the whole ranking behind them); no focus."""
    events = [SlotSet(SHOWN_IDS, list(ids)), SlotSet(FOCUS_ID, None)]
    if ranked is not None:
        events.insert(0, SlotSet(RANKED_IDS, list(ranked)))
    return events


def focus(product_id: str) -> Dict[str, Any]:
    return SlotSet(FOCUS_ID, product_id)


def opened(tracker: Tracker, ids: Sequence[str]) -> Dict[str, Any]:
    """The shopper opened these products (asked their details): they join the viewed products."""
    return SlotSet(VIEWED_PRODUCTS, remember_viewed(tracker.get_slot(VIEWED_PRODUCTS), ids))


def offer(what: Optional[str]) -> Dict[str, Any]:
    return SlotSet(PENDING_OFFER, what)


def remember_search(query: SearchQuery) -> Dict[str, Any]:
    return SlotSet(SEARCH_STATE, query.to_state())


def mirror_cart(lines: Sequence[CartLine]) -> Dict[str, Any]:
    """The stored cart shown in the `cart` slot, for the dialogue and the agents' view of a handoff."""
    return SlotSet(CART, cart_state(lines))


def gift_wrap(answer: bool) -> Dict[str, Any]:
    return SlotSet(GIFT_WRAP, answer)
