"""What an agent sees of a handed-off conversation, read from the tracker's JSON (Rasa's HTTP API): the
turns with each shopper message's parse, and the shopper's context (current search, results shown,
cart). Pure functions: the tracker is untrusted input, so every field is type-checked and cut short.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

# The metadata key of an agent's message in the tracker (the console writes it; the web chat shows it).
AGENT_KEY = "agent"
MAX_TURNS = 200
MAX_TEXT = 2000
MAX_RESULTS = 20
MAX_CART_LINES = 50
_SHOWN_SCALARS = (str, int, float, bool)
# Fields of the search state that are the bot's bookkeeping, not the shopper's search.
_BOOKKEEPING = frozenset({"clarified"})


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def parse_summary(parse: Any) -> Dict[str, Any]:
    """Intent and confidence, entity spans and attributes of one user event's parse_data."""
    parse = parse if isinstance(parse, Mapping) else {}
    intent = parse.get("intent") if isinstance(parse.get("intent"), Mapping) else {}
    entities = []
    for entity in parse.get("entities") or []:
        if isinstance(entity, Mapping):
            entities.append({
                "entity": _text(entity.get("entity"), 64), "value": _text(str(entity.get("value", "")), 200),
                "confidence": _number(entity.get("confidence_entity")),
            })
    attributes = {}
    raw_attributes = parse.get("attributes")
    for name, reading in (raw_attributes.items() if isinstance(raw_attributes, Mapping) else []):
        if isinstance(reading, Mapping) and isinstance(reading.get("value"), _SHOWN_SCALARS):
            attributes[_text(name, 64)] = {"value": str(reading["value"])[:64],
                                           "confidence": _number(reading.get("confidence"))}
    return {"intent": _text(intent.get("name"), 64), "confidence": _number(intent.get("confidence")),
            "entities": entities[:20], "attributes": attributes}


def transcript(events: Any) -> List[Dict[str, Any]]:
    """User and bot turns, oldest first; agents' messages carry their name."""
    turns: List[Dict[str, Any]] = []
    for event in events if isinstance(events, list) else []:
        if not isinstance(event, Mapping):
            continue
        kind, stamp = event.get("event"), _number(event.get("timestamp"))
        if kind == "user" and isinstance(event.get("text"), str):
            turns.append({"who": "user", "text": _text(event["text"]), "ts": stamp,
                          "parse": parse_summary(event.get("parse_data"))})
        elif kind == "bot":
            metadata = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
            agent = _text(metadata.get(AGENT_KEY), 64)
            data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
            custom = data.get("custom") if isinstance(data.get("custom"), Mapping) else {}
            text = _text(event.get("text")) or _text(custom.get("intro"))
            if text:
                turns.append({"who": "agent" if agent else "bot", "agent": agent or None, "text": text,
                              "ts": stamp, "custom_type": _text(custom.get("type"), 32) or None})
    return turns[-MAX_TURNS:]


def shown_results(events: Any) -> List[Dict[str, Any]]:
    """The products of the latest product-cards payload the shopper was shown."""
    for event in reversed(events if isinstance(events, list) else []):
        data = event.get("data") if isinstance(event, Mapping) and event.get("event") == "bot" else None
        custom = data.get("custom") if isinstance(data, Mapping) else None
        if isinstance(custom, Mapping) and custom.get("type") == "product_cards":
            products = custom.get("products") if isinstance(custom.get("products"), list) else []
            return [
                {"position": _number(p.get("position")), "id": _text(p.get("id"), 32),
                 "title": _text(p.get("title"), 200), "price": _number(p.get("price"))}
                for p in products[:MAX_RESULTS] if isinstance(p, Mapping)
            ]
    return []


def shopper_context(tracker: Any) -> Dict[str, Any]:
    """The current search (non-empty fields of `search_state`), the results shown and the cart."""
    tracker = tracker if isinstance(tracker, Mapping) else {}
    slots = tracker.get("slots") if isinstance(tracker.get("slots"), Mapping) else {}
    state = slots.get("search_state") if isinstance(slots.get("search_state"), Mapping) else {}
    search = {
        _text(key, 64): (", ".join(str(v) for v in value) if isinstance(value, list) else str(value))[:200]
        for key, value in state.items()
        if value not in (None, "", [], False) and isinstance(value, (*_SHOWN_SCALARS, list))
        and key not in _BOOKKEEPING and not str(key).endswith("_confidence")
    }
    cart = []
    for line in (slots.get("cart") if isinstance(slots.get("cart"), list) else [])[:MAX_CART_LINES]:
        if isinstance(line, Mapping):
            cart.append({
                "title": _text(line.get("title"), 200), "size": _text(str(line.get("size") or ""), 20),
                "quantity": _number(line.get("quantity")), "price": _number(line.get("price")),
            })
    return {"search": search, "results": shown_results(tracker.get("events")), "cart": cart}
