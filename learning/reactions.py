"""Shoppers' reactions read as suggested labels: rephrases, corrections, clicks and zero results.

Pure functions over the logged rows of one sender (oldest first) and the new message; the broker
(learning/broker.py) stores what they return in `learning_suggestions`, with the evidence a reviewer
reads. A suggestion is never a label by itself: a person accepts or corrects it in the console.

- rephrase: the bot did not understand (the parse was `nlu_fallback`, or the reply came from a fallback
  action) or the shopper said a bare "no" to the answer, and the next message says it again: that
  message's parse is suggested for the earlier one.
- correction: "no, for a girl" / "actually for my daughter" after results were shown: the new gender /
  age group is suggested for the search that showed them.
- click: a quick reply clicked right after results, or a product card of those results clicked in the
  web chat: the search's own parse is confirmed.
- zero_results: a search the catalog answered with nothing (the action's `ranked_ids` slot set to
  an empty list, not the reply's wording); `python -m learning.log gaps` counts their product words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence

from actions.settings import acted_on
from common.schema import AGE_GROUP, GENDER, NEUTRAL_VALUES

REPHRASE, CORRECTION, CLICK, ZERO_RESULTS = "rephrase", "correction", "click", "zero_results"
KINDS = (REPHRASE, CORRECTION, CLICK, ZERO_RESULTS)

# A reaction counts only this soon after the message it reacts to.
REACTION_WINDOW = timedelta(minutes=10)
# Actions and responses that mean "I did not understand" (data/rules.yml, config.yml's core fallback).
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset({"action_clarify_low_confidence", "action_default_fallback", "utter_default"})
SEARCH_INTENTS = frozenset({"search_product", "refine_search"})
SEARCH_ACTION = "action_search_products"
CARDS = "product_cards"
# Messages that are no rephrase of anything: asking for help or a person, small talk, yes/no.
NOT_A_REPHRASE = frozenset(
    {FALLBACK_INTENT, "human_handoff", "help", "greet", "goodbye", "thanks", "affirm", "deny", "out_of_scope"}
)
# Clicks that say nothing about the search: declining an offer, asking for help or a person.
NOT_A_CONFIRMING_CLICK = frozenset({FALLBACK_INTENT, "deny", "help", "human_handoff", "out_of_scope"})
CORRECTED_ATTRIBUTES = (GENDER, AGE_GROUP)
CORRECTION_START = re.compile(
    r"^\s*(no+|nope|not\b|actually|i meant|i mean|sorry|wait|oh)\b", re.IGNORECASE
)
# The parts of a search_state slot that say what was searched for (actions/query.py SearchQuery).
QUERY_KEYS = ("product_words", "product_type", "category", "terms", "brand", "colour", "material", "size",
              "gender", "age_group", "min_price", "max_price")


@dataclass(frozen=True)
class LoggedMessage:
    """One row of `learning_messages` as the reactions read it (`button`: sent by a quick reply)."""

    id: int
    sender_id: str
    text: str
    created_at: datetime
    intent: str = ""
    entities: List[Dict[str, Any]] = field(default_factory=list)
    attributes: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    replies: List[Dict[str, Any]] = field(default_factory=list)
    button: bool = False


@dataclass(frozen=True)
class Suggestion:
    """A label suggested for `message_id`, with the evidence and the message it came from."""

    message_id: int
    kind: str
    label: Dict[str, Any]
    evidence: str
    related_message_id: Optional[int] = None


def reactions(previous: Sequence[LoggedMessage], new: LoggedMessage) -> List[Suggestion]:
    """What the new message says about the sender's earlier ones (`previous`: oldest first)."""
    recent = [m for m in previous if m.id != new.id and _within_window(m, new)]
    if not recent:
        return []
    correction = corrected_search(recent, new)
    if correction is not None:
        return [correction]
    return [s for s in (rephrase(recent, new), click(recent, new)) if s is not None]


def rephrase(recent: Sequence[LoggedMessage], new: LoggedMessage) -> Optional[Suggestion]:
    """The new message as the label of one the bot misread (a fallback, or answered by a bare "no")."""
    if new.intent in NOT_A_REPHRASE:
        return None
    last = recent[-1]
    if is_fallback(last):
        earlier, how = last, "the bot did not understand it"
    elif last.intent == "deny" and len(recent) >= 2 and not _corrected_values(last):
        earlier = recent[-2]
        if _offered(earlier) or is_fallback(earlier):
            return None  # the "no" declined an offer (or answered a fallback, handled above)
        how = f"the shopper said {_quote(last.text)} to the answer"
    else:
        return None
    if _key(earlier.text) == _key(new.text):
        return None
    evidence = f"{_quote(earlier.text)}: {how}; then the shopper wrote {_quote(new.text)}."
    return Suggestion(earlier.id, REPHRASE, parse_label(new, earlier.text), evidence, new.id)


def corrected_search(recent: Sequence[LoggedMessage], new: LoggedMessage) -> Optional[Suggestion]:
    """"no, for a girl" after results: the new gender / age group for the search that showed them."""
    if not CORRECTION_START.match(new.text or ""):
        return None
    search = latest_search_with_results(recent[-3:])
    if search is None:
        return None
    values = _corrected_values(new)
    changed = {
        name: value for name, value in values.items()
        if (search.attributes.get(name) or {}).get("value") != value
    }
    if not changed:
        return None
    evidence = (f"After the results for {_quote(search.text)}, the shopper said {_quote(new.text)}: "
                + ", ".join(f"{name} {value}" for name, value in changed.items()) + ".")
    return Suggestion(search.id, CORRECTION, {"attributes": changed}, evidence, new.id)


