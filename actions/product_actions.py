"""Actions about products already found or named: details, stock, similar items and comparison."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions import conversation_state as state
from actions import payloads, settings
from actions.base import ShopAction
from actions.catalog.db import session_for
from actions.catalog.models import Product
from actions.catalog_handle import catalog
from actions.compare import compare_products, comparison_header, comparison_text
from actions.pointing import Pointing, point, shown_products
from actions.references import parse_positions
from actions.replies import conversation as say
from actions.replies.products import product_details, with_list
from actions.request import ShopperRequest
from actions.similar import find_similar

Events = List[Dict[str, Any]]


def products_or_ask(
    dispatcher: CollectingDispatcher, pointing: Pointing, question: str, button_template: str
) -> Optional[Product]:
    """The product a message points at; when it points at none (or at several versions of a named
    product), say why or ask which one, and return None."""
    problem = say.pointing_problem(pointing)
    if problem:
        dispatcher.utter_message(text=problem)
        return None
    if pointing.by_name and len(pointing.products) > 1:
        versions = [product for _, product in pointing.products]
        intro = say.named_versions(versions)
        dispatcher.utter_message(
            text=with_list(intro, versions), json_message=payloads.product_cards(versions, intro=intro)
        )
        return None
    if not pointing.products:
        dispatcher.utter_message(
            text=question, buttons=say.which_one_buttons(pointing.shown, button_template)
        )
        return None
    return pointing.products[0][1]


def shows_versions(pointing: Pointing) -> Events:
    """The slots after listing a named product's versions: they are on screen now."""
    if pointing.by_name and len(pointing.products) > 1:
        return state.show([p.id for _, p in pointing.products])
    return []


def offer_substitutes(
    dispatcher: CollectingDispatcher, session: Session, product: Product, size: Optional[str]
) -> Events:
    """Say the item (or size) is out of stock and show the nearest in-stock alternatives."""
    substitutes = find_similar(session, product, size)
    intro = say.out_of_stock_with_substitutes(product, size, bool(substitutes))
    if not substitutes:
        dispatcher.utter_message(text=intro)
        return [state.offer(None)]
    dispatcher.utter_message(
        text=with_list(intro, substitutes, 1, size),
        json_message=payloads.product_cards(substitutes, 1, size, intro=intro),
    )
    ids = [p.id for p in substitutes]
    return [*state.show(ids, ranked=ids), state.offer(None)]


class ActionProductDetails(ShopAction):
    def name(self) -> str:
        return "action_product_details"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        shop = catalog()
        request = state.request_of(tracker, shop.vocabulary)
        with session_for(shop.engine) as session:
            pointing = point(tracker, session, request)
            if (
                products_or_ask(
                    dispatcher,
                    pointing,
                    "Which one would you like to know more about?",
                    "tell me about the {} one",
                )
                is None
            ):
                return shows_versions(pointing)
            for position, product in pointing.products[:3]:
                dispatcher.utter_message(
                    text=product_details(product),
                    json_message=payloads.product_cards([product], max(position, 1)),
                )
            focus = pointing.products[0][1]
            events: Events = [state.focus(focus.id)]
            if focus.available():
                dispatcher.utter_message(text=say.OFFER_CART, buttons=say.CART_OR_SIMILAR)
                return events + [state.offer(state.CART_OFFER)]
            return events + offer_substitutes(dispatcher, session, focus, None)


class ActionCheckStock(ShopAction):
    def name(self) -> str:
        return "action_check_stock"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        shop = catalog()
        request = state.request_of(tracker, shop.vocabulary)
        with session_for(shop.engine) as session:
            pointing = point(tracker, session, request)
            product = products_or_ask(
                dispatcher, pointing, "Which one should I check?", "is the {} one in stock"
            )
            if product is None:
                return shows_versions(pointing)
            if request.colour and request.colour != product.colour and not pointing.by_name:
                return show_other_colour(dispatcher, session, product, request)
            size = request.size
            events: Events = [state.focus(product.id)]
            answer = say.stock_answer(product, size, request.quantity or 1)
            if product.available(size):
                dispatcher.utter_message(text=f"{answer} {say.OFFER_CART}", buttons=say.YES_NO_CART)
                return events + [state.offer(state.CART_OFFER)]
            dispatcher.utter_message(text=answer)
            return events + offer_substitutes(dispatcher, session, product, size)


