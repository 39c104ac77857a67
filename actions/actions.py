"""The Rasa SDK actions. Each reads the search state from slots, does its work through the pure
modules (search, prices, references, compare, similar) and answers with plain text plus, where there
are products to show, a `custom` payload from actions/payloads.py."""

from __future__ import annotations

import abc
import logging
import re
import sys
import threading
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions import payloads, settings
from actions.catalog.db import ensure_catalog, products_by_id, session_for
from actions.catalog.models import ONE_SIZE, Product
from actions.compare import compare_products, comparison_text
from actions.prices import format_price
from actions.references import parse_positions
from actions.replies import join_words, product_details, product_lines, stock_note
from actions.search import (
    SearchQuery,
    SearchResult,
    ShopperRequest,
    build_query,
    describe_dropped,
    describe_query,
    distinct_catalog_values,
    needs_clarification,
    read_attributes,
    run_search,
    text_scores,
)
from actions.search import requested_size as search_requested_size
from actions.similar import available, find_similar
from actions.vocabulary import Vocabulary, build_vocabulary, load_synonyms

logger = logging.getLogger(__name__)

_catalog_lock = threading.Lock()
_catalog: Dict[str, Any] = {}


def catalog() -> Tuple[Engine, Vocabulary]:
    """The catalog engine and its vocabulary, opened (and the demo catalog built) on first use."""
    with _catalog_lock:
        if "engine" not in _catalog:
            engine = ensure_catalog()
            with session_for(engine) as session:
                values = distinct_catalog_values(session)
            _catalog["engine"] = engine
            _catalog["vocabulary"] = build_vocabulary(
                load_synonyms(), values["types"], values["colours"], values["materials"], values["brands"]
            )
        return _catalog["engine"], _catalog["vocabulary"]


def reset_catalog_cache() -> None:
    """Forget the opened catalog (tests point SHOPCUE_CATALOG_DB at a new file)."""
    with _catalog_lock:
        _catalog.clear()


# --- reading the tracker ---------------------------------------------------------------------------


def message_text(tracker: Tracker) -> str:
    """The shopper's words, cut to a sane length. A button payload ("/add_to_cart{...}") has none: its
    entities carry everything, and its JSON must not be read as words (a size "8" is no position)."""
    text = tracker.latest_message.get("text") or ""
    if text.startswith("/"):
        return ""
    return text[: settings.MAX_MESSAGE_CHARS]


def shopper_request(tracker: Tracker) -> ShopperRequest:
    """The latest message as the search reads it; a missing `attributes` key stays None (unknown)."""
    message = tracker.latest_message or {}
    text = message_text(tracker)
    entities = []
    for entity in message.get("entities") or []:
        value = entity.get("value")
        if entity.get("entity") and value is not None:
            value = str(value)[: settings.MAX_MESSAGE_CHARS]
            entities.append((str(entity["entity"]), value))
    attributes = message.get("attributes")
    return ShopperRequest(
        text=text, entities=tuple(entities), attributes=attributes if isinstance(attributes, dict) else None
    )


def intent_name(tracker: Tracker) -> str:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""


def slot_list(tracker: Tracker, name: str) -> List[Any]:
    value = tracker.get_slot(name)
    return list(value) if isinstance(value, list) else []


def was_truncated(tracker: Tracker) -> bool:
    return len(tracker.latest_message.get("text") or "") > settings.MAX_MESSAGE_CHARS


def shown_products(tracker: Tracker, session: Session) -> List[Product]:
    return products_by_id(session, [str(pid) for pid in slot_list(tracker, "shown_ids")])