def click(recent: Sequence[LoggedMessage], new: LoggedMessage) -> Optional[Suggestion]:
    """A quick reply clicked right after search results confirms that search's parse."""
    last = recent[-1]
    if not new.button or new.intent in NOT_A_CONFIRMING_CLICK or not _is_search(last):
        return None
    if not shown_product_ids(last):
        return None
    evidence = f"The shopper clicked {_quote(new.text)} after the results for {_quote(last.text)}."
    return Suggestion(last.id, CLICK, parse_label(last), evidence, new.id)


def card_click(search: LoggedMessage, product_id: str) -> Optional[Suggestion]:
    """A product card of this search's results was clicked: confirms its parse. Only a product the
    search actually showed counts (the web client says which card; nothing else of it is trusted)."""
    shown = shown_product_ids(search)
    if product_id not in shown:
        return None
    position = shown.index(product_id) + 1
    evidence = (f"The shopper clicked the product card {product_id} (number {position}) of the results "
                f"for {_quote(search.text)}.")
    return Suggestion(search.id, CLICK, parse_label(search), evidence)


def zero_results(message: LoggedMessage, query: Optional[Mapping[str, Any]], reply: str = "") -> Suggestion:
    """A search that found nothing: the query as the action kept it, for the catalog-gap report."""
    kept = {key: query[key] for key in QUERY_KEYS if isinstance(query, Mapping) and query.get(key)}
    label = {"zero_results": True, "query": kept, "phrase": gap_phrase(kept, message.text)}
    evidence = f"The search {_quote(message.text)} found no products."
    if reply:
        evidence += f" The bot said {_quote(reply)}."
    return Suggestion(message.id, ZERO_RESULTS, label, evidence)


def gap_phrase(query: Mapping[str, Any], text: str) -> str:
    """What the shopper was looking for, in their words where the action kept them."""
    for key in ("product_words", "product_type", "category", "brand"):
        if isinstance(query.get(key), str) and query[key].strip():
            return _key(query[key])
    terms = query.get("terms")
    if isinstance(terms, list) and terms:
        return _key(" ".join(str(t) for t in terms))
    return _key(text)


def parse_label(message: LoggedMessage, text: Optional[str] = None) -> Dict[str, Any]:
    """A message's parse as a label: intent, entities (with offsets where their value is found in
    `text`, the message's own by default) and the predicted value of each attribute."""
    target = message.text if text is None else text
    entities = []
    for entity in message.entities:
        item: Dict[str, Any] = {"entity": entity.get("entity"), "value": entity.get("value")}
        start, end = entity.get("start"), entity.get("end")
        if text is None and isinstance(start, int) and isinstance(end, int):
            item.update(start=start, end=end)
        else:
            found = _find(target, entity.get("value"))
            if found is not None:
                item.update(start=found[0], end=found[1])
        entities.append(item)
    attributes = {
        name: prediction.get("value") for name, prediction in message.attributes.items()
        if isinstance(prediction, Mapping)
    }
    return {"intent": message.intent, "entities": entities, "attributes": attributes}


def is_fallback(message: LoggedMessage) -> bool:
    return message.intent == FALLBACK_INTENT or any(
        reply.get("action") in FALLBACK_ACTIONS for reply in message.replies
    )


def latest_search_with_results(messages: Sequence[LoggedMessage]) -> Optional[LoggedMessage]:
    for message in reversed(messages):
        if _is_search(message) and shown_product_ids(message):
            return message
    return None


def shown_product_ids(message: LoggedMessage) -> List[str]:
    """The products the replies to this message showed as cards, in order."""
    ids: List[str] = []
    for reply in message.replies:
        if reply.get("custom_type") == CARDS:
            ids.extend(str(i) for i in reply.get("product_ids") or ())
    return ids


def _is_search(message: LoggedMessage) -> bool:
    actions = {reply.get("action") for reply in message.replies}
    return SEARCH_ACTION in actions or message.intent in SEARCH_INTENTS


def _offered(message: LoggedMessage) -> bool:
    """The bot's answer ended with a yes/no offer (the `pending_offer` slot set, or Yes/No buttons)."""
    for reply in message.replies:
        payloads = {b.get("payload") for b in reply.get("buttons") or () if isinstance(b, Mapping)}
        if reply.get("offer") or {"/affirm", "/deny"} & payloads:
            return True
    return False


def _corrected_values(message: LoggedMessage) -> Dict[str, Any]:
    """The gender / age group the correcting message states: values the bot would act on, not guesses."""
    return {
        name: prediction.get("value") for name, prediction in message.attributes.items()
        if name in CORRECTED_ATTRIBUTES and isinstance(prediction, Mapping)
        and prediction.get("value") not in NEUTRAL_VALUES and prediction.get("value") is not None
        and acted_on(name, prediction.get("confidence"))
    }


def _within_window(earlier: LoggedMessage, new: LoggedMessage) -> bool:
    return timedelta(0) <= _aware(new.created_at) - _aware(earlier.created_at) <= REACTION_WINDOW


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes for what was stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _find(text: str, value: Any) -> Optional[tuple]:
    if not isinstance(value, str) or not value.strip():
        return None
    at = text.lower().find(value.lower())
    return (at, at + len(value)) if at >= 0 else None


def _key(text: str) -> str:
    return " ".join((text or "").lower().split())


def _quote(text: str, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return f'"{text if len(text) <= limit else text[: limit - 1] + "…"}"'
