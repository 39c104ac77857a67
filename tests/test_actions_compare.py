"""Comparison of two or three products: only differing rows, and a verdict on price and rating."""

from __future__ import annotations

from typing import Any

import pytest

from actions.catalog.models import Product, StockLevel
from actions.compare import (
    compare_products,
    comparison_shared_line,
    comparison_text,
    shared_values,
    verdict,
)
from actions.payloads import comparison as comparison_payload


def make(pid: str, price: float, rating: float, **fields: Any) -> Product:
    values = {
        "title": f"Product {pid}",
        "brand": "Acme",
        "product_type": "trainers",
        "category": "shoes",
        "gender": "female",
        "age_group": "adult",
        "colour": "blue",
        "material": "mesh",
        "gift_suitable": False,
        "description": "",
    }
    values.update(fields)
    product = Product(id=pid, price=price, rating=rating, **values)
    product.stock = [StockLevel(size="8", position=0, quantity=4)]
    return product


def test_only_attributes_that_differ_are_rows() -> None:
    a = make("A", 40.0, 4.2)
    b = make("B", 55.0, 4.2, colour="red")
    result = compare_products([(1, a), (2, b)])
    assert [label for label, _ in result.rows] == ["price", "colour"]
    assert dict(result.rows)["price"] == ["$40", "$55"]


def test_verdict_names_the_cheaper_and_the_better_rated() -> None:
    cheap, good = make("A", 30.0, 3.9), make("B", 50.0, 4.7)
    line = verdict([(1, cheap), (2, good)])
    assert line.startswith("#1 is cheaper ($30 vs $50)") and "#2 is better rated (4.7/5 vs 3.9/5)" in line


def test_verdict_when_one_wins_on_both() -> None:
    assert "#2 is both the cheapest ($20) and the best rated (4.8/5)" in verdict(
        [(1, make("A", 30.0, 4.0)), (2, make("B", 20.0, 4.8)), (3, make("C", 25.0, 4.1))]
    )


def test_verdict_on_ties() -> None:
    assert "Same price" in verdict([(1, make("A", 30.0, 4.0)), (3, make("B", 30.0, 4.5))])
    assert "both are rated 4.0/5" in verdict([(1, make("A", 30.0, 4.0)), (2, make("B", 20.0, 4.0))])
    same = compare_products([(1, make("A", 30.0, 4.0)), (2, make("B", 30.0, 4.0))])
    assert same.rows == () and "same on everything" in comparison_text(
        [(1, make("A", 30.0, 4.0)), (2, make("B", 30.0, 4.0))], same
    )


def test_only_two_or_three_products() -> None:
    with pytest.raises(ValueError):
        compare_products([(1, make("A", 1.0, 1.0))])


def test_payload_follows_the_contract() -> None:
    pairs = [(1, make("A", 40.0, 4.2)), (3, make("B", 55.0, 4.6))]
    result = compare_products(pairs)
    payload = comparison_payload(pairs, result.rows, result.verdict)
    assert payload["type"] == "comparison"
    assert [(p["id"], p["position"]) for p in payload["products"]] == [("A", 1), ("B", 3)]
    assert {"attribute": "price", "values": ["$40", "$55"]} in payload["rows"]
    assert payload["verdict"] == result.verdict


# --- ordered by the category's key attributes (actions/key_attributes.py) ----------------------------


def test_rows_follow_the_key_attributes_after_price_and_rating() -> None:
    a = make("A", 40.0, 4.2, colour="black", material="leather", brand="Acme")
    b = make("B", 55.0, 4.6, colour="white", material="mesh", brand="Zed")
    plain = compare_products([(1, a), (2, b)])
    assert [label for label, _ in plain.rows] == ["price", "rating", "brand", "colour", "material"]
    keyed = compare_products([(1, a), (2, b)], key=("material", "colour"))
    assert [label for label, _ in keyed.rows] == ["price", "rating", "material", "colour", "brand"]
    assert keyed.verdict == plain.verdict  # the verdict does not depend on the key attributes


def test_the_key_attributes_they_share_make_the_both_line() -> None:
    a = make("A", 40.0, 4.2, colour="black")
    b = make("B", 55.0, 4.2, colour="red")
    pairs = [(1, a), (2, b)]
    key = ("sizes", "material", "colour", "gender", "age_group", "rating")
    result = compare_products(pairs, key)
    assert result.shared == ("sizes", "material", "gender", "age_group")  # rating is the verdict's
    assert [label for label, _ in result.rows] == ["price", "colour"]
    text = comparison_text(pairs, result)
    assert "Both: size 8, mesh, for women." in text.splitlines()
    assert text.index("Both:") < text.index(result.verdict)
    three = [(1, a), (2, b), (3, make("C", 20.0, 3.0))]
    assert "All three: size 8, mesh, for women." in comparison_text(three, compare_products(three, key))
    assert compare_products(pairs).shared == ()  # no key attributes: no shared line
    assert "Both" not in comparison_text(pairs, compare_products(pairs))


def test_payload_carries_the_shared_attributes_and_their_line() -> None:
    pairs = [(1, make("A", 40.0, 4.2)), (2, make("B", 55.0, 4.6, colour="red"))]
    result = compare_products(pairs, ("colour", "material", "gender"))
    payload = comparison_payload(
        pairs, result.rows, result.verdict, shared=shared_values(pairs, result),
        shared_line=comparison_shared_line(pairs, result),
    )
    assert [row["attribute"] for row in payload["rows"]] == ["price", "rating", "colour"]
    assert payload["shared"] == [
        {"attribute": "material", "value": "mesh"},
        {"attribute": "for", "value": "women"},
    ]
    assert payload["shared_line"] == "Both: mesh, for women."