def referenced_products(
    tracker: Tracker,
    session: Session,
    allow_focus: bool = True,
) -> Tuple[List[Tuple[int, Product]], Optional[str]]:
    """The (position, product) pairs a message points at: by position ("the second one"), else the
    product in focus ("it"), else the only product shown. Returns a problem text instead when the
    reference is out of range or ambiguous."""
    shown = shown_products(tracker, session)
    positions = parse_positions(message_text(tracker), len(shown), [p.colour for p in shown])
    if positions:
        if not shown:
            return [], "I haven't shown you any products yet. What are you looking for?"
        outside = [p for p in positions if p > len(shown)]
        if outside:
            return (
                [],
                f"I only showed {len(shown)} result{'s' if len(shown) != 1 else ''}. "
                f"Which one did you mean (1-{len(shown)})?",
            )
        return [(p, shown[p - 1]) for p in positions], None
    focus = tracker.get_slot("focus_id")
    if allow_focus and focus:
        found = products_by_id(session, [str(focus)])
        if found:
            position = next((i + 1 for i, p in enumerate(shown) if p.id == found[0].id), 0)
            return [(position, found[0])], None
    if len(shown) == 1:
        return [(1, shown[0])], None
    if not shown:
        return [], "I haven't shown you any products yet. What are you looking for?"
    return [], None


def products_or_ask(
    dispatcher: CollectingDispatcher, tracker: Tracker, session: Session, question: str, button_template: str
) -> List[Tuple[int, Product]]:
    """The products a message points at; when it points at none, say why or ask which one (with buttons)."""
    products, problem = referenced_products(tracker, session)
    if problem:
        dispatcher.utter_message(text=problem)
        return []
    if not products:
        count = len(slot_list(tracker, "shown_ids"))
        dispatcher.utter_message(text=question, buttons=which_one_buttons(count, button_template))
    return products


def which_one_buttons(count: int, template: str) -> List[Dict[str, str]]:
    """Quick replies naming each shown result; `template` has a {} for "first", "second", ..."""
    ordinals = ["first", "second", "third", "fourth", "fifth"]
    return [
        {"title": f"The {ordinal} one", "payload": template.format(ordinal)}
        for ordinal in ordinals[: min(count, len(ordinals))]
    ]


# What a broken or unreachable catalog raises: database errors, a bad path, a missing database driver.
CATALOG_ERRORS = (SQLAlchemyError, OSError, ImportError)


