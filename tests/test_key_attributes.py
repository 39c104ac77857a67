"""Key attributes per category (actions/key_attributes.py): what varies and matters, learned from the
catalog; the Quick details line, and the substitutes' weights that use them."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from actions.catalog.db import build_catalog, dispose_engine
from actions.catalog.models import Product, StockLevel
from actions.catalog_handle import catalog, reset_catalog_cache
from actions.key_attributes import (
    FLOOR,
    PRIORS,
    ProductFacts,
    attribute_scores,
    learn_key_attributes,
    normalised_entropy,
    price_band,
    rank_attributes,
)
from actions.replies.products import product_details, quick_details
from actions.similar import WEIGHTS, rank_similar, similarity, weights_for
from tests.test_search import SMALL_CATALOG

SHOE_SIZES = [["4", "5", "6"], ["6", "7", "8"], ["8", "9", "10"], ["10", "11", "12"]]


def shoes() -> List[ProductFacts]:
    """Sizes and materials vary; every shoe is black, for women."""
    materials = ["leather", "mesh", "suede", "canvas"]
    return [
        ProductFacts("shoes", "trainers", "female", "adult", "black", materials[i % 4], "Acme", 40.0, 4.0,
                     False, SHOE_SIZES[i % 4])
        for i in range(8)
    ]


def mugs() -> List[ProductFacts]:
    """One size, no material given; colours vary."""
    colours = ["red", "blue", "green", "white"]
    return [
        ProductFacts("kitchen", "mug", "unisex", "adult", colours[i % 4], "", "Acme", 10.0, 4.0, False, [])
        for i in range(8)
    ]


def test_normalised_entropy_and_price_band() -> None:
    assert normalised_entropy({}) == 0.0 and normalised_entropy({"black": 5}) == 0.0
    assert normalised_entropy({"a": 2, "b": 2}) == pytest.approx(1.0)
    assert 0.0 < normalised_entropy({"a": 9, "b": 1}) < 0.5
    assert (price_band(20.0), price_band(32.0), price_band(0.0)) == ("16-32", "32-64", "")


def test_where_sizes_and_material_vary_they_rank_above_where_they_do_not() -> None:
    table = learn_key_attributes(shoes() + mugs())
    shoe_keys, mug_keys = table.of("shoes"), table.of("kitchen")
    assert shoe_keys[:2] == ("sizes", "material")
    assert "colour" not in shoe_keys  # every shoe is black
    assert "sizes" not in mug_keys and "material" not in mug_keys and mug_keys[0] == "colour"
    shoe_scores, mug_scores = table.scores["shoes"], table.scores["kitchen"]
    assert shoe_scores["sizes"] > mug_scores["sizes"] == 0.0
    assert shoe_scores["material"] > mug_scores["material"] == 0.0


def test_an_attribute_few_products_have_does_not_count() -> None:
    """Coverage: rings are sized, necklaces not; sizes are not a key attribute of all jewellery."""
    rings = [ProductFacts("jewellery", "ring", real_sizes=["J", "K", "L", "M"])]
    necklaces = [ProductFacts("jewellery", "necklace", colour=c) for c in ("gold", "silver") * 5]
    scores = attribute_scores(rings + necklaces)
    assert 0.0 < scores["sizes"] < FLOOR
    assert "sizes" not in learn_key_attributes(rings + necklaces).of("jewellery")


def test_empty_catalog_and_unknown_or_uniform_categories_have_no_key_attributes() -> None:
    assert learn_key_attributes([]).of("shoes") == ()
    assert attribute_scores([]) == {}
    uniform = [ProductFacts("socks", "socks", "unisex", "adult", "white", "", "Acme", 5.0, 4.0)] * 6
    table = learn_key_attributes(uniform)
    assert table.of("socks") == () and table.of("hats") == ()


def test_ties_are_broken_in_prior_order_whatever_the_input_order() -> None:
    assert rank_attributes({"brand": 0.5, "colour": 0.5, "sizes": 0.1}) == ("colour", "brand")
    assert rank_attributes({"colour": 0.5, "brand": 0.5}) == ("colour", "brand")
    products = shoes() + mugs()
    shuffled = list(products)
    random.Random(3).shuffle(shuffled)
    assert learn_key_attributes(shuffled).by_category == learn_key_attributes(products).by_category
    assert set(rank_attributes({name: 1.0 for name in PRIORS})) == set(PRIORS)
    assert rank_attributes({name: 1.0 for name in PRIORS}) == tuple(PRIORS)


@pytest.fixture()
def small_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    path = tmp_path / "catalog.db"
    build_catalog(f"sqlite:///{path}", SMALL_CATALOG)
    dispose_engine(f"sqlite:///{path}")
    monkeypatch.setenv("SHOPCUE_CATALOG_DB", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_catalog_cache()
    yield
    reset_catalog_cache()
    dispose_engine(f"sqlite:///{path}")


def test_the_opened_catalog_carries_the_table_and_the_reset_forgets_it(small_catalog: None) -> None:
    opened = catalog()
    assert opened.key_attributes.of("shoes")[0] == "sizes"  # the small catalog's trainers come in sizes
    assert "sizes" not in opened.key_attributes.of("jewellery")
    assert catalog() is opened  # computed once per opened catalog
    reset_catalog_cache()
    assert catalog() is not opened


def make(pid: str, **fields: Any) -> Product:
    values = {
        "title": f"Product {pid}",
        "brand": "Acme",
        "product_type": "trainers",
        "category": "shoes",
        "gender": "male",
        "age_group": "adult",
        "colour": "black",
        "material": "leather",
        "price": 50.0,
        "rating": 4.0,
        "gift_suitable": False,
        "description": "A shoe.",
    }
    sizes = fields.pop("sizes", ["4", "5", "6", "7", "8", "9", "10", "11", "12"])
    values.update(fields)
    product = Product(id=pid, **values)
    product.stock = [StockLevel(size=s, position=i, quantity=3) for i, s in enumerate(sizes)]
    return product


def test_quick_details_follow_the_key_attributes_in_order() -> None:
    shoe = make("S1")
    text = product_details(shoe, ("sizes", "material", "colour", "gender", "age_group", "brand"))
    assert "Quick details: sizes 4-12, leather, black, for men." in text.splitlines()
    # brand, price and rating are in the first line already; type is in the title
    assert quick_details(shoe, ("brand", "price_band", "rating", "product_type")) == ""
    assert quick_details(shoe, ("colour", "sizes")) == "Quick details: black, sizes 4-12."
    assert "Quick details" not in product_details(shoe)  # a category without key attributes
    one_size = make("S2", sizes=["one size"], material="")
    assert quick_details(one_size, ("sizes", "material", "colour")) == "Quick details: black."


def test_the_key_attributes_change_which_substitute_ranks_first() -> None:
    reference = make("R", colour="black", material="leather")
    same_colour = make("A", colour="black", material="mesh")
    same_material = make("B", colour="brown", material="leather")
    assert rank_similar(reference, [same_material, same_colour], limit=1) == [same_colour]
    ranked = rank_similar(reference, [same_colour, same_material], limit=1, key=("material",))
    assert ranked == [same_material]
    assert similarity(reference, same_material, ("material",)) > similarity(reference, same_material)
    assert 0.0 <= similarity(reference, same_colour, ("colour", "sizes")) <= 1.0


def test_product_type_stays_the_heaviest_weight() -> None:
    boosted = weights_for(tuple(PRIORS))
    assert boosted["product_type"] == WEIGHTS["product_type"]
    assert max(boosted, key=boosted.get) == "product_type"
    assert all(boosted[name] >= weight for name, weight in WEIGHTS.items())
    assert boosted["price"] > WEIGHTS["price"]  # price_band names the price weight
