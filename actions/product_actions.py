"""Actions about products already found or named: details, stock, similar items and comparison."""

from __future__ import annotations

from typing import List, Optional, Tuple

from rasa_sdk.executor import CollectingDispatcher

from actions import conversation_state as state
from actions import payloads, settings
from actions.base import Events, ShopAction, Turn
from actions.catalog.db import products_by_id
from actions.catalog.models import Product
from actions.compare import (
    compare_products,
    comparison_header,
    comparison_shared_line,
    comparison_text,
    shared_values,
)
from actions.pointing import focused_product, point, shown_products
from actions.references import mentions_viewed, parse_positions
from actions.replies import conversation as say
from actions.replies.products import product_details
from actions.search_actions import list_products
from actions.similar import find_similar
from actions.viewed import earlier_views


def pointed_products(
    dispatcher: CollectingDispatcher, turn: Turn, question: str, button_template: str
) -> Tuple[List[Tuple[int, Product]], Events]:
    """The (position, product) pairs a message points at. When it points at none, say why or ask which
    one (a button per result); when it names a product sold in several versions, list them to choose."""
    pointing = point(turn.tracker, turn.session, turn.request)
    problem = say.pointing_problem(pointing)
    if problem:
        dispatcher.utter_message(text=problem)
        return [], []
    if pointing.by_name and len(pointing.products) > 1:
        versions = [product for _, product in pointing.products]
        list_products(dispatcher, versions, say.named_versions(versions))
        return [], state.show([p.id for p in versions])
    if not pointing.products:
        dispatcher.utter_message(
            text=question, buttons=say.which_one_buttons(pointing.shown, button_template)
        )
        return [], []
    return pointing.products, []


def show_alike(
    dispatcher: CollectingDispatcher, found: List[Product], intro: str, size: Optional[str]
) -> Events:
    """List in-stock alternatives (substitutes, other colours, similar items) or just say `intro`."""
    if not found:
        dispatcher.utter_message(text=intro)
        return []
    list_products(dispatcher, found, intro, size)
    ids = [p.id for p in found]
    return state.show(ids, ranked=ids)


def offer_substitutes(
    dispatcher: CollectingDispatcher, turn: Turn, product: Product, size: Optional[str]
) -> Events:
    """Say the item (or size) is out of stock and show the nearest in-stock alternatives."""
    substitutes = find_similar(turn.session, product, size, key=turn.key_attributes.of(product.category))
    intro = say.out_of_stock_with_substitutes(product, size, bool(substitutes))
    return [*show_alike(dispatcher, substitutes, intro, size), state.offer(None)]


class ActionProductDetails(ShopAction):
    def name(self) -> str:
        return "action_product_details"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        pointed, events = pointed_products(
            dispatcher, turn, "Which one would you like to know more about?", "tell me about the {} one"
        )
        if not pointed:
            return events
        product = pointed[0][1]
        for position, shown in pointed[:3]:
            details = product_details(shown, turn.key_attributes.of(shown.category))
            cards = payloads.product_cards([shown], max(position, 1), intro=details)
            dispatcher.utter_message(text=details, json_message=cards)
        # opened, the one in focus last: "compare it with the ones I looked at before" counts back from it
        viewed = state.opened(turn.tracker, [p.id for _, p in reversed(pointed[:3])])
        if product.available():
            dispatcher.utter_message(text=say.OFFER_CART, buttons=say.CART_OR_SIMILAR)
            return [viewed, state.focus(product.id), state.offer(state.CART_OFFER)]
        return [viewed, state.focus(product.id), *offer_substitutes(dispatcher, turn, product, None)]


class ActionCheckStock(ShopAction):
    def name(self) -> str:
        return "action_check_stock"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        pointed, events = pointed_products(
            dispatcher, turn, "Which one should I check?", "is the {} one in stock"
        )
        if not pointed:
            return events
        product, request = pointed[0][1], turn.request
        if request.colour and request.colour != product.colour:
            # Each product has one colour: show the nearest in-stock items in the colour asked for.
            alternatives = find_similar(
                turn.session, product, request.size, colour=request.colour,
                key=turn.key_attributes.of(product.category),
            )
            intro = say.other_colour(product, request.colour, bool(alternatives))
            return [state.focus(product.id), *show_alike(dispatcher, alternatives, intro, request.size)]
        answer = say.stock_answer(product, request.size, request.quantity or 1)
        if product.available(request.size):
            dispatcher.utter_message(text=f"{answer} {say.OFFER_CART}", buttons=say.YES_NO_CART)
            return [state.focus(product.id), state.offer(state.CART_OFFER)]
        dispatcher.utter_message(text=answer)
        return [state.focus(product.id), *offer_substitutes(dispatcher, turn, product, request.size)]