class ShopAction(Action, metaclass=abc.ABCMeta):
    """An action that answers sanely when the catalog database fails, instead of a server error."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict]: ...

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        try:
            return self.act(dispatcher, tracker, domain)
        except CATALOG_ERRORS:
            logger.exception("catalog error in %s", self.name())
            dispatcher.utter_message(
                text="Sorry, I can't reach our product catalog right now. Please try again in a moment, "
                'or say "talk to a person".'
            )
            return []


# --- search ----------------------------------------------------------------------------------------

CLARIFY_OPTIONS: Dict[Tuple[str, str], List[Tuple[str, str]]] = {
    ("female", "adult"): [
        ("Jewellery", "jewellery"),
        ("Beauty", "beauty"),
        ("Home", "home and kitchen"),
        ("Books", "books"),
    ],
    ("male", "adult"): [
        ("Gadgets", "electronics"),
        ("Watches", "watch"),
        ("Sports", "sports"),
        ("Books", "books"),
    ],
    ("", "adult"): [
        ("Home", "home and kitchen"),
        ("Gadgets", "electronics"),
        ("Books", "books"),
        ("Gift hampers", "gift hamper"),
    ],
    ("", "teen"): [
        ("Gadgets", "electronics"),
        ("Clothes", "clothing"),
        ("Sports", "sports"),
        ("Books", "books"),
    ],
    ("", "kid"): [("Toys", "toys"), ("Books", "books"), ("Clothes", "clothing"), ("Sports", "sports")],
    ("", "baby"): [
        ("Baby gift sets", "baby gift set"),
        ("Soft toys", "teddy bear"),
        ("Picture books", "picture book"),
        ("Baby clothes", "baby bodysuit"),
    ],
    ("", ""): [
        ("Toys", "toys"),
        ("Gadgets", "electronics"),
        ("Jewellery", "jewellery"),
        ("Home", "home and kitchen"),
    ],
}


def clarify_buttons(query: SearchQuery) -> List[Dict[str, str]]:
    gender = query.gender or ""
    age = query.age_group or ""
    options = (
        CLARIFY_OPTIONS.get((gender, age)) or CLARIFY_OPTIONS.get(("", age)) or CLARIFY_OPTIONS[("", "")]
    )
    buttons = [
        {"title": title, "payload": f'/search_product{{"product_type": "{value}"}}'}
        for title, value in options
    ]
    if query.max_price is None:
        buttons.append({"title": "Under $30", "payload": '/search_product{"price": "under $30"}'})
    return buttons


def clarify_question(query: SearchQuery) -> str:
    pronoun = {"female": "she", "male": "he"}.get(query.gender or "", "they")
    verb = "do" if pronoun == "they" else "does"
    if query.recipient:
        return (
            f"Happy to help you find something for your {query.recipient}! What {verb} {pronoun} like? "
            f"Pick one below, or tell me a budget."
        )
    if query.gift:
        return "Happy to help with a gift! Who is it for, and what do they like? Pick one below or tell me."
    return 'What are you shopping for? Pick a department below, or tell me the product (e.g. "red trainers").'


def search_mode(
    tracker: Tracker, request: ShopperRequest, previous: Optional[SearchQuery], vocabulary: Vocabulary
) -> bool:
    """True when the message refines the previous search rather than starting a new one."""
    if previous is None:
        return False
    if intent_name(tracker) == "refine_search":
        return True
    if previous.asked_to_clarify and not previous.has_product():
        return True  # the answer to our clarifying question
    names_product = bool(request.values("product_type") or request.values("brand")) or any(
        vocabulary.find_product(request.text)
    )
    if names_product:
        return False
    refines = any(request.values(kind) for kind in ("color", "size", "price", "material", "feature"))
    return refines and not request.values("recipient")


EXTREME = {"cheaper": "cheapest", "pricier": "priciest"}


class ActionSearchProducts(ShopAction):
    """A new search or a refinement ("cheaper", "in blue", "for a girl instead", "under 30")."""

    def name(self) -> str:
        return "action_search_products"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, vocabulary = catalog()
        request = shopper_request(tracker)
        previous = SearchQuery.from_state(tracker.get_slot("search_state"))
        refining = search_mode(tracker, request, previous, vocabulary)
        with session_for(engine) as session:
            shown_prices = [p.price for p in shown_products(tracker, session)] if refining else []
            query, notes = build_query(request, vocabulary, previous if refining else None, shown_prices)
            preface: List[str] = []
            if was_truncated(tracker):
                preface.append("That's a long message, so I read only the start of it.")
            if notes.ignored_price:
                preface.append(f"I ignored the price you gave: {notes.ignored_price}.")

            if needs_clarification(query):
                if not (query.gift or query.recipient or query.gender or query.age_group or refining) and (
                    not request.entities
                ):
                    preface.append("I couldn't tell which product you're after.")
                dispatcher.utter_message(
                    text=" ".join(preface + [clarify_question(query)]), buttons=clarify_buttons(query)
                )
                asked = replace(query, asked_to_clarify=True).to_state()
                return [SlotSet("search_state", asked), *attribute_slots(query)]

            result = run_search(session, query, vocabulary)
            if notes.compared_to_shown and (not result.products or "price" in result.dropped):
                # Nothing cheaper (or pricier) exists: say so and keep the search as it was.
                dispatcher.utter_message(
                    text=" ".join(
                        preface
                        + [
                            f"Those are already the {EXTREME[notes.compared_to_shown]} "
                            f"options for {describe_query(previous or query)}; I have nothing "
                            f"{notes.compared_to_shown} that matches."
                        ]
                    )
                )
                return []
            return self.reply(dispatcher, tracker, result, query, preface, refining)

    def reply(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        result: SearchResult,
        query: SearchQuery,
        preface: List[str],
        refining: bool,
    ) -> List[Dict]:
        state = {**query.to_state(), "asked_to_clarify": True}
        events: List[Dict] = [SlotSet("search_state", state), *attribute_slots(query)]
        if not result.products:
            what = describe_query(query)
            if not result.text_matched and not (query.product_type or query.category):
                text = (
                    f"Sorry, we don't sell {what} - I found nothing like that in our catalog. "
                    f"We have clothing, shoes, toys, baby things, electronics, beauty, jewellery, "
                    f"home and kitchen, sports, books, gifts and pet supplies."
                )
            else:
                text = f"Sorry, I couldn't find any {what} in our catalog."
            dispatcher.utter_message(text=" ".join(preface + [text]))
            return events + [SlotSet("ranked_ids", []), SlotSet("shown_ids", []), SlotSet("focus_id", None)]

        page = result.products[: settings.PAGE_SIZE]
        what = describe_query(result.query)
        if result.dropped:
            dropped = join_words([describe_dropped(c, query) for c in result.dropped])
            intro = (
                f"I couldn't find {describe_query(query)} with everything you asked for, so I dropped "
                f"{dropped}. Here are the closest matches:"
            )
        else:
            recipient = (
                f" for your {query.recipient}" if query.recipient and len(query.recipient) < 40 else ""
            )
            intro = f"Here's what I found for {what}{recipient}:"
        lines = [*preface, intro, product_lines(page, 1, result.query.size)]
        events += [
            SlotSet("ranked_ids", [p.id for p in result.products]),
            SlotSet("shown_ids", [p.id for p in page]),
            SlotSet("focus_id", None),
        ]
        buttons = (
            [{"title": "Show more", "payload": "/show_more"}] if len(result.products) > len(page) else []
        )
        if len(page) >= 2:
            buttons.append({"title": "Compare the first two", "payload": "compare the first two"})
        if query.gift and tracker.get_slot("gift_wrap") is None:
            lines.append("Any of these can be gift-wrapped. Would you like gift wrap?")
            buttons = [
                {"title": "Yes, gift wrap", "payload": "/affirm"},
                {"title": "No thanks", "payload": "/deny"},
            ] + buttons
            events.append(SlotSet("pending_offer", "gift_wrap"))
        else:
            events.append(SlotSet("pending_offer", None))
        dispatcher.utter_message(
            text="\n".join(lines),
            buttons=buttons or None,
            json_message=payloads.product_cards(page, 1, result.query.size),
        )
        return events


def attribute_slots(query: SearchQuery) -> List[Dict]:
    return [
        SlotSet("recipient_gender", query.gender),
        SlotSet("recipient_age_group", query.age_group),
        SlotSet("gift", bool(query.gift)),
    ]


class ActionShowMore(ShopAction):
    def name(self) -> str:
        return "action_show_more"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, _ = catalog()
        ranked = [str(pid) for pid in slot_list(tracker, "ranked_ids")]
        shown = [str(pid) for pid in slot_list(tracker, "shown_ids")]
        if not ranked:
            dispatcher.utter_message(text="There's nothing to show more of yet. What are you looking for?")
            return []
        start = ranked.index(shown[-1]) + 1 if shown and shown[-1] in ranked else 0
        next_ids = ranked[start : start + settings.PAGE_SIZE]
        query = SearchQuery.from_state(tracker.get_slot("search_state")) or SearchQuery()
        if not next_ids:
            dispatcher.utter_message(
                text=f"That's everything I have for {describe_query(query)}. Want to change the search, "
                f"for example a different colour or price?"
            )
            return []
        with session_for(engine) as session:
            page = products_by_id(session, next_ids)
            first_position = start + 1
            dispatcher.utter_message(
                text=f"Here are {len(page)} more {describe_query(query)} "
                f"(results {first_position}-{first_position + len(page) - 1} of {len(ranked)}):\n"
                + product_lines(page, 1, query.size),
                json_message=payloads.product_cards(page, 1, query.size),
            )
        return [SlotSet("shown_ids", [p.id for p in page]), SlotSet("focus_id", None)]


class ActionProductDetails(ShopAction):
    def name(self) -> str:
        return "action_product_details"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, _ = catalog()
        with session_for(engine) as session:
            products = products_or_ask(
                dispatcher, tracker, session,
                "Which one would you like to know more about?",
                "tell me about the {} one",
            )
            if not products:
                return []
            events: List[Dict] = []
            for position, product in products[:3]:
                dispatcher.utter_message(
                    text=product_details(product),
                    json_message=payloads.product_cards([product], max(position, 1)),
                )
            focus = products[0][1]
            if focus.in_stock:
                dispatcher.utter_message(
                    text="Shall I add it to your cart?",
                    buttons=[
                        {"title": "Add to cart", "payload": "/affirm"},
                        {"title": "Similar items", "payload": "/similar_items"},
                    ],
                )
                events.append(SlotSet("pending_offer", "add_to_cart"))
            else:
                events += offer_substitutes(dispatcher, session, focus, None)
            return [SlotSet("focus_id", focus.id), *events]


def offer_substitutes(
    dispatcher: CollectingDispatcher,
    session: Session,
    product: Product,
    size: Optional[str],
) -> List[Dict]:
    """Say the item (or size) is out of stock and show the nearest in-stock alternatives."""
    substitutes = find_similar(session, product, size)
    where = f" in size {size}" if size and product.sizes != [ONE_SIZE] else ""
    if not substitutes:
        dispatcher.utter_message(
            text=f"Sorry, {product.title} is out of stock{where}, and I have nothing "
            f"similar in stock right now."
        )
        return [SlotSet("pending_offer", None)]
    dispatcher.utter_message(
        text=f"Sorry, {product.title} is out of stock{where}. Here are similar items that are in stock:\n"
        + product_lines(substitutes, 1, size),
        json_message=payloads.product_cards(substitutes, 1, size),
    )
    return [
        SlotSet("shown_ids", [p.id for p in substitutes]),
        SlotSet("ranked_ids", [p.id for p in substitutes]),
        SlotSet("focus_id", None),
        SlotSet("pending_offer", None),
    ]


def other_colour(
    dispatcher: CollectingDispatcher,
    session: Session,
    product: Product,
    colour: str,
    size: Optional[str],
) -> List[Dict]:
    """Each product has one colour: say so, and show the nearest in-stock items in the colour asked for."""
    alternatives = find_similar(session, product, size, colour=colour)
    if not alternatives:
        dispatcher.utter_message(
            text=f"{product.title} only comes in {product.colour}, and I have nothing similar in {colour} "
            f"in stock right now."
        )
        return [SlotSet("focus_id", product.id)]
    dispatcher.utter_message(
        text=f"{product.title} only comes in {product.colour}. Here are similar {colour} ones in stock:\n"
        + product_lines(alternatives, 1, size),
        json_message=payloads.product_cards(alternatives, 1, size),
    )
    ids = [p.id for p in alternatives]
    return [SlotSet("shown_ids", ids), SlotSet("ranked_ids", ids), SlotSet("focus_id", None)]


def requested_size(tracker: Tracker, vocabulary: Vocabulary) -> Optional[str]:
    return search_requested_size(shopper_request(tracker), vocabulary)


def size_label(product: Product, size: Optional[str]) -> str:
    """The catalog's own spelling of a requested size ("m" -> "M"), or "one size"."""
    return next((s for s in product.sizes if size and s.upper() == size.upper()), ONE_SIZE)


