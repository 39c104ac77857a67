"""Actions that put things in the cart and answer the bot's offers (add to cart, gift wrap)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions import conversation_state as state
from actions.base import ShopAction
from actions.cart import add_line
from actions.catalog.db import session_for
from actions.catalog.models import Product
from actions.catalog_handle import catalog
from actions.pointing import focused_product, point
from actions.product_actions import offer_substitutes, products_or_ask, shows_versions
from actions.replies import conversation as say

Events = List[Dict[str, Any]]
AFFIRM = "affirm"


def add_to_cart(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    session: Session,
    product: Product,
    size: Optional[str],
    quantity: int = 1,
) -> Events:
    """Add the product in a size it is made and stocked in, or ask which size, or offer substitutes."""
    if product.sized and not size:
        if not product.available():
            return offer_substitutes(dispatcher, session, product, None)
        dispatcher.utter_message(text=say.which_size(product), buttons=say.size_buttons(product))
        return [state.focus(product.id), state.offer(None)]
    if product.sized and size and not product.makes_size(size):
        dispatcher.utter_message(text=say.not_made_in(product, size))
        return [state.focus(product.id)]
    if not product.available(size):
        return [state.focus(product.id), *offer_substitutes(dispatcher, session, product, size)]
    cart, _, capped = add_line(state.cart(tracker), product, product.size_label(size), quantity)
    offer_wrap = state.wants_gift(tracker) and not state.gift_wrap_asked(tracker)
    dispatcher.utter_message(
        text=say.added_to_cart(cart[-1], cart, capped, offer_wrap),
        buttons=say.YES_NO_WRAP if offer_wrap else None,
    )
    return [
        state.save_cart(cart),
        state.focus(product.id),
        state.offer(state.GIFT_WRAP_OFFER if offer_wrap else None),
    ]


class ActionAddToCart(ShopAction):
    def name(self) -> str:
        return "action_add_to_cart"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        shop = catalog()
        request = state.request_of(tracker, shop.vocabulary)
        with session_for(shop.engine) as session:
            pointing = point(tracker, session, request)
            product = products_or_ask(
                dispatcher, pointing, "Which one should I add to your cart?", "add the {} one to my cart"
            )
            if product is None:
                return shows_versions(pointing)
            return add_to_cart(dispatcher, tracker, session, product, request.size, request.quantity or 1)


class ActionAnswerOffer(ShopAction):
    """Yes/no to whatever the bot last offered: gift wrap, or adding the product in focus to the cart."""

    def name(self) -> str:
        return "action_answer_offer"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        offer = state.pending_offer(tracker)
        yes = ((tracker.latest_message or {}).get("intent") or {}).get("name") == AFFIRM
        if offer == state.GIFT_WRAP_OFFER:
            dispatcher.utter_message(text=say.gift_wrap_answer(yes))
            return [state.gift_wrap(yes), state.offer(None)]
        if offer == state.CART_OFFER and state.focus_id(tracker):
            if not yes:
                dispatcher.utter_message(text=say.DECLINED_CART, buttons=say.SIMILAR_BUTTON)
                return [state.offer(None)]
            shop = catalog()
            request = state.request_of(tracker, shop.vocabulary)
            with session_for(shop.engine) as session:
                product = focused_product(tracker, session)
                if product is not None:
                    return add_to_cart(dispatcher, tracker, session, product, request.size)
        dispatcher.utter_message(text=say.nothing_offered(yes))
        return [state.offer(None)]