def show_other_colour(
    dispatcher: CollectingDispatcher, session: Session, product: Product, request: ShopperRequest
) -> Events:
    """Each product has one colour: say so, and show the nearest in-stock items in the colour asked for."""
    colour = request.colour or ""
    alternatives = find_similar(session, product, request.size, colour=colour)
    intro = say.other_colour(product, colour, bool(alternatives))
    if not alternatives:
        dispatcher.utter_message(text=intro)
        return [state.focus(product.id)]
    dispatcher.utter_message(
        text=with_list(intro, alternatives, 1, request.size),
        json_message=payloads.product_cards(alternatives, 1, request.size, intro=intro),
    )
    ids = [p.id for p in alternatives]
    return state.show(ids, ranked=ids)


class ActionSimilarItems(ShopAction):
    def name(self) -> str:
        return "action_similar_items"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        shop = catalog()
        request = state.request_of(tracker, shop.vocabulary)
        with session_for(shop.engine) as session:
            pointing = point(tracker, session, request)
            problem = say.pointing_problem(pointing)
            if problem:
                dispatcher.utter_message(text=problem)
                return []
            reference = pointing.products[0][1] if pointing.products else None
            if reference is None:
                shown = shown_products(tracker, session)
                reference = shown[0] if shown else None
            if reference is None:
                dispatcher.utter_message(text=say.SIMILAR_TO_WHAT)
                return []
            exclude = state.shown_ids(tracker)
            similar = find_similar(
                session, reference, request.size, exclude=exclude, limit=settings.PAGE_SIZE
            )
            intro = say.similar_intro(reference, bool(similar))
            if not similar:
                dispatcher.utter_message(text=intro)
                return []
            dispatcher.utter_message(
                text=with_list(intro, similar, 1, request.size),
                json_message=payloads.product_cards(similar, 1, request.size, intro=intro),
            )
            ids = [p.id for p in similar]
            return state.show(ids, ranked=ids)


class ActionCompareProducts(ShopAction):
    def name(self) -> str:
        return "action_compare_products"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        shop = catalog()
        request = state.request_of(tracker, shop.vocabulary)
        with session_for(shop.engine) as session:
            shown = shown_products(tracker, session)
            if len(shown) < 2:
                dispatcher.utter_message(text=say.COMPARE_NEEDS_RESULTS)
                return []
            positions = parse_positions(request.text, len(shown), [p.colour for p in shown])
            if not positions and len(shown) <= 3:
                positions = list(range(1, len(shown) + 1))
            if any(p > len(shown) for p in positions):
                dispatcher.utter_message(text=say.compare_out_of_range(len(shown)))
                return []
            if len(positions) == 1:
                focus = state.focus_id(tracker)
                focus_position = next((i + 1 for i, p in enumerate(shown) if p.id == focus), None)
                if focus_position and focus_position != positions[0]:
                    positions = [focus_position, positions[0]]
            if not 2 <= len(positions) <= 3:
                dispatcher.utter_message(text=say.COMPARE_WHICH, buttons=say.COMPARE_BUTTONS)
                return []
            pairs = [(p, shown[p - 1]) for p in positions]
            comparison = compare_products(pairs)
            dispatcher.utter_message(
                text=comparison_text(pairs, comparison),
                json_message=payloads.comparison(
                    pairs, comparison.rows, comparison.verdict, intro=comparison_header(pairs)
                ),
            )
            return []