def size_reply(product: Product, size: str) -> Tuple[bool, str]:
    """(available, answer) for one product in one size."""
    sizes = [s for s in product.sizes if s != ONE_SIZE]
    if not sizes:
        return product.in_stock, f"{product.title} is one size, and it's {stock_note(product)}."
    if size.upper() not in {s.upper() for s in sizes}:
        return False, f"{product.title} doesn't come in size {size}; it comes in {', '.join(sizes)}."
    note = stock_note(product, size)
    ok = not note.endswith("out of stock")
    return (
        ok,
        f"Yes, {product.title} is in stock in size {size} ({note.split(': ')[-1]})."
        if ok
        else f"{product.title} is {note.replace(':', '')}.",
    )


class ActionCheckStock(ShopAction):
    def name(self) -> str:
        return "action_check_stock"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, vocabulary = catalog()
        size = requested_size(tracker, vocabulary)
        with session_for(engine) as session:
            products = products_or_ask(
                dispatcher, tracker, session,
                "Which one should I check?",
                "is the {} one in stock",
            )
            if not products:
                return []
            position, product = products[0]
            colour_value = shopper_request(tracker).first("color")
            colour = vocabulary.colour(colour_value) if colour_value else None
            if colour and colour != product.colour:
                return other_colour(dispatcher, session, product, colour, size)
            if size:
                ok, answer = size_reply(product, size)
            else:
                ok = product.in_stock
                answer = (
                    f"Yes, {product.title} is {stock_note(product)}."
                    if ok
                    else f"{product.title} is out of stock."
                )
                sized = [s for s, q in product.stock_by_size.items() if q > 0 and s != ONE_SIZE]
                if ok and sized:
                    answer += f" Sizes available: {', '.join(sized)}."
            wanted = requested_quantity(tracker)
            if ok and wanted > 1:
                have = (
                    product.stock_by_size.get(size_label(product, size), 0) if size else product.total_stock
                )
                answer += (
                    f" There are enough for {wanted}."
                    if have >= wanted
                    else f" But only {have} left, not {wanted}."
                )
            events: List[Dict] = [SlotSet("focus_id", product.id)]
            if ok:
                dispatcher.utter_message(
                    text=answer + " Shall I add it to your cart?",
                    buttons=[
                        {"title": "Add to cart", "payload": "/affirm"},
                        {"title": "No thanks", "payload": "/deny"},
                    ],
                )
                return events + [SlotSet("pending_offer", "add_to_cart")]
            dispatcher.utter_message(text=answer)
            return events + offer_substitutes(dispatcher, session, product, size)


