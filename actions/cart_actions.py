"""Actions that put things in the cart and answer the bot's offers (add to cart, gift wrap). The cart is
read from and written to the database by shopper (actions/cart_store.py); the `cart` slot mirrors it."""

from __future__ import annotations

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

AFFIRM = "affirm"


def add_to_cart(
    dispatcher: CollectingDispatcher, turn: Turn, product: Product, size: Optional[str], quantity: int = 1
) -> Events:
    """Add the product in a size it is made and stocked in, or ask which size, or offer substitutes."""
    if product.sized and not size:
        if not product.available():
            return offer_substitutes(dispatcher, turn, product, None)
        dispatcher.utter_message(text=say.which_size(product), buttons=say.size_buttons(product))
        return [state.focus(product.id), state.offer(None)]
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
        pointed, events = pointed_products(
            dispatcher, turn, "Which one should I add to your cart?", "add the {} one to my cart"
        )
        if not pointed:
            return events
        return add_to_cart(dispatcher, turn, pointed[0][1], turn.request.size, turn.request.quantity or 1)


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
