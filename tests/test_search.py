"""Query building, full-text search with synonyms, attribute filters and boosts, relaxation, similarity,
run against a small hand-made catalog so every expected result is known."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from sqlalchemy.orm import Session

from actions import settings
from actions.catalog.db import build_catalog, dispose_engine, get_engine, products_by_id, session_for
from actions.query import QueryNotes, SearchQuery, build_query, needs_clarification
from actions.request import read_request
from actions.retrieval import distinct_catalog_values, run_search, text_scores
from actions.similar import find_similar, price_closeness, similarity
from actions.vocabulary import Vocabulary, build_vocabulary, load_synonyms


def product(pid: str, title: str, product_type: str, category: str, **fields: Any) -> Dict[str, Any]:
    """A catalog row with neutral defaults, for small test catalogs."""
    row = {
        "id": pid,
        "title": title,
        "brand": "Acme",
        "product_type": product_type,
        "category": category,
        "gender": "unisex",
        "age_group": "adult",
        "colour": "black",
        "material": "",
        "price": 20.0,
        "rating": 4.0,
        "gift_suitable": False,
        "description": title,
        "stock": {"one size": 5},
    }
    row.update(fields)
    return row


SMALL_CATALOG: List[Dict[str, Any]] = [
    product(
        "T1",
        "Stridewell Women's Running Trainers - Red",
        "trainers",
        "shoes",
        gender="female",
        colour="red",
        price=45.0,
        material="mesh",
        stock={"5": 3, "6": 0, "8": 4},
        rating=4.5,
    ),
    product(
        "T2",
        "Stridewell Men's Court Trainers - Blue",
        "trainers",
        "shoes",
        gender="male",
        colour="blue",
        price=60.0,
        material="leather",
        stock={"8": 2, "9": 6},
        rating=4.1,
    ),
    product(
        "T3",
        "Nike Kids' Retro Trainers - Blue",
        "trainers",
        "shoes",
        age_group="kid",
        colour="blue",
        price=35.0,
        brand="Nike",
        stock={"1": 5, "2": 0},
        rating=3.9,
    ),
    product(
        "T4",
        "Stridewell Women's Cloud Runner Trainers - Blue",
        "trainers",
        "shoes",
        gender="female",
        colour="blue",
        price=80.0,
        stock={"5": 0, "6": 0, "8": 0},
        rating=4.8,
    ),
    product(
        "T5",
        "Kestrel Women's Everyday Trainers - White",
        "trainers",
        "shoes",
        gender="female",
        colour="white",
        price=30.0,
        brand="Kestrel",
        stock={"6": 5, "7": 2},
        rating=3.8,
    ),
    product(
        "B1",
        "Trailhead Men's Hiking Boots - Brown",
        "boots",
        "shoes",
        gender="male",
        colour="brown",
        price=95.0,
        material="leather",
        stock={"8": 1, "9": 0},
        description="Waterproof hiking boots.",
    ),
    product(
        "H1",
        "Voltra Over-Ear Headphones - Black",
        "headphones",
        "electronics",
        price=120.0,
        description="Wireless noise cancelling over-ear headphones.",
        rating=4.6,
        gift_suitable=True,
    ),
    product(
        "H2",
        "Pixelwave Kids' Headphones - Pink",
        "headphones",
        "electronics",
        age_group="kid",
        colour="pink",
        price=25.0,
        description="Volume-limited wired headphones for children.",
        gift_suitable=True,
    ),
    product(
        "H3",
        "Sony Studio Headphones - Silver",
        "headphones",
        "electronics",
        colour="silver",
        price=60.0,
        description="Wired studio headphones.",
        brand="Sony",
    ),
    product(
        "N1",
        "Aurelia Women's Heart Necklace - Gold",
        "necklace",
        "jewellery",
        gender="female",
        colour="gold",
        material="gold",
        price=35.0,
        gift_suitable=True,
        rating=4.9,
    ),
    product(
        "N2",
        "Aurelia Women's Pearl Necklace - Silver",
        "necklace",
        "jewellery",
        gender="female",
        colour="silver",
        material="sterling silver",
        price=55.0,
        gift_suitable=True,
        rating=4.2,
    ),
    product(
        "G1",
        "Brightsparks Kids' Castle Building Set",
        "building set",
        "toys",
        age_group="kid",
        colour="grey",
        price=30.0,
        gift_suitable=True,
        rating=4.7,
    ),
    product(
        "G2",
        "Tumbletot Girls' Fashion Doll",
        "doll",
        "toys",
        gender="female",
        age_group="kid",
        colour="pink",
        price=18.0,
        gift_suitable=True,
    ),
    product("G3", "Hasbro Family Trivia Board Game", "board game", "toys", price=22.0, gift_suitable=True),
    product(
        "M1",
        "Hearth Speckled Mug - White",
        "mug",
        "home and kitchen",
        colour="white",
        price=9.0,
        material="ceramic",
        gift_suitable=False,
        rating=4.0,
    ),
]


def vocabulary_for(session: Session) -> Vocabulary:
    values = distinct_catalog_values(session)
    return build_vocabulary(
        load_synonyms(), values["types"], values["colours"], values["materials"], values["brands"]
    )


@pytest.fixture()
def small_catalog(tmp_path: Path) -> Iterator[Tuple[Session, Vocabulary]]:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    build_catalog(url, SMALL_CATALOG)
    with session_for(get_engine(url)) as session:
        yield session, vocabulary_for(session)
    dispose_engine(url)


def ask(text: str, *entities: Tuple[str, str], attributes: Any = None) -> Dict[str, Any]:
    """A parsed message as the tracker holds it (entities without offsets, as tests write them)."""
    message: Dict[str, Any] = {"text": text, "entities": [{"entity": k, "value": v} for k, v in entities]}
    if attributes is not None:
        message["attributes"] = attributes
    return message


def query_of(
    message: Dict[str, Any],
    vocabulary: Vocabulary,
    previous: Optional[SearchQuery] = None,
    shown_prices: Sequence[float] = (),
) -> Tuple[SearchQuery, QueryNotes]:
    return build_query(read_request(message, vocabulary), previous, shown_prices)


def ids(products: List[Any]) -> List[str]:
    return [p.id for p in products]


# --- vocabulary and query building ------------------------------------------------------------------


def test_synonyms_and_plurals_reach_the_catalogs_product_types(small_catalog) -> None:
    _, vocabulary = small_catalog
    assert vocabulary.find_product("sneakers") == ("trainers", None)
    assert vocabulary.find_product("trainer") == ("trainers", None)
    assert vocabulary.find_product("necklaces") == ("necklace", None)
    assert vocabulary.find_product("jewelry") == (None, "jewellery")
    assert vocabulary.find_product("some nice wireless headphones") == ("headphones", None)
    assert vocabulary.colour("gray") == "grey"
    assert vocabulary.size("size 8") == "8" and vocabulary.size("medium") == "M"
    assert vocabulary.size("XL please") == "XL" and vocabulary.size("for a 7-8y") == "7-8Y"


def test_entities_split_by_the_model_are_joined(small_catalog) -> None:
    _, vocabulary = small_catalog
    query, _ = query_of(
        ask(
            "bluetooth speakers under $60",
            ("product_type", "bluetooth"),
            ("product_type", "speakers"),
            ("price", "under"),
            ("price", "$60"),
        ),
        vocabulary,
    )
    assert (query.product_type, query.max_price) == ("bluetooth speaker", 60.0)


def test_other_words_of_a_product_phrase_still_narrow_the_search(small_catalog) -> None:
    _, vocabulary = small_catalog
    query, _ = query_of(ask("wireless headphones", ("product_type", "wireless headphones")), vocabulary)
    assert (query.product_type, query.terms) == ("headphones", ("wireless",))
    query, _ = query_of(
        ask("pink sony premium headphones", ("product_type", "pink sony premium headphones")), vocabulary
    )
    assert (query.product_type, query.colour, query.brand, query.terms) == ("headphones", "pink", "Sony", ())
    assert query.price_relative == "premium"
    query, _ = query_of(
        ask("gold necklace", ("product_type", "gold necklace"), ("color", "silver")), vocabulary
    )
    assert (query.colour, query.material) == ("silver", "gold")


def test_a_price_split_across_entities_is_read_from_the_whole_text(small_catalog) -> None:
    _, vocabulary = small_catalog
    query, _ = query_of(
        ask(
            "jackets between 50 and 120",
            ("product_type", "jackets"),
            ("price", "between 50"),
            ("price", "120"),
        ),
        vocabulary,
    )
    assert (query.min_price, query.max_price) == (50.0, 120.0)


def test_guessed_attributes_neither_filter_nor_boost(small_catalog) -> None:
    session, vocabulary = small_catalog
    guess = {"gender": {"value": "male", "confidence": settings.ATTRIBUTE_BOOST_THRESHOLD - 0.1}}
    query, _ = query_of(ask("trainers", ("product_type", "trainers"), attributes=guess), vocabulary)
    plain, _ = query_of(ask("trainers", ("product_type", "trainers")), vocabulary)
    assert ids(run_search(session, query, vocabulary).products) == ids(
        run_search(session, plain, vocabulary).products
    )


def test_brand_names_that_are_ordinary_words_are_not_spotted_in_text() -> None:
    vocabulary = build_vocabulary(load_synonyms(), [("dress", "clothing")], [], [], ["Vintage", "Stridewell"])
    assert vocabulary.brand("a vintage dress") is None
    assert vocabulary.brand("vintage") == "Vintage"  # tagged as a brand by the NLU
    assert vocabulary.brand("stridewell dress") == "Stridewell"


def test_entities_become_filters(small_catalog) -> None:
    _, vocabulary = small_catalog
    query, notes = query_of(
        ask(
            "red sneakers in size 8 under $50",
            ("product_type", "sneakers"),
            ("color", "red"),
            ("size", "size 8"),
            ("price", "under $50"),
        ),
        vocabulary,
    )
    assert (query.product_type, query.colour, query.size, query.max_price) == ("trainers", "red", "8", 50.0)
    assert query.product_words == "sneakers" and notes.ignored_price is None


def test_a_refinement_keeps_the_rest_of_the_search(small_catalog) -> None:
    _, vocabulary = small_catalog
    first, _ = query_of(
        ask("trainers under 70", ("product_type", "trainers"), ("price", "under 70")), vocabulary
    )
    refined, _ = query_of(ask("in blue", ("color", "blue")), vocabulary, previous=first)
    assert (refined.product_type, refined.max_price, refined.colour) == ("trainers", 70.0, "blue")
    cheaper, _ = query_of(ask("cheaper"), vocabulary, previous=refined, shown_prices=[60.0, 35.0])
    assert cheaper.max_price == 34.99 and cheaper.colour == "blue"


def test_a_new_recipient_replaces_the_old_ones_attributes(small_catalog) -> None:
    _, vocabulary = small_catalog
    husband = {
        "gender": {"value": "male", "confidence": 0.9},
        "age_group": {"value": "adult", "confidence": 0.9},
    }
    first, _ = query_of(
        ask(
            "trainers for my husband",
            ("product_type", "trainers"),
            ("recipient", "husband"),
            attributes=husband,
        ),
        vocabulary,
    )
    girl = {
        "gender": {"value": "female", "confidence": 0.9},
        "age_group": {"value": "unknown", "confidence": 0.6},
    }
    refined, _ = query_of(
        ask("for a girl instead", ("recipient", "girl"), attributes=girl), vocabulary, previous=first
    )
    assert (refined.product_type, refined.gender, refined.age_group) == ("trainers", "female", None)
    assert refined.recipient == "girl"


def test_confident_attributes_filter_and_unsure_ones_only_boost(small_catalog) -> None:
    _, vocabulary = small_catalog
    sure = {
        "gender": {"value": "female", "confidence": 0.95},
        "age_group": {"value": "adult", "confidence": 0.9},
        "gift": {"value": True, "confidence": 0.9},
    }
    query, _ = query_of(
        ask("trainers for my wife", ("product_type", "trainers"), attributes=sure), vocabulary
    )
    assert query.gender_filters and query.age_filters and query.gift
    unsure = {
        "gender": {"value": "female", "confidence": settings.ATTRIBUTE_FILTER_THRESHOLD - 0.2},
        "age_group": {"value": "unknown", "confidence": 0.99},
        "gift": {"value": False, "confidence": 0.8},
    }
    query, _ = query_of(ask("trainers", ("product_type", "trainers"), attributes=unsure), vocabulary)
    assert query.gender == "female" and not query.gender_filters
    assert query.age_group is None and not query.gift


def test_pronouns_are_not_recipients(small_catalog) -> None:
    _, vocabulary = small_catalog
    query, _ = query_of(
        ask("a toy for my niece, she's 6", ("recipient", "she"), ("recipient", "niece")), vocabulary
    )
    assert query.recipient == "niece"


def test_vague_requests_need_a_question_first(small_catalog) -> None:
    _, vocabulary = small_catalog
    wife = {"gender": {"value": "female", "confidence": 0.93}, "gift": {"value": True, "confidence": 0.95}}
    vague, _ = query_of(ask("a gift for my wife", ("recipient", "wife"), attributes=wife), vocabulary)
    assert needs_clarification(vague) and vague.gift and vague.recipient == "wife"
    specific, _ = query_of(ask("a necklace for my wife", ("product_type", "necklace")), vocabulary)
    assert not needs_clarification(specific)


# --- running searches -------------------------------------------------------------------------------


def test_sneakers_finds_trainers_with_filters(small_catalog) -> None:
    session, vocabulary = small_catalog
    query, _ = query_of(ask("blue sneakers", ("product_type", "sneakers"), ("color", "blue")), vocabulary)
    result = run_search(session, query, vocabulary)
    assert set(ids(result.products)) == {"T2", "T3", "T4"} and not result.dropped
    assert result.products[-1].id == "T4"  # out of stock ranks last


def test_full_text_finds_words_in_descriptions_with_stemming(small_catalog) -> None:
    session, vocabulary = small_catalog
    assert set(text_scores(session, ["wireless"], vocabulary)) == {"H1"}
    assert set(text_scores(session, ["necklaces"], vocabulary)) == {"N1", "N2"}
    assert set(text_scores(session, ["sneakers"], vocabulary)) == {"T1", "T2", "T3", "T4", "T5"}
    # The ILIKE path used where FTS5 is not available finds the same products.
    assert set(text_scores(session, ["wireless"], vocabulary, use_fts=False)) == {"H1"}
    assert set(text_scores(session, ["sneakers"], vocabulary, use_fts=False)) == {
        "T1",
        "T2",
        "T3",
        "T4",
        "T5",
    }


def test_price_and_size_filters(small_catalog) -> None:
    session, vocabulary = small_catalog
    query, _ = query_of(
        ask(
            "trainers size 8 between 40 and 70",
            ("product_type", "trainers"),
            ("size", "8"),
            ("price", "between 40 and 70"),
        ),
        vocabulary,
    )
    result = run_search(session, query, vocabulary)
    assert set(ids(result.products)) == {"T1", "T2"} and not result.dropped


def test_cheap_depends_on_the_category(small_catalog) -> None:
    session, vocabulary = small_catalog
    query, _ = query_of(ask("cheap headphones", ("product_type", "headphones")), vocabulary)
    result = run_search(session, query, vocabulary)
    assert ids(result.products) == ["H2"]
    assert result.price.max_price is not None and result.price.max_price < 60


def test_confident_gender_filters_and_gift_favours_gift_suitable(small_catalog) -> None:
    session, vocabulary = small_catalog
    attributes = {
        "gender": {"value": "female", "confidence": 0.9},
        "age_group": {"value": "kid", "confidence": 0.9},
        "gift": {"value": True, "confidence": 0.9},
    }
    query, _ = query_of(
        ask("a toy for my daughter", ("product_type", "toy"), attributes=attributes), vocabulary
    )
    result = run_search(session, query, vocabulary)
    assert set(ids(result.products)) == {"G1", "G2"}  # the unisex adult board game is filtered out
    assert all(p.gender in ("female", "unisex") and p.age_group == "kid" for p in result.products)


def test_unsure_gender_boosts_instead_of_filtering(small_catalog) -> None:
    session, vocabulary = small_catalog
    for gender, first in (("male", "T2"), ("female", "T1")):
        attributes = {"gender": {"value": gender, "confidence": 0.5}}
        query, _ = query_of(
            ask("trainers", ("product_type", "trainers"), attributes=attributes), vocabulary
        )
        result = run_search(session, query, vocabulary)
        assert len(result.products) == 5 and result.products[0].id == first


def test_relaxation_drops_one_constraint_and_says_which(small_catalog) -> None:
    session, vocabulary = small_catalog
    query, _ = query_of(
        ask("purple trainers", ("product_type", "trainers"), ("color", "purple")), vocabulary
    )
    result = run_search(session, query, vocabulary)
    assert result.dropped == ["colour"]
    assert {p.product_type for p in result.products} == {"trainers"}


def test_relaxation_keeps_constraints_that_were_not_the_problem(small_catalog) -> None:
    session, vocabulary = small_catalog
    query, _ = query_of(
        ask(
            "gucci leather trainers in blue size 9",
            ("product_type", "trainers"),
            ("brand", "gucci"),
            ("material", "leather"),
            ("color", "blue"),
            ("size", "9"),
        ),
        vocabulary,
    )
    result = run_search(session, query, vocabulary)
    assert result.dropped == ["brand"]
    assert ids(result.products) == ["T2"]


def test_an_unknown_product_is_not_relaxed_into_something_else(small_catalog) -> None:
    session, vocabulary = small_catalog
    query, _ = query_of(ask("a helicopter", ("product_type", "helicopter")), vocabulary)
    result = run_search(session, query, vocabulary)
    assert result.products == [] and not result.text_matched


@pytest.mark.parametrize(
    "text", ["'; DROP TABLE products; --", 'trainers" OR 1=1 --', "NEAR(a b) * ^ AND OR"]
)
def test_sql_and_fts_syntax_in_text_is_harmless(small_catalog, text: str) -> None:
    session, vocabulary = small_catalog
    query, _ = query_of(ask(text, ("product_type", text), ("color", text), ("brand", text)), vocabulary)
    run_search(session, query, vocabulary)
    assert len(run_search(session, SearchQuery(product_type="trainers"), vocabulary).products) == 5


def test_query_state_round_trips_through_a_slot() -> None:
    query = SearchQuery(
        product_type="trainers", terms=("wireless",), max_price=50.0, gender="female", gender_confidence=0.9
    )
    assert SearchQuery.from_state(query.to_state()) == query
    assert SearchQuery.from_state("garbage") is None


# --- similarity and substitutes --------------------------------------------------------------------


def test_similarity_prefers_same_type_audience_and_price(small_catalog) -> None:
    session, _ = small_catalog
    t1, t2, t3, t4, b1 = products_by_id(session, ["T1", "T2", "T3", "T4", "B1"])
    assert similarity(t4, t1) > similarity(t4, t2) > similarity(t4, b1)
    assert similarity(t4, t1) > similarity(t4, t3)
    assert price_closeness(50, 50) == 1.0 and price_closeness(50, 100) == 0.0


def test_substitutes_for_an_out_of_stock_item_are_in_stock_and_alike(small_catalog) -> None:
    session, _ = small_catalog
    (sold_out,) = products_by_id(session, ["T4"])
    substitutes = find_similar(session, sold_out)
    assert substitutes and substitutes[0].id == "T1"
    assert all(p.in_stock and p.id != "T4" for p in substitutes)
    in_size_8 = find_similar(session, sold_out, size="8")
    assert ids(in_size_8)[:2] == ["T1", "T2"] and "T3" not in ids(in_size_8)