def add_to_cart(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    session: Session,
    product: Product,
    size: Optional[str],
    quantity: int = 1,
) -> List[Dict]:
    sizes = [s for s in product.sizes if s != ONE_SIZE]
    if sizes and not size:
        in_stock = [s for s in sizes if product.stock_by_size.get(s, 0) > 0]
        if not in_stock:
            return offer_substitutes(dispatcher, session, product, None)
        dispatcher.utter_message(
            text=f"Which size of {product.title}? In stock: {', '.join(in_stock)}.",
            buttons=[{"title": s, "payload": f'/add_to_cart{{"size": "{s}"}}'} for s in in_stock[:8]],
        )
        return [SlotSet("focus_id", product.id), SlotSet("pending_offer", None)]
    if sizes and size and size.upper() not in {s.upper() for s in sizes}:
        dispatcher.utter_message(
            text=f"{product.title} doesn't come in size {size}; it comes in "
            f"{', '.join(sizes)}. Which size would you like?"
        )
        return [SlotSet("focus_id", product.id)]
    if not available(product, size if sizes else None):
        return [SlotSet("focus_id", product.id), *offer_substitutes(dispatcher, session, product, size)]
    label = size_label(product, size)
    cart = [item for item in slot_list(tracker, "cart") if isinstance(item, dict)]
    available_qty = product.stock_by_size.get(label, product.total_stock)
    capped = quantity > available_qty
    quantity = max(1, min(quantity, available_qty))
    cart.append(
        {
            "id": product.id,
            "title": product.title,
            "size": label,
            "quantity": quantity,
            "price": round(product.price, 2),
        }
    )
    total = sum(item.get("price", 0) * item.get("quantity", 1) for item in cart)
    count = sum(int(item.get("quantity", 1)) for item in cart)
    size_text = f" (size {label})" if label != ONE_SIZE else ""
    qty_text = f"{quantity} x " if quantity > 1 else ""
    if capped:
        qty_text = f"the last {quantity} (that's all we have) of " if quantity > 1 else "the last one of "
    text = (
        f"Added {qty_text}{product.title}{size_text} to your cart. You have {count} "
        f"item{'s' if count != 1 else ''} in your cart, {format_price(total)} in total."
    )
    events: List[Dict] = [
        SlotSet("cart", cart),
        SlotSet("focus_id", product.id),
        SlotSet("pending_offer", None),
    ]
    if tracker.get_slot("gift") and tracker.get_slot("gift_wrap") is None:
        text += " Would you like it gift-wrapped?"
        events[-1] = SlotSet("pending_offer", "gift_wrap")
        dispatcher.utter_message(
            text=text,
            buttons=[
                {"title": "Yes, gift wrap", "payload": "/affirm"},
                {"title": "No thanks", "payload": "/deny"},
            ],
        )
    else:
        dispatcher.utter_message(text=text)
    return events


