"""Actions that put things in the cart and answer the bot's offers (add to cart, gift wrap). The cart is
read from and written to the database by shopper (actions/cart_store.py); the `cart` slot mirrors it."""

from __future__ import annotations

import re
from typing import Optional

from rasa_sdk.executor import CollectingDispatcher

from actions import cart_store
from actions import conversation_state as state
from actions.base import Events, ShopAction, Turn
from actions.cart import add_line
from actions.catalog.models import Product
from actions.pointing import focused_product
from actions.product_actions import offer_substitutes, pointed_products
from actions.replies import conversation as say
from actions.request import ShopperRequest

AFFIRM = "affirm"
# Words around a size in an answer to "Which size?" ("a 10 please", "size M", "I'll take the UK 9").
SIZE_ANSWER_FILLER = frozenset({
    "a", "an", "the", "size", "in", "uk", "us", "eu", "please", "pls", "ok", "okay", "i", "i'll", "ill",
    "take", "want", "need", "it", "one", "make", "that",
})


def size_answer(request: ShopperRequest) -> Optional[str]:
    """The size a reply to "Which size of X?" gives ("10", "size 10", "a medium please"), or None when the
    message asks for something else (it names a product, a brand or a category: a new search)."""
    if request.product_type or request.category or request.brand:
        return None
    if request.size:
        return request.size
    words = [w for w in re.findall(r"[a-z0-9.'/]+", request.text.lower()) if w not in SIZE_ANSWER_FILLER]
    return words[0] if len(words) == 1 else None


def searched_size(turn: Turn, product: Product) -> Optional[str]:
    """The size the running search asked for ("running shoes in size 10"), when this product is made in it."""
    query = state.search_state(turn.tracker)
    size = query.size if query is not None else None
    return size if size and product.sized and product.makes_size(size) else None


def answer_size_question(dispatcher: CollectingDispatcher, turn: Turn) -> Optional[Events]:
    """When the bot just asked which size of the product in focus and the shopper named one, add it in
    that size (the events), else None: the message is a request of its own."""
    if state.pending_offer(turn.tracker) != state.SIZE_OFFER:
        return None
    size = size_answer(turn.request)
    product = focused_product(turn.tracker, turn.session) if size else None
    if product is None or not product.sized:
        return None
    return add_to_cart(dispatcher, turn, product, size, turn.request.quantity or 1)


def add_to_cart(
    dispatcher: CollectingDispatcher, turn: Turn, product: Product, size: Optional[str], quantity: int = 1
) -> Events:
    """Add the product in a size it is made and stocked in, or ask which size, or offer substitutes."""
    if product.sized and not size:
        if not product.available():
            return offer_substitutes(dispatcher, turn, product, None)
        dispatcher.utter_message(text=say.which_size(product), buttons=say.size_buttons(product))
        return [state.focus(product.id), state.offer(state.SIZE_OFFER)]
    if product.sized and size and not product.makes_size(size):
        dispatcher.utter_message(text=say.not_made_in(product, size))
        return [state.focus(product.id)]
    if not product.available(size):
        return [state.focus(product.id), *offer_substitutes(dispatcher, turn, product, size)]
    cart, changes = cart_store.load_cart(turn.session, turn.tracker.sender_id)
    addition = add_line(cart, product, product.size_label(size), quantity)
    cart_store.save_line(turn.session, turn.tracker.sender_id, addition.line)
    turn.session.commit()  # the re-check's fixes and the added line together
    offer_wrap = state.wants_gift(turn.tracker) and not state.gift_wrap_asked(turn.tracker)
    text = " ".join(filter(None, [say.cart_changes(changes), say.added_to_cart(addition, offer_wrap)]))
    dispatcher.utter_message(text=text, buttons=say.YES_NO_WRAP if offer_wrap else None)
    offer = state.GIFT_WRAP_OFFER if offer_wrap else None
    return [state.mirror_cart(addition.cart), state.focus(product.id), state.offer(offer)]


class ActionAddToCart(ShopAction):
    def name(self) -> str:
        return "action_add_to_cart"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        answered = answer_size_question(dispatcher, turn)
        if answered is not None:
            return answered
        pointed, events = pointed_products(
            dispatcher, turn, "Which one should I add to your cart?", "add the {} one to my cart"
        )
        if not pointed:
            return events
        product = pointed[0][1]
        size = turn.request.size or searched_size(turn, product)
        return add_to_cart(dispatcher, turn, product, size, turn.request.quantity or 1)


class ActionAnswerOffer(ShopAction):
    """Yes/no to whatever the bot last offered: gift wrap, or adding the product in focus to the cart."""

    def name(self) -> str:
        return "action_answer_offer"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        offer = state.pending_offer(turn.tracker)
        yes = turn.request.intent == AFFIRM
        if offer == state.GIFT_WRAP_OFFER:
            dispatcher.utter_message(text=say.gift_wrap_answer(yes))
            return [state.gift_wrap(yes), state.offer(None)]
        if offer == state.CART_OFFER and state.focus_id(turn.tracker):
            if not yes:
                dispatcher.utter_message(text=say.DECLINED_CART, buttons=say.SIMILAR_BUTTON)
                return [state.offer(None)]
            product = focused_product(turn.tracker, turn.session)
            if product is not None:
                return add_to_cart(dispatcher, turn, product, turn.request.size)
        dispatcher.utter_message(text=say.nothing_offered(yes))
        return [state.offer(None)]
