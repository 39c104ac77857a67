"""Follow-up replies in words: which product, stock answers, substitutes, the cart, offers, comparisons,
similar items and errors."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from actions.cart import FEWER, GONE, PRICE, SOLD_OUT, Addition, CartChange, CartLine, cart_total, item_count
from actions.catalog.models import ONE_SIZE, Product
from actions.payloads import button_payload
from actions.pointing import Pointing
from actions.prices import format_price
from actions.replies.products import sizes_in_stock, stock_note
from actions.replies.search import NOTHING_SHOWN
from common.schema import SIZE

CATALOG_DOWN = (
    "Sorry, I can't reach our product catalog right now. Please try again in a moment, "
    'or say "talk to a person".'
)
ORDINALS = ("first", "second", "third", "fourth", "fifth")
ADD_TO_CART = "add_to_cart"
YES_NO_CART = [{"title": "Add to cart", "payload": "/affirm"}, {"title": "No thanks", "payload": "/deny"}]
YES_NO_WRAP = [{"title": "Yes, gift wrap", "payload": "/affirm"}, {"title": "No thanks", "payload": "/deny"}]
CART_OR_SIMILAR = [
    {"title": "Add to cart", "payload": "/affirm"},
    {"title": "Similar items", "payload": "/similar_items"},
]
OFFER_CART = "Shall I add it to your cart?"


def pointing_problem(pointing: Pointing) -> Optional[str]:
    """Why a message points at no product, when the shopper should be told rather than asked."""
    if pointing.out_of_range:
        plural = "s" if pointing.shown != 1 else ""
        return f"I only showed {pointing.shown} result{plural}. Which one did you mean (1-{pointing.shown})?"
    if pointing.nothing_shown:
        return NOTHING_SHOWN
    return None


def which_one_buttons(count: int, template: str) -> List[Dict[str, str]]:
    """Quick replies naming each shown result; `template` has a {} for "first", "second", ..."""
    return [
        {"title": f"The {ordinal} one", "payload": template.format(ordinal)}
        for ordinal in ORDINALS[: min(count, len(ORDINALS))]
    ]


def named_versions(products: Sequence[Product]) -> str:
    return f"I have {len(products)} versions of that. Which one do you mean?"


# --- stock -----------------------------------------------------------------------------------------


def stock_answer(product: Product, size: Optional[str], wanted: int) -> str:
    """Whether it is in stock (in that size, and enough of it), as one answer."""
    if size and product.sized:
        if not product.makes_size(size):
            return (
                f"{product.title} doesn't come in size {size}; it comes in {', '.join(product.real_sizes)}."
            )
        label = product.size_label(size)
        if not product.available(size):
            return f"{product.title} is out of stock in size {label}."
        answer = (
            f"Yes, {product.title} is in stock in size {label} ({stock_note(product, size).split(': ')[-1]})."
        )
    elif size:
        answer = f"{product.title} is one size, and it's {stock_note(product)}."
        if not product.available():
            return answer
    elif not product.available():
        return f"{product.title} is out of stock."
    else:
        answer = f"Yes, {product.title} is {stock_note(product)}."
        if product.sized:
            answer += f" Sizes available: {', '.join(sizes_in_stock(product))}."
    if wanted > 1:
        have = product.quantity_for(size)
        answer += (
            f" There are enough for {wanted}." if have >= wanted else f" But only {have} left, not {wanted}."
        )
    return answer


def out_of_stock_with_substitutes(product: Product, size: Optional[str], found: bool) -> str:
    where = f" in size {size}" if size and product.sized else ""
    if not found:
        return (
            f"Sorry, {product.title} is out of stock{where}, and I have nothing similar in stock right now."
        )
    return f"Sorry, {product.title} is out of stock{where}. Here are similar items that are in stock:"


def other_colour(product: Product, colour: str, found: bool) -> str:
    if not found:
        return (
            f"{product.title} only comes in {product.colour}, and I have nothing similar in {colour} "
            f"in stock right now."
        )
    return f"{product.title} only comes in {product.colour}. Here are similar {colour} ones in stock:"


# --- cart --------------------------------------------------------------------------------------------


def which_size(product: Product) -> str:
    return f"Which size of {product.title}? In stock: {', '.join(sizes_in_stock(product))}."


def size_buttons(product: Product) -> List[Dict[str, str]]:
    return [
        {"title": size, "payload": button_payload(ADD_TO_CART, {SIZE: size})}
        for size in sizes_in_stock(product)[:8]
    ]


def not_made_in(product: Product, size: str) -> str:
    return (
        f"{product.title} doesn't come in size {size}; it comes in {', '.join(product.real_sizes)}. "
        f"Which size would you like?"
    )


def _item_name(line: CartLine) -> str:
    size_text = f" (size {line.size})" if line.size and line.size != ONE_SIZE else ""
    return f"{line.title}{size_text}"


def added_to_cart(addition: Addition, offer_wrap: bool) -> str:
    """What adding did to the product's line (a new line, more on a line it had, or nothing more when the
    line already holds all there is), then the cart's count and total."""
    line, added, name = addition.line, addition.added, _item_name(addition.line)
    if not added:
        first = (
            f"You already have the last {line.quantity} of {name} in your cart; that's all we have."
            if addition.capped
            else f"You already have {line.quantity} of {name} in your cart, the most I can add of one item."
        )
    elif added < line.quantity:
        all_we_have = " That's all we have." if addition.capped else ""
        first = f"Added {added} more of {name} to your cart, {line.quantity} of them now.{all_we_have}"
    else:
        qty_text = f"{line.quantity} x " if line.quantity > 1 else ""
        if addition.capped:
            last = f"the last {line.quantity} (that's all we have)" if line.quantity > 1 else "the last one"
            qty_text = f"{last} of "
        first = f"Added {qty_text}{name} to your cart."
    count = item_count(addition.cart)
    text = (
        f"{first} You have {count} item{'s' if count != 1 else ''} in your cart, "
        f"{format_price(cart_total(addition.cart))} in total."
    )
    return text + (" Would you like it gift-wrapped?" if offer_wrap else "")