def requested_quantity(tracker: Tracker) -> int:
    value = shopper_request(tracker).first("quantity")
    if not value:
        return 1
    match = re.search(r"\d+", value)
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "a pair": 1, "a couple": 2}
    if match:
        return max(1, min(int(match.group(0)), 20))
    return words.get(value.strip().lower(), 1)


class ActionAddToCart(ShopAction):
    def name(self) -> str:
        return "action_add_to_cart"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, vocabulary = catalog()
        size = requested_size(tracker, vocabulary)
        with session_for(engine) as session:
            products = products_or_ask(
                dispatcher, tracker, session,
                "Which one should I add to your cart?",
                "add the {} one to my cart",
            )
            if not products:
                return []
            return add_to_cart(
                dispatcher, tracker, session, products[0][1], size, requested_quantity(tracker)
            )


class ActionCompareProducts(ShopAction):
    def name(self) -> str:
        return "action_compare_products"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, _ = catalog()
        with session_for(engine) as session:
            shown = shown_products(tracker, session)
            if len(shown) < 2:
                dispatcher.utter_message(
                    text="Let's find some products first, then I can compare them. What are you looking for?"
                )
                return []
            positions = parse_positions(message_text(tracker), len(shown), [p.colour for p in shown])
            if not positions and len(shown) <= 3:
                positions = list(range(1, len(shown) + 1))
            outside = [p for p in positions if p > len(shown)]
            if outside:
                dispatcher.utter_message(
                    text=f"I only showed {len(shown)} results. Which two or three "
                    f"should I compare (1-{len(shown)})?"
                )
                return []
            if len(positions) == 1:
                focus = tracker.get_slot("focus_id")
                focus_position = next((i + 1 for i, p in enumerate(shown) if p.id == focus), None)
                if focus_position and focus_position != positions[0]:
                    positions = [focus_position, positions[0]]
            if not 2 <= len(positions) <= 3:
                dispatcher.utter_message(
                    text='Which two or three should I compare? For example "compare 1 and 3".',
                    buttons=[
                        {"title": "Compare 1 and 2", "payload": "compare the first two"},
                        {"title": "Compare 1, 2 and 3", "payload": "compare the first three"},
                    ],
                )
                return []
            pairs = [(p, shown[p - 1]) for p in positions]
            comparison = compare_products(pairs)
            dispatcher.utter_message(
                text=comparison_text(pairs, comparison),
                json_message=payloads.comparison(pairs, comparison.rows, comparison.verdict),
            )
            return []


