"""Actions for finding products: a search or its refinement, the next page, and the answer to a
message the NLU was unsure about."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import conversation_state as state
from actions import payloads, settings
from actions.base import ShopAction
from actions.catalog.db import products_by_id, session_for
from actions.catalog_handle import catalog
from actions.pointing import shown_products
from actions.query import SearchQuery, build_query, needs_clarification, refines
from actions.replies import search as say
from actions.replies.products import with_list
from actions.request import search_words
from actions.retrieval import SearchResult, run_search, text_scores
from common.schema import PRICE

Events = List[Dict[str, Any]]


class ActionSearchProducts(ShopAction):
    """A new search or a refinement ("cheaper", "in blue", "for a girl instead", "under 30")."""

    def name(self) -> str:
        return "action_search_products"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        shop = catalog()
        request = state.request_of(tracker, shop.vocabulary)
        previous = state.search_state(tracker)
        refining = refines(request, previous)
        with session_for(shop.engine) as session:
            shown_prices = [p.price for p in shown_products(tracker, session)] if refining else []
            query, notes = build_query(request, previous if refining else None, shown_prices)
            preface = say.reading_notes(notes, request.truncated)
            if needs_clarification(query):
                vague = not (query.gift or query.recipient or query.gender or query.age_group or refining)
                if vague and not request.refinements():
                    preface.append(say.COULD_NOT_TELL)
                dispatcher.utter_message(
                    text=" ".join([*preface, say.clarify_question(query)]), buttons=say.clarify_buttons(query)
                )
                return [state.remember_search(replace(query, clarified=True))]
            result = run_search(session, query, shop.vocabulary)
            if notes.compared_to_shown and (not result.products or PRICE in result.dropped):
                # Nothing cheaper (or pricier) exists: say so and keep the search as it was.
                direction = notes.compared_to_shown
                dispatcher.utter_message(
                    text=" ".join([*preface, say.nothing_more_extreme(direction, previous or query)])
                )
                return []
        return reply_with_results(dispatcher, tracker, result, query, preface)


def reply_with_results(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    result: SearchResult,
    query: SearchQuery,
    preface: List[str],
) -> Events:
    events: Events = [state.remember_search(replace(query, clarified=True))]
    if not result.products:
        sold_here = result.text_matched or bool(query.product_type or query.category)
        dispatcher.utter_message(text=" ".join([*preface, say.nothing_found(query, sold_here)]))
        return events + state.show([], ranked=[])
    page = result.products[: settings.PAGE_SIZE]
    intro = " ".join([*preface, say.results_intro(query, result.query, result.dropped)])
    offer_wrap = query.gift and not state.gift_wrap_asked(tracker)
    closing = say.GIFT_WRAP_QUESTION if offer_wrap else ""
    buttons = say.result_buttons(len(result.products) > len(page), len(page), offer_wrap)
    dispatcher.utter_message(
        text=with_list(intro, page, 1, result.query.size, closing),
        buttons=buttons or None,
        json_message=payloads.product_cards(page, 1, result.query.size, intro=intro, closing=closing),
    )
    events += state.show([p.id for p in page], ranked=[p.id for p in result.products])
    return events + [state.offer(state.GIFT_WRAP_OFFER if offer_wrap else None)]


class ActionShowMore(ShopAction):
    def name(self) -> str:
        return "action_show_more"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        ranked, shown = state.ranked_ids(tracker), state.shown_ids(tracker)
        if not ranked:
            dispatcher.utter_message(text=say.nothing_to_show_more())
            return []
        start = ranked.index(shown[-1]) + 1 if shown and shown[-1] in ranked else 0
        next_ids = ranked[start : start + settings.PAGE_SIZE]
        query = state.search_state(tracker) or SearchQuery()
        if not next_ids:
            dispatcher.utter_message(text=say.everything_shown(query))
            return []
        with session_for(catalog().engine) as session:
            page = products_by_id(session, next_ids)
        intro = say.more_intro(query, start + 1, len(page), len(ranked))
        dispatcher.utter_message(
            text=with_list(intro, page, 1, query.size),
            json_message=payloads.product_cards(page, 1, query.size, intro=intro),
        )
        return state.show([p.id for p in page])


class ActionClarifyLowConfidence(ShopAction):
    """The NLU was unsure (FallbackClassifier's `nlu_fallback`): never guess. Ask to rephrase and offer
    a person; if the message named a product, say whether we sell it and offer that search as a button."""

    def name(self) -> str:
        return "action_clarify_low_confidence"

    def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        shop = catalog()
        request = state.request_of(tracker, shop.vocabulary)
        product = request.product_type or request.category
        unknown = None
        if not product and request.product_words:
            with session_for(shop.engine) as session:
                words = [w for w in search_words(request.product_words) if len(w) > 2][:3]
                if not text_scores(session, words, shop.vocabulary):
                    unknown = request.product_words
        dispatcher.utter_message(
            text=say.not_understood(product, unknown), buttons=say.not_understood_buttons(product)
        )
        return []
