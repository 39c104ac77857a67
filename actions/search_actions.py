"""Actions for finding products: a search or its refinement, the next page, and the answer to a
message the NLU was unsure about."""

from __future__ import annotations

from dataclasses import replace
from typing import List, Sequence

from rasa_sdk.executor import CollectingDispatcher

from actions import conversation_state as state
from actions import payloads, settings
from actions.base import Events, ShopAction, Turn
from actions.catalog.db import products_by_id
from actions.catalog.models import Product
from actions.pointing import shown_products
from actions.query import SearchQuery, build_query, needs_clarification, refines
from actions.replies import search as say
from actions.replies.products import with_list
from actions.request import search_words
from actions.retrieval import SearchResult, run_search, text_scores
from common.schema import PRICE


def list_products(
    dispatcher: CollectingDispatcher,
    products: Sequence[Product],
    intro: str,
    size: str | None = None,
    closing: str = "",
    buttons: List[dict] | None = None,
) -> None:
    """One reply listing products: the text for every channel, the cards for those that show them."""
    dispatcher.utter_message(
        text=with_list(intro, products, 1, size, closing),
        buttons=buttons or None,
        json_message=payloads.product_cards(products, 1, size, intro=intro, closing=closing),
    )


class ActionSearchProducts(ShopAction):
    """A new search or a refinement ("cheaper", "in blue", "for a girl instead", "under 30")."""

    def name(self) -> str:
        return "action_search_products"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        # "10" after "Which size of X?" reads as a size refinement; it answers the question. Imported here:
        # the cart actions import the product actions, which import this module.
        from actions.cart_actions import answer_size_question

        answered = answer_size_question(dispatcher, turn)
        if answered is not None:
            return answered
        previous = state.search_state(turn.tracker)
        refining = refines(turn.request, previous)
        shown_prices = [p.price for p in shown_products(turn.tracker, turn.session)] if refining else []
        query, notes = build_query(turn.request, previous if refining else None, shown_prices)
        preface = say.reading_notes(notes, turn.request.truncated)
        if needs_clarification(query):
            vague = not (query.gift or query.recipient or query.gender or query.age_group or refining)
            if vague and not turn.request.refinements():
                preface.append(say.COULD_NOT_TELL)
            text = " ".join([*preface, say.clarify_question(query)])
            dispatcher.utter_message(text=text, buttons=say.clarify_buttons(query))
            return [state.remember_search(replace(query, clarified=True))]
        result = run_search(turn.session, query, turn.vocabulary)
        if notes.compared_to_shown and (not result.products or PRICE in result.dropped):
            # Nothing cheaper (or pricier) exists: say so and keep the search as it was.
            answer = say.nothing_more_extreme(notes.compared_to_shown, previous or query)
            dispatcher.utter_message(text=" ".join([*preface, answer]))
            return []
        return reply_with_results(dispatcher, turn, result, query, preface)


def reply_with_results(
    dispatcher: CollectingDispatcher, turn: Turn, result: SearchResult, query: SearchQuery, preface: List[str]
) -> Events:
    events: Events = [state.remember_search(replace(query, clarified=True))]
    if not result.products:
        sold_here = result.text_matched or bool(query.product_type or query.category)
        dispatcher.utter_message(text=" ".join([*preface, say.nothing_found(query, sold_here)]))
        return events + state.show([], ranked=[])
    page = result.products[: settings.PAGE_SIZE]
    intro = " ".join([*preface, say.results_intro(query, result.query, result.dropped)])
    offer_wrap = query.gift and not state.gift_wrap_asked(turn.tracker)
    closing = say.GIFT_WRAP_QUESTION if offer_wrap else ""
    buttons = say.result_buttons(len(result.products) > len(page), len(page), offer_wrap)
    list_products(dispatcher, page, intro, result.query.size, closing, buttons)
    events += state.show([p.id for p in page], ranked=[p.id for p in result.products])
    return events + [state.offer(state.GIFT_WRAP_OFFER if offer_wrap else None)]


class ActionShowMore(ShopAction):
    def name(self) -> str:
        return "action_show_more"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        ranked, shown = state.ranked_ids(turn.tracker), state.shown_ids(turn.tracker)
        if not ranked:
            dispatcher.utter_message(text=say.nothing_to_show_more())
            return []
        start = ranked.index(shown[-1]) + 1 if shown and shown[-1] in ranked else 0
        next_ids = ranked[start : start + settings.PAGE_SIZE]
        query = state.search_state(turn.tracker) or SearchQuery()
        if not next_ids:
            dispatcher.utter_message(text=say.everything_shown(query))
            return []
        page = products_by_id(turn.session, next_ids)
        list_products(dispatcher, page, say.more_intro(query, start + 1, len(page), len(ranked)), query.size)
        return state.show([p.id for p in page])


class ActionClarifyLowConfidence(ShopAction):
    """The NLU was unsure (FallbackClassifier's `nlu_fallback`): never guess. Ask to rephrase and offer
    a person; if the message named a product, say whether we sell it and offer that search as a button."""

    def name(self) -> str:
        return "action_clarify_low_confidence"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> Events:
        request = turn.request
        product = request.product_type or request.category
        unknown = None
        if not product and request.product_words:
            words = [w for w in search_words(request.product_words) if len(w) > 2][:3]
            if not text_scores(turn.session, words, turn.vocabulary):
                unknown = request.product_words
        dispatcher.utter_message(
            text=say.not_understood(product, unknown), buttons=say.not_understood_buttons(product)
        )
        return []