class ActionSimilarItems(ShopAction):
    def name(self) -> str:
        return "action_similar_items"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, vocabulary = catalog()
        size = requested_size(tracker, vocabulary)
        with session_for(engine) as session:
            products, problem = referenced_products(tracker, session)
            if problem:
                dispatcher.utter_message(text=problem)
                return []
            if not products:
                shown = shown_products(tracker, session)
                products = [(1, shown[0])] if shown else []
            if not products:
                dispatcher.utter_message(text="Similar to what? Tell me what you're looking for first.")
                return []
            reference = products[0][1]
            exclude = [str(pid) for pid in slot_list(tracker, "shown_ids")]
            similar = find_similar(session, reference, size, exclude=exclude, limit=settings.PAGE_SIZE)
            if not similar:
                dispatcher.utter_message(
                    text=f"I couldn't find anything in stock that's similar to {reference.title}."
                )
                return []
            dispatcher.utter_message(
                text=f"Similar to {reference.title}, in stock:\n" + product_lines(similar, 1, size),
                json_message=payloads.product_cards(similar, 1, size),
            )
            return [
                SlotSet("shown_ids", [p.id for p in similar]),
                SlotSet("ranked_ids", [p.id for p in similar]),
                SlotSet("focus_id", None),
            ]


class ActionClarifyLowConfidence(ShopAction):
    """The NLU was unsure (FallbackClassifier's `nlu_fallback`): never guess. Ask to rephrase and offer
    a person; if the message named a product, say whether we sell it and offer that search as a button."""

    def name(self) -> str:
        return "action_clarify_low_confidence"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        engine, vocabulary = catalog()
        request = shopper_request(tracker)
        buttons = [
            {"title": "Talk to a person", "payload": "/human_handoff"},
            {"title": "What can you do?", "payload": "/help"},
        ]
        words = request.joined("product_type")
        product_type, category = vocabulary.find_product(words or request.text)
        if product_type or category:
            value = product_type or category or ""
            dispatcher.utter_message(
                text=f"Sorry, I'm not sure I understood. Did you want to see {value}? If not, could you say "
                f"it another way, or would you like to talk to a person?",
                buttons=[
                    {"title": f"Show {value}", "payload": f'/search_product{{"product_type": "{value}"}}'}
                ]
                + buttons,
            )
            return []
        if words:
            with session_for(engine) as session:
                known = bool(
                    text_scores(session, [w for w in words.lower().split() if len(w) > 2][:3], vocabulary)
                )
            if not known:
                dispatcher.utter_message(
                    text=f"Sorry, we don't sell {words.strip()} - I found nothing like that in our catalog. "
                    f"Could you put it another way, or would you like to talk to a person?",
                    buttons=buttons,
                )
                return []
        dispatcher.utter_message(
            text="Sorry, I didn't quite get that. Could you say it another way, or would you like to talk to "
            "a person?",
            buttons=buttons,
        )
        return []