class ActionSimilarItems(ShopAction):
    def name(self) -> str:
        return "action_similar_items"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        pointing = point(turn.tracker, turn.session, turn.request)
        problem = say.pointing_problem(pointing)
        if problem:
            dispatcher.utter_message(text=problem)
            return []
        shown = shown_products(turn.tracker, turn.session)
        reference = pointing.products[0][1] if pointing.products else (shown[0] if shown else None)
        if reference is None:
            dispatcher.utter_message(text=say.SIMILAR_TO_WHAT)
            return []
        size = turn.request.size
        exclude = state.shown_ids(turn.tracker)
        similar = find_similar(
            turn.session, reference, size, exclude=exclude, limit=settings.PAGE_SIZE,
            key=turn.key_attributes.of(reference.category),
        )
        return show_alike(dispatcher, similar, say.similar_intro(reference, bool(similar)), size)


def show_comparison(dispatcher: CollectingDispatcher, turn: Turn, pairs: List[Tuple[int, Product]]) -> None:
    """The comparison of these (position, product) pairs, by the first one's category's key attributes."""
    comparison = compare_products(pairs, turn.key_attributes.of(pairs[0][1].category))
    payload = payloads.comparison(
        pairs,
        comparison.rows,
        comparison.verdict,
        intro=comparison_header(pairs),
        shared=shared_values(pairs, comparison),
        shared_line=comparison_shared_line(pairs, comparison),
    )
    dispatcher.utter_message(text=comparison_text(pairs, comparison), json_message=payload)


def viewed_to_compare(turn: Turn) -> Tuple[Optional[Product], List[Product]]:
    """The product the shopper is on (in focus, else the one opened last) and the two opened most
    recently before it, newest first; ids from the slot that are not in the catalog are skipped."""
    viewed = [p.id for p in products_by_id(turn.session, state.viewed_ids(turn.tracker))]
    current = focused_product(turn.tracker, turn.session)
    if current is None:
        found = products_by_id(turn.session, viewed[-1:])
        current = found[0] if found else None
    if current is None:
        return None, []
    return current, products_by_id(turn.session, earlier_views(viewed, current.id))


def compare_with_viewed(dispatcher: CollectingDispatcher, turn: Turn) -> Events:
    """"Compare it with the ones I looked at before": the current product and the two opened before it,
    shown as the list on screen ("#1" is the current one) so "add the second one" means what it says."""
    current, earlier = viewed_to_compare(turn)
    if current is None:
        dispatcher.utter_message(text=say.NOTHING_VIEWED)
        return []
    if not earlier:
        dispatcher.utter_message(text=say.no_other_viewed(current))
        return []
    if len(earlier) == 1:
        dispatcher.utter_message(text=say.only_one_other_viewed(earlier[0]))
    products = [current, *earlier]
    show_comparison(dispatcher, turn, list(enumerate(products, start=1)))
    return [*state.show([p.id for p in products]), state.focus(current.id)]


class ActionCompareProducts(ShopAction):
    def name(self) -> str:
        return "action_compare_products"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        if mentions_viewed(turn.request.text):
            return compare_with_viewed(dispatcher, turn)
        shown = shown_products(turn.tracker, turn.session)
        if len(shown) < 2:
            dispatcher.utter_message(text=say.COMPARE_NEEDS_RESULTS)
            return []
        positions = parse_positions(turn.request.text, len(shown), [p.colour for p in shown])
        if not positions and len(shown) <= 3:
            positions = list(range(1, len(shown) + 1))
        if any(p > len(shown) for p in positions):
            dispatcher.utter_message(text=say.compare_out_of_range(len(shown)))
            return []
        if len(positions) == 1:
            focus = state.focus_id(turn.tracker)
            focus_position = next((i + 1 for i, p in enumerate(shown) if p.id == focus), None)
            if focus_position and focus_position != positions[0]:
                positions = [focus_position, positions[0]]
        if not 2 <= len(positions) <= 3:
            dispatcher.utter_message(text=say.COMPARE_WHICH, buttons=say.COMPARE_BUTTONS)
            return []
        show_comparison(dispatcher, turn, [(p, shown[p - 1]) for p in positions])
        return []
