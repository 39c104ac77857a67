"""Search replies in words: what was searched, what was dropped, results, clarifying questions,
nothing found, and the notes on how a message was read."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from actions.payloads import button_payload
from actions.prices import format_price
from actions.query import COLOUR, TERMS, QueryNotes, SearchQuery
from actions.replies.products import join_words
from common.schema import AGE_GROUP, BRAND, GENDER, MATERIAL, PRICE, PRODUCT_TYPE, SIZE

DEPARTMENTS = (
    "clothing, shoes, toys, baby things, electronics, beauty, jewellery, home and kitchen, sports, books, "
    "gifts and pet supplies"
)
NOTHING_SHOWN = "I haven't shown you any products yet. What are you looking for?"

# Quick replies for the clarifying question, by (gender, age group) of the recipient: (title, product).
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
BUDGET_BUTTON = ("Under $30", "under $30")
SEARCH = "search_product"


def describe_query(query: SearchQuery) -> str:
    """A short phrase for what was searched: "blue trainers under $50", "gift ideas under $30"."""
    named = query.product_words or query.product_type or query.category or " ".join(query.terms)
    what = named or ("gift ideas" if query.gift else "products")
    parts = [p for p in (query.colour, query.material, query.brand) if p]
    phrase = " ".join(parts + [what])
    if query.exclude_colours or query.exclude_materials or query.exclude_brands:
        phrase += (
            " (not "
            + join_words([*query.exclude_colours, *query.exclude_materials, *query.exclude_brands]).replace(
                " and ", " or "
            )
            + ")"
        )
    if query.size:
        phrase += f" in size {query.size}"
    if query.min_price is not None and query.max_price is not None:
        phrase += f" between {format_price(query.min_price)} and {format_price(query.max_price)}"
    elif query.max_price is not None:
        phrase += f" under {format_price(query.max_price)}"
    elif query.min_price is not None:
        phrase += f" over {format_price(query.min_price)}"
    return phrase


def describe_dropped(constraint: str, query: SearchQuery) -> str:
    """The dropped constraint in the shopper's words ("the colour blue", "your price (under $50)")."""
    if constraint == TERMS:
        return "“" + " ".join(query.terms) + "”"
    if constraint == GENDER:
        return {"female": "women's/girls' only", "male": "men's/boys' only"}.get(query.gender or "", "gender")
    if constraint == PRICE:
        described = query.price.describe()
        return f"your price ({described})" if described else "your price"
    return {
        MATERIAL: f"the material ({query.material})",
        SIZE: f"size {query.size}",
        COLOUR: f"the colour {query.colour}",
        BRAND: f"the brand {query.brand}",
        AGE_GROUP: f"the age group ({query.age_group})",
    }.get(constraint, constraint)


def reading_notes(notes: QueryNotes, truncated: bool) -> List[str]:
    """Sentences before the answer saying how the message was read."""
    said = []
    if truncated:
        said.append("That's a long message, so I read only the start of it.")
    if notes.ignored_price:
        said.append(f"I ignored the price you gave: {notes.ignored_price}.")
    if notes.misspelled:
        typed, read_as = notes.misspelled
        said.append(f"I took “{typed}” to mean {read_as}.")
    return said


def results_intro(query: SearchQuery, run: SearchQuery, dropped: Sequence[str]) -> str:
    if dropped:
        return (
            f"I couldn't find {describe_query(query)} with everything you asked for, so I dropped "
            f"{join_words([describe_dropped(c, query) for c in dropped])}. Here are the closest matches:"
        )
    recipient = f" for your {query.recipient}" if query.recipient else ""
    return f"Here's what I found for {describe_query(run)}{recipient}:"


def nothing_found(query: SearchQuery, sold_here: bool) -> str:
    what = describe_query(query)
    if not sold_here:
        return (
            f"Sorry, we don't sell {what} - I found nothing like that in our catalog. We have {DEPARTMENTS}."
        )
    return f"Sorry, I couldn't find any {what} in our catalog."


def nothing_more_extreme(direction: str, query: SearchQuery) -> str:
    extreme = {"cheaper": "cheapest", "pricier": "priciest"}[direction]
    return (
        f"Those are already the {extreme} options for {describe_query(query)}; I have nothing "
        f"{direction} that matches."
    )


GIFT_WRAP_QUESTION = "Any of these can be gift-wrapped. Would you like gift wrap?"
COULD_NOT_TELL = "I couldn't tell which product you're after."


def clarify_question(query: SearchQuery) -> str:
    pronoun = {"female": "she", "male": "he"}.get(query.gender or "", "they")
    verb = "do" if pronoun == "they" else "does"
    budget = "" if query.has_budget() else ", or tell me a budget"
    if query.recipient:
        return (
            f"Happy to help you find something for your {query.recipient}! What {verb} {pronoun} like? "
            f"Pick one below{budget}."
        )
    if query.gift:
        return f"Happy to help with a gift! Who is it for, and what do they like? Pick one below{budget}."
    return 'What are you shopping for? Pick a department below, or tell me the product (e.g. "red trainers").'


def clarify_buttons(query: SearchQuery) -> List[Dict[str, str]]:
    gender, age = query.gender or "", query.age_group or ""
    options = (
        CLARIFY_OPTIONS.get((gender, age)) or CLARIFY_OPTIONS.get(("", age)) or CLARIFY_OPTIONS[("", "")]
    )
    buttons = [
        {"title": title, "payload": button_payload(SEARCH, {PRODUCT_TYPE: value})} for title, value in options
    ]
    if not query.has_budget():
        title, price = BUDGET_BUTTON
        buttons.append({"title": title, "payload": button_payload(SEARCH, {PRICE: price})})
    return buttons


def result_buttons(more: bool, count: int, gift_wrap: bool) -> List[Dict[str, str]]:
    buttons = [{"title": "Show more", "payload": "/show_more"}] if more else []
    if count >= 2:
        buttons.append({"title": "Compare the first two", "payload": "compare the first two"})
    if gift_wrap:
        buttons = [
            {"title": "Yes, gift wrap", "payload": "/affirm"},
            {"title": "No thanks", "payload": "/deny"},
        ] + buttons
    return buttons


def nothing_to_show_more() -> str:
    return "There's nothing to show more of yet. What are you looking for?"


def everything_shown(query: SearchQuery) -> str:
    return (
        f"That's everything I have for {describe_query(query)}. Want to change the search, "
        f"for example a different colour or price?"
    )


def more_intro(query: SearchQuery, first: int, count: int, total: int) -> str:
    return f"Here are {count} more {describe_query(query)} (results {first}-{first + count - 1} of {total}):"


def not_understood(product: Optional[str], unknown_words: Optional[str]) -> str:
    """The answer to a message the NLU was unsure about: never guess."""
    if product:
        return (
            f"Sorry, I'm not sure I understood. Did you want to see {product}? If not, could you say it "
            f"another way, or would you like to talk to a person?"
        )
    if unknown_words:
        return (
            f"Sorry, we don't sell {unknown_words} - I found nothing like that in our catalog. "
            f"Could you put it another way, or would you like to talk to a person?"
        )
    return (
        "Sorry, I didn't quite get that. Could you say it another way, or would you like to talk to a person?"
    )


def not_understood_buttons(product: Optional[str]) -> List[Dict[str, str]]:
    buttons = [
        {"title": "Talk to a person", "payload": "/human_handoff"},
        {"title": "What can you do?", "payload": "/help"},
    ]
    if product:
        buttons.insert(
            0, {"title": f"Show {product}", "payload": button_payload(SEARCH, {PRODUCT_TYPE: product})}
        )
    return buttons