def cart_changes(changes: Sequence[CartChange]) -> str:
    """What changed in the kept cart since the shopper last saw it (the catalog moved on), said once."""
    sentences = []
    for change in changes:
        before, after, name = change.before, change.after, _item_name(change.before)
        if change.kind == GONE:
            sentences.append(f"{name} is no longer sold, so I took it out of your cart.")
        elif change.kind == SOLD_OUT:
            sentences.append(f"{name} has sold out, so I took it out of your cart.")
        elif change.kind == FEWER and after is not None:
            sentences.append(
                f"Only {after.quantity} of {name} are left, so your cart holds {after.quantity}, "
                f"not {before.quantity}."
            )
        elif change.kind == PRICE and after is not None:
            sentences.append(
                f"{name} now costs {format_price(after.price)} (it was {format_price(before.price)})."
            )
    return " ".join(sentences)


def gift_wrap_answer(yes: bool) -> str:
    return (
        "Done, your order will be gift-wrapped. Anything else?"
        if yes
        else "No problem, no gift wrap. Anything else?"
    )


DECLINED_CART = "Okay. Want to see similar items or search for something else?"
SIMILAR_BUTTON = [{"title": "Similar items", "payload": "/similar_items"}]


def nothing_offered(yes: bool) -> str:
    return "Great! What can I find for you?" if yes else "Okay. Anything else I can look for?"


# --- compare and similar ------------------------------------------------------------------------------

COMPARE_NEEDS_RESULTS = "Let's find some products first, then I can compare them. What are you looking for?"
COMPARE_WHICH = 'Which two or three should I compare? For example "compare 1 and 3".'
COMPARE_BUTTONS = [
    {"title": "Compare 1 and 2", "payload": "compare the first two"},
    {"title": "Compare 1, 2 and 3", "payload": "compare the first three"},
]


def compare_out_of_range(shown: int) -> str:
    return f"I only showed {shown} results. Which two or three should I compare (1-{shown})?"


NOTHING_VIEWED = (
    "You haven't opened any product yet. Ask me about one (\"tell me about the first one\") or click its "
    "card, then I can compare it with the ones you look at next."
)


def no_other_viewed(current: Product) -> str:
    return (
        f"You haven't opened any other product besides {current.title} yet. Ask me about another one or "
        "click its card, and I can compare them."
    )


def only_one_other_viewed(other: Product) -> str:
    return f"You've only opened one other product so far: {other.title}. Here are the two side by side."


SIMILAR_TO_WHAT = "Similar to what? Tell me what you're looking for first."


def similar_intro(product: Product, found: bool) -> str:
    if not found:
        return f"I couldn't find anything in stock that's similar to {product.title}."
    return f"Similar to {product.title}, in stock:"