class ActionAnswerOffer(ShopAction):
    """Yes/no to whatever the bot last offered: gift wrap, or adding the product in focus to the cart."""

    def name(self) -> str:
        return "action_answer_offer"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> List[Dict]:
        offer = tracker.get_slot("pending_offer")
        yes = intent_name(tracker) == "affirm"
        if offer == "gift_wrap":
            dispatcher.utter_message(
                text="Done, your order will be gift-wrapped. Anything else?"
                if yes
                else "No problem, no gift wrap. Anything else?"
            )
            return [SlotSet("gift_wrap", yes), SlotSet("pending_offer", None)]
        if offer == "add_to_cart" and tracker.get_slot("focus_id"):
            if not yes:
                dispatcher.utter_message(
                    text="Okay. Want to see similar items or search for something else?",
                    buttons=[{"title": "Similar items", "payload": "/similar_items"}],
                )
                return [SlotSet("pending_offer", None)]
            engine, vocabulary = catalog()
            with session_for(engine) as session:
                found = products_by_id(session, [str(tracker.get_slot("focus_id"))])
                if found:
                    return add_to_cart(
                        dispatcher, tracker, session, found[0], requested_size(tracker, vocabulary)
                    )
        dispatcher.utter_message(
            text="Great! What can I find for you?" if yes else "Okay. Anything else I can look for?"
        )
        return [SlotSet("pending_offer", None)]


__all__ = [
    "ActionAddToCart",
    "ActionAnswerOffer",
    "ActionClarifyLowConfidence",
    "ActionCheckStock",
    "ActionCompareProducts",
    "ActionProductDetails",
    "ActionSearchProducts",
    "ActionShowMore",
    "ActionSimilarItems",
    "catalog",
    "read_attributes",
    "reset_catalog_cache",
]


# The action server (`rasa run actions --actions actions`) opens the catalog, building the demo
# catalog if there is none, before it starts answering; tests and tools open it on first use.
if "--actions" in sys.argv:
    try:
        catalog()
    except Exception:  # an unreachable DATABASE_URL: start anyway, retry on the first action, log why
        logger.exception("could not open the catalog at start-up")
