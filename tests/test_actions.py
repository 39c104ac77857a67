"""The actions driven turn by turn with real rasa_sdk Trackers and CollectingDispatchers over a small
catalog: slots carry the search between turns exactly as the Rasa server would."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import settings
from actions.cart_actions import ActionAddToCart, ActionAnswerOffer
from actions.catalog.db import build_catalog, dispose_engine
from actions.catalog_handle import reset_catalog_cache
from actions.product_actions import (
    ActionCheckStock,
    ActionCompareProducts,
    ActionProductDetails,
    ActionSimilarItems,
)
from actions.search_actions import ActionClarifyLowConfidence, ActionSearchProducts, ActionShowMore
from tests.test_search import SMALL_CATALOG

ACTION_FOR = {
    "search_product": ActionSearchProducts,
    "refine_search": ActionSearchProducts,
    "show_more": ActionShowMore,
    "product_details": ActionProductDetails,
    "check_stock": ActionCheckStock,
    "add_to_cart": ActionAddToCart,
    "compare_products": ActionCompareProducts,
    "similar_items": ActionSimilarItems,
    "nlu_fallback": ActionClarifyLowConfidence,
    "affirm": ActionAnswerOffer,
    "deny": ActionAnswerOffer,
}


class Chat:
    """One shopper's conversation: runs the action the rules pick for each intent and keeps the slots."""

    def __init__(self) -> None:
        self.slots: Dict[str, Any] = {}
        self.replies: List[Dict[str, Any]] = []

    def say(
        self,
        intent: str,
        text: str,
        entities: Sequence[Tuple[str, str]] = (),
        attributes: Optional[Dict[str, Any]] = None,
    ) -> List[Dict[str, Any]]:
        message: Dict[str, Any] = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.95},
            "entities": [{"entity": kind, "value": value} for kind, value in entities],
        }
        if attributes is not None:
            message["attributes"] = attributes
        tracker = Tracker("shopper", dict(self.slots), message, [], False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        for event in ACTION_FOR[intent]().run(dispatcher, tracker, {}):
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        self.replies = dispatcher.messages
        return dispatcher.messages

    @property
    def text(self) -> str:
        return "\n".join(reply.get("text") or "" for reply in self.replies)

    def cards(self) -> List[Dict[str, Any]]:
        return [
            card
            for reply in self.replies
            if (reply.get("custom") or {}).get("type") == "product_cards"
            for card in reply["custom"]["products"]
        ]

    def card_ids(self) -> List[str]:
        return [card["id"] for card in self.cards()]

    def buttons(self) -> List[Dict[str, str]]:
        return [button for reply in self.replies for button in reply.get("buttons") or []]


@pytest.fixture()
def chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chat]:
    path = tmp_path / "catalog.db"
    build_catalog(f"sqlite:///{path}", SMALL_CATALOG)
    dispose_engine(f"sqlite:///{path}")
    monkeypatch.setenv("SHOPCUE_CATALOG_DB", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_catalog_cache()
    yield Chat()
    reset_catalog_cache()
    dispose_engine(f"sqlite:///{path}")


WIFE = {
    "gender": {"value": "female", "confidence": 0.93},
    "age_group": {"value": "adult", "confidence": 0.9},
    "gift": {"value": True, "confidence": 0.95},
}


def test_vague_gift_request_gets_one_question_with_buttons_then_fitting_results(chat: Chat) -> None:
    chat.say("search_product", "a gift for my wife", [("recipient", "wife")], attributes=WIFE)
    assert "?" in chat.text and "wife" in chat.text and not chat.cards()
    payloads = [b["payload"] for b in chat.buttons()]
    assert '/search_product{"product_type": "jewellery"}' in payloads
    chat.say(
        "search_product", '/search_product{"product_type": "jewellery"}', [("product_type", "jewellery")]
    )
    assert set(chat.card_ids()) == {"N1", "N2"}
    assert all(card["attributes"]["gender"] in ("female", "unisex") for card in chat.cards())
    assert "gift-wrapped" in chat.text and chat.slots["pending_offer"] == "gift_wrap"
    chat.say("affirm", "yes please")
    assert chat.slots["gift_wrap"] is True and "gift-wrapped" in chat.text


def test_declined_gift_wrap_is_not_offered_again(chat: Chat) -> None:
    chat.say("search_product", "a necklace for my wife", [("product_type", "necklace")], attributes=WIFE)
    assert chat.slots["pending_offer"] == "gift_wrap"
    chat.say("deny", "no thanks")
    assert chat.slots["gift_wrap"] is False
    chat.say("add_to_cart", "add the first one to my cart")
    assert "Added" in chat.text and "gift-wrapped" not in chat.text
    chat.say("refine_search", "in silver", [("color", "silver")])
    assert "gift-wrapped" not in chat.text


def test_the_question_for_someone_of_unknown_gender_says_they(chat: Chat) -> None:
    chat.say(
        "search_product",
        "a gift for my coworker",
        [("recipient", "coworker")],
        attributes={"gift": {"value": True, "confidence": 0.9}},
    )
    assert "What do they like?" in chat.text and chat.buttons()


def test_a_budget_answer_to_the_question_searches_gift_ideas(chat: Chat) -> None:
    chat.say("search_product", "a gift for my wife", [("recipient", "wife")], attributes=WIFE)
    chat.say("search_product", '/search_product{"price": "under $30"}', [("price", "under $30")])
    assert chat.cards() and all(card["price"] <= 30 for card in chat.cards())
    assert all(card["attributes"]["gender"] in ("female", "unisex") for card in chat.cards())


def test_without_attributes_the_search_still_names_the_recipient(chat: Chat) -> None:
    # A pipeline without the joint model gives no `attributes`: the actions do not guess them.
    chat.say(
        "search_product", "a necklace for my wife", [("product_type", "necklace"), ("recipient", "wife")]
    )
    assert set(chat.card_ids()) == {"N1", "N2"} and "for your wife" in chat.text
    assert chat.slots["search_state"]["gender"] is None and chat.slots["search_state"]["gift"] is False


def test_refine_by_colour_then_price_then_cheaper(chat: Chat) -> None:
    chat.say("search_product", "trainers", [("product_type", "trainers")])
    assert len(chat.cards()) == 5
    chat.say("refine_search", "in blue", [("color", "blue")])
    assert set(chat.card_ids()) == {"T2", "T3", "T4"}
    chat.say("refine_search", "over 50", [("price", "over 50")])
    assert set(chat.card_ids()) == {"T2", "T4"}
    chat.say("refine_search", "cheaper")
    assert chat.card_ids() == ["T3"] and "under $59.99" in chat.text
    chat.say("refine_search", "cheaper")
    assert "dropped the colour blue" in chat.text and chat.card_ids() == ["T5"]
    chat.say("refine_search", "cheaper")
    assert "cheapest" in chat.text and not chat.cards()


def test_a_search_that_only_names_a_colour_refines_the_current_search(chat: Chat) -> None:
    chat.say("search_product", "trainers under 70", [("product_type", "trainers"), ("price", "under 70")])
    chat.say("search_product", "what about blue", [("color", "blue")])  # the NLU may call it a new search
    assert set(chat.card_ids()) == {"T2", "T3"}
    chat.say("search_product", "show me necklaces", [("product_type", "necklaces")])
    assert set(chat.card_ids()) == {"N1", "N2"}, "naming a product starts a new search"


def test_refine_for_a_girl_instead_changes_the_audience(chat: Chat) -> None:
    chat.say("search_product", "toys", [("product_type", "toys")])
    assert len(chat.cards()) == 3
    girl = {
        "gender": {"value": "female", "confidence": 0.9},
        "age_group": {"value": "kid", "confidence": 0.85},
    }
    chat.say("refine_search", "for a girl instead", [("recipient", "girl")], attributes=girl)
    assert set(chat.card_ids()) == {"G1", "G2"}


def test_nothing_matching_drops_a_constraint_and_says_so(chat: Chat) -> None:
    chat.say("search_product", "purple trainers", [("product_type", "trainers"), ("color", "purple")])
    assert "dropped the colour purple" in chat.text and len(chat.cards()) == 5


def test_something_we_do_not_sell_is_answered_honestly(chat: Chat) -> None:
    chat.say("search_product", "a helicopter", [("product_type", "helicopter")])
    assert "don't sell" in chat.text and not chat.cards()


def test_compare_two_results_shows_only_differences_and_a_verdict(chat: Chat) -> None:
    chat.say("search_product", "blue trainers", [("product_type", "trainers"), ("color", "blue")])
    chat.say("compare_products", "compare the first two")
    comparison = next(
        r["custom"] for r in chat.replies if (r.get("custom") or {}).get("type") == "comparison"
    )
    attributes = [row["attribute"] for row in comparison["rows"]]
    assert "price" in attributes and "colour" not in attributes  # both are blue
    assert [p["position"] for p in comparison["products"]] == [1, 2]
    assert "cheaper" in comparison["verdict"] and comparison["verdict"] in chat.text


def test_compare_out_of_range_asks_again(chat: Chat) -> None:
    chat.say("search_product", "necklaces", [("product_type", "necklace")])
    chat.say("compare_products", "compare 1 and 4")
    assert "I only showed 2" in chat.text


def test_details_then_stock_then_out_of_stock_substitutes(chat: Chat) -> None:
    chat.say("search_product", "blue trainers", [("product_type", "trainers"), ("color", "blue")])
    sold_out_position = chat.card_ids().index("T4") + 1
    ordinal = ["first", "second", "third"][sold_out_position - 1]
    chat.say("product_details", f"tell me about the {ordinal} one")
    assert "Cloud Runner" in chat.text and "out of stock" in chat.text
    details, substitutes = chat.cards()[0], chat.cards()[1:]
    assert details["id"] == "T4" and not details["in_stock"]
    assert substitutes and all(card["in_stock"] for card in substitutes)
    assert substitutes[0]["id"] == "T1"  # same type and audience, closest price
    assert chat.slots["shown_ids"] == [card["id"] for card in substitutes]


def test_size_check_for_a_size_that_is_out(chat: Chat) -> None:
    chat.say(
        "search_product", "womens running trainers", [("product_type", "trainers"), ("feature", "running")]
    )
    assert chat.card_ids() == ["T1"]
    chat.say("check_stock", "is it in size 6", [("size", "6")])
    assert "out of stock" in chat.text
    assert chat.card_ids()[0] == "T5" and all(card["in_stock"] for card in chat.cards())
    assert "T1" not in chat.card_ids()


def test_asking_for_another_colour_shows_that_colour_in_stock(chat: Chat) -> None:
    chat.say("search_product", "red trainers", [("product_type", "trainers"), ("color", "red")])
    assert chat.card_ids() == ["T1"]
    chat.say("check_stock", "is it available in blue", [("color", "blue")])
    assert "only comes in red" in chat.text
    assert chat.cards() and {c["attributes"]["colour"] for c in chat.cards()} == {"blue"}
    assert all(card["in_stock"] for card in chat.cards())


def test_asking_for_several_says_whether_there_are_enough(chat: Chat) -> None:
    chat.say(
        "search_product", "womens running trainers", [("product_type", "trainers"), ("feature", "running")]
    )
    chat.say("check_stock", "can i get 3 of them in size 8", [("quantity", "3"), ("size", "8")])
    assert "enough for 3" in chat.text
    chat.say("check_stock", "can i get 5 of them in size 8", [("quantity", "5"), ("size", "8")])
    assert "only 4 left, not 5" in chat.text
    chat.say("add_to_cart", "add 5 of them in size 8", [("quantity", "5"), ("size", "8")])
    assert "the last 4" in chat.text and chat.slots["cart"][0]["quantity"] == 4


def test_size_is_read_from_the_text_when_the_entity_is_unusable(chat: Chat) -> None:
    chat.say(
        "search_product", "womens running trainers", [("product_type", "trainers"), ("feature", "running")]
    )
    chat.say("check_stock", "is the first one in size 6", [("size", "one")])
    assert "out of stock" in chat.text and chat.card_ids()[0] == "T5"


def test_size_check_in_stock_offers_the_cart_and_yes_adds_it(chat: Chat) -> None:
    chat.say(
        "search_product", "womens running trainers", [("product_type", "trainers"), ("feature", "running")]
    )
    chat.say("check_stock", "is it in size 8", [("size", "size 8")])
    assert "in stock in size 8" in chat.text and chat.slots["pending_offer"] == "add_to_cart"
    chat.say("affirm", "yes")
    assert "which size" in chat.text.lower()
    chat.say("add_to_cart", '/add_to_cart{"size": "8"}', [("size", "8")])
    assert chat.slots["cart"] == [
        {"id": "T1", "title": SMALL_CATALOG[0]["title"], "size": "8", "quantity": 1, "price": 45.0}
    ]
    assert "Added" in chat.text and "$45" in chat.text


def test_add_it_to_my_cart_asks_which_one_when_several_are_shown(chat: Chat) -> None:
    chat.say("search_product", "headphones", [("product_type", "headphones")])
    chat.say("add_to_cart", "add it to my cart")
    assert "Which one" in chat.text and len(chat.buttons()) == 3
    assert chat.buttons()[0]["payload"] == "add the first one to my cart"
    chat.say("add_to_cart", "add the second one to my cart")
    assert len(chat.slots["cart"]) == 1 and "Added" in chat.text


def test_show_more_pages_through_results(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "PAGE_SIZE", 2)
    chat.say("search_product", "trainers", [("product_type", "trainers")])
    first_page = chat.card_ids()
    chat.say("show_more", "show more")
    second_page = chat.card_ids()
    assert len(first_page) == len(second_page) == 2 and not set(first_page) & set(second_page)
    chat.say("show_more", "any others?")
    assert len(chat.card_ids()) == 1 and "results 5-5 of 5" in chat.text
    chat.say("show_more", "more")
    assert "That's everything" in chat.text


def test_similar_items_to_a_result(chat: Chat) -> None:
    chat.say("search_product", "gold necklaces", [("product_type", "necklace"), ("color", "gold")])
    assert chat.card_ids() == ["N1"]
    chat.say("similar_items", "show me similar ones")
    assert chat.card_ids() == ["N2"] and "Similar to" in chat.text


def test_low_confidence_asks_to_rephrase_and_offers_a_person(chat: Chat) -> None:
    chat.say("nlu_fallback", "blorp the flibber")
    assert "another way" in chat.text and not chat.cards()
    assert {"title": "Talk to a person", "payload": "/human_handoff"} in chat.buttons()


def test_low_confidence_about_a_known_product_offers_that_search(chat: Chat) -> None:
    chat.say("nlu_fallback", "hmm sneakers maybe??", [("product_type", "sneakers")])
    assert "Did you want to see trainers?" in chat.text
    assert chat.buttons()[0]["payload"] == '/search_product{"product_type": "trainers"}'
    assert not chat.cards(), "unsure: ask, don't search"


def test_low_confidence_about_something_we_do_not_sell_says_so(chat: Chat) -> None:
    chat.say("nlu_fallback", "I'm looking for a snowmobile", [("product_type", "snowmobile")])
    assert "we don't sell snowmobile" in chat.text and "person" in chat.text


@pytest.mark.parametrize(
    ("intent", "text", "entities"),
    [
        ("search_product", "'; DROP TABLE products; --", [("product_type", "'; DROP TABLE products; --")]),
        ("search_product", "x" * 10_000, []),
        (
            "search_product",
            "trainers under -5 dollars",
            [("product_type", "trainers"), ("price", "-5 dollars")],
        ),
        ("refine_search", "cheaper", []),
        ("compare_products", "compare 1 and 2", []),
        ("product_details", "the 7th one", []),
        ("check_stock", "is it in size 8", [("size", "8")]),
        ("add_to_cart", "add it", []),
        ("show_more", "more", []),
        ("similar_items", "similar", []),
        ("deny", "no", []),
    ],
)
def test_bad_or_out_of_context_input_gets_a_sane_reply(
    chat: Chat, intent: str, text: str, entities: List[Tuple[str, str]]
) -> None:
    chat.say(intent, text, entities)
    assert chat.text.strip()
    assert "Traceback" not in chat.text and len(chat.text) < 3000


def test_negative_price_is_ignored_and_said(chat: Chat) -> None:
    chat.say(
        "search_product", "trainers under -5 dollars", [("product_type", "trainers"), ("price", "-5 dollars")]
    )
    assert "can't be negative" in chat.text and len(chat.cards()) == 5


def test_huge_message_is_cut_and_said(chat: Chat) -> None:
    chat.say("search_product", "trainers " + "very " * 3000, [("product_type", "trainers")])
    assert "long message" in chat.text and chat.cards()


def test_an_unreachable_catalog_gets_an_apology_not_a_server_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("SHOPCUE_CATALOG_DB", str(blocker / "catalog.db"))
    reset_catalog_cache()
    chat = Chat()
    chat.say("search_product", "trainers", [("product_type", "trainers")])
    assert "can't reach our product catalog" in chat.text and not chat.cards()
    reset_catalog_cache()


# --- what a shopper hit, read once in the request layer ----------------------------------------------


def test_a_misspelled_product_word_finds_the_product(chat: Chat) -> None:
    chat.say("search_product", "hedphones", [("product_type", "hedphones")])
    assert chat.cards() and all("Headphones" in card["title"] for card in chat.cards())
    assert "don't sell" not in chat.text and "“hedphones” to mean headphones" in chat.text
    boy = {"gender": {"value": "male", "confidence": 0.9}, "age_group": {"value": "kid", "confidence": 0.9}}
    chat.say("search_product", "sneekers for my boy", [("recipient", "boy")], attributes=boy)
    assert chat.card_ids() == ["T3"], "the kids' trainers: the misspelling is read from the text"


def test_an_excluded_colour_or_material_is_never_shown(chat: Chat) -> None:
    chat.say(
        "search_product", "trainers in any colour but blue", [("product_type", "trainers"), ("color", "blue")]
    )
    assert chat.cards() and all(card["attributes"]["colour"] != "blue" for card in chat.cards())
    assert "not blue" in chat.text
    chat.say("refine_search", "no leather", [("material", "leather")])
    assert chat.cards() and all(card["attributes"]["material"] != "leather" for card in chat.cards())
    assert all(card["attributes"]["colour"] != "blue" for card in chat.cards()), "exclusions add up"
    chat.say("search_product", "trainers, not red", [("product_type", "trainers")])
    assert "T1" not in chat.card_ids(), "a negated colour the model did not tag is read from the text"
    chat.say(
        "search_product",
        "trainers in any colour but white",
        [("product_type", "trainers"), ("color", "colour"), ("color", "white")],
    )
    assert len(chat.cards()) == 4 and "T5" not in chat.card_ids(), "a tagged 'colour' is no colour"
    assert "dropped" not in chat.text


def test_a_misspelled_product_tagged_as_a_brand_is_read_as_the_product(chat: Chat) -> None:
    chat.say("search_product", "hedphones", [("brand", "hedphones")])
    assert chat.cards() and all("Headphones" in card["title"] for card in chat.cards())
    assert "dropped" not in chat.text and "brand" not in chat.text


def test_asking_about_a_product_by_its_name_finds_that_product(chat: Chat) -> None:
    chat.say(
        "check_stock",
        "is the Kestrel Everyday trainer in stock?",
        [("brand", "Kestrel"), ("product_type", "Everyday trainer")],
    )
    assert "Yes, Kestrel Women's Everyday Trainers - White is in stock" in chat.text
    assert chat.slots["focus_id"] == "T5" and chat.slots["pending_offer"] == "add_to_cart"
    chat.say("product_details", "tell me about the Nike Retro trainers", [("brand", "Nike")])
    assert chat.cards()[0]["id"] == "T3" and "Retro" in chat.text


def test_a_gift_request_with_recipient_age_and_budget_shows_gifts_at_once(chat: Chat) -> None:
    niece = {
        "gender": {"value": "female", "confidence": 0.92},
        "age_group": {"value": "kid", "confidence": 0.9},
        "gift": {"value": True, "confidence": 0.95},
    }
    chat.say(
        "search_product",
        "bday present for my 8 yo niece, under 30",
        [("occasion", "bday"), ("age", "8 yo"), ("recipient", "niece"), ("price", "under 30")],
        attributes=niece,
    )
    assert chat.cards() and all(card["price"] <= 30 for card in chat.cards())
    assert {card["attributes"]["gender"] for card in chat.cards()} <= {"female", "unisex"}
    assert "budget" not in chat.text.lower() and "for your niece" in chat.text


def test_a_product_list_payload_carries_the_sentences_around_its_cards(chat: Chat) -> None:
    chat.say("search_product", "a necklace for my wife", [("product_type", "necklace")], attributes=WIFE)
    payload = next(r["custom"] for r in chat.replies if r.get("custom"))
    assert payload["intro"].startswith("Here's what I found") and "gift wrap" in payload["closing"]
    assert chat.text.startswith(payload["intro"]) and chat.text.endswith(payload["closing"])


def test_values_a_client_forges_are_rechecked(chat: Chat) -> None:
    chat.say("search_product", "headphones", [("product_type", "headphones")])
    chat.slots["cart"] = [{"id": "X", "title": "free TV", "size": "", "quantity": -5, "price": -100}, "junk"]
    chat.say("add_to_cart", "/add_to_cart", [("quantity", "-5")])
    assert "Which one" in chat.text
    chat.say("add_to_cart", "add the first one", [("quantity", "9999")])
    assert len(chat.slots["cart"]) == 1, "the forged lines are dropped"
    line = chat.slots["cart"][0]
    assert line["id"] == chat.slots["shown_ids"][0] and 1 <= line["quantity"] <= 5 and line["price"] > 0


@pytest.mark.parametrize(
    "stored, sent",
    [
        ("https://cdn.example.com/p/T1.jpg", "https://cdn.example.com/p/T1.jpg"),
        ("  http://img.example.com/a.png ", "http://img.example.com/a.png"),
        ("HTTPS://CDN.EXAMPLE.COM/B.JPG", "HTTPS://CDN.EXAMPLE.COM/B.JPG"),
        ("", None),
        (None, None),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,iVBORw0KGgo=", None),
        ("//cdn.example.com/p.jpg", None),
        ("https://", None),
        ("/local/p.jpg", None),
        ("https://cdn.example.com/a b.jpg", None),
        ("https://cdn.example.com/a\n.jpg", None),
        ("https://cdn.example.com/" + "x" * 600, None),
    ],
)
def test_a_card_carries_the_product_image_only_when_it_is_http_or_https(stored: Any, sent: Any) -> None:
    from actions.catalog.models import Product
    from actions.payloads import product_card

    product = Product(id="P1", title="Mug", brand="Acme", price=5.0, rating=4.0, image_url=stored)
    assert product_card(product, 1)["image"] == sent


def test_the_image_url_goes_from_the_catalog_onto_the_card(tmp_path: Path) -> None:
    from actions.catalog.db import get_engine, products_by_id, session_for
    from actions.payloads import product_cards
    from tests.test_search import product

    url = f"sqlite:///{tmp_path / 'images.db'}"
    build_catalog(url, [product("I1", "Mug", "mug", "home", image_url="https://cdn.example.com/i1.jpg"),
                        product("I2", "Cup", "mug", "home", image_url="")])
    with session_for(get_engine(url)) as session:
        cards = product_cards(products_by_id(session, ["I1", "I2"]))["products"]
    dispose_engine(url)
    assert [card["image"] for card in cards] == ["https://cdn.example.com/i1.jpg", None]


def test_a_size_said_after_which_size_adds_the_product_in_it(chat: Chat) -> None:
    chat.say(
        "search_product", "womens running trainers", [("product_type", "trainers"), ("feature", "running")]
    )
    chat.say("add_to_cart", "add the first one to my cart")
    assert "which size" in chat.text.lower() and chat.slots["pending_offer"] == "size"
    # A bare size reads as a refinement (or a quantity); after the question it is the answer.
    chat.say("refine_search", "a size 8 please", [("size", "8")])
    assert "Added" in chat.text and not chat.cards()
    assert [(line["id"], line["size"]) for line in chat.slots["cart"]] == [("T1", "8")]
    assert chat.slots["pending_offer"] != "size"


def test_a_bare_number_answers_which_size_but_a_product_starts_a_new_search(chat: Chat) -> None:
    trainers = [("product_type", "trainers"), ("feature", "running")]
    chat.say("search_product", "womens running trainers", trainers)
    chat.say("add_to_cart", "add the first one to my cart")
    chat.say("search_product", "8", [("quantity", "8")])
    assert [line["size"] for line in chat.slots["cart"]] == ["8"]
    chat.say("add_to_cart", "add the first one to my cart")
    chat.say("search_product", "headphones", [("product_type", "headphones")])
    assert chat.cards() and "Added" not in chat.text


def test_the_searched_size_is_the_one_added(chat: Chat) -> None:
    chat.say("search_product", "womens running trainers in size 8",
             [("product_type", "trainers"), ("feature", "running"), ("size", "8")])
    chat.say("add_to_cart", "add the first one to my cart")
    assert "Added" in chat.text and "which size" not in chat.text.lower()
    assert chat.slots["cart"][0]["size"] == "8"
