"""The one price parser: the shopper's price words -> bounds, and relative words against a category."""

from __future__ import annotations

import pytest

from actions.prices import PriceIntent, format_price, parse_price, resolve_relative
from common.stats import percentile


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("under $50", None, 50),
        ("trainers below 50 dollars", None, 50),
        ("no more than 75 dollars", None, 75),
        ("less than 25", None, 25),
        ("budget of 60", None, 60),
        ("100 dollars or less", None, 100),
        ("30-40 bucks", 30, 40),
        ("$30 to $40", 30, 40),
        ("$30 - $40", 30, 40),
        ("between 20 and 30", 20, 30),
        ("40-30 bucks", 30, 40),
        ("over £200", 200, None),
        ("at least 20", 20, None),
        ("over 20 under 50", 20, 50),
        ("around 100", 80, 120),
        ("under 1.5k", None, 1500),
        ("something for 20 quid", None, 20),
        ("a $50 gift card", None, 50),
        ("up to 1,200 dollars", None, 1200),
    ],
)
def test_stated_prices_become_bounds(text: str, low: float, high: float) -> None:
    intent = parse_price(text)
    assert (intent.min_price, intent.max_price) == (low, high)
    assert intent.invalid is None


@pytest.mark.parametrize(
    ("text", "relative"),
    [
        ("cheap trainers", "cheap"),
        ("something affordable", "cheap"),
        ("not too pricey", "moderate"),
        ("not too expensive headphones", "moderate"),
        ("cheaper please", "cheaper"),
        ("that's too expensive", "cheaper"),
        ("show me more expensive ones", "pricier"),
        ("a luxury watch", "premium"),
    ],
)
def test_price_words_are_relative(text: str, relative: str) -> None:
    assert parse_price(text) == PriceIntent(relative=relative)


@pytest.mark.parametrize(
    "text",
    [
        "size 8 shoes",
        "2 pack of socks",
        "top 3",
        "i want 10-12 year old stuff",
        "a t-shirt",
        "",
        "for my 7 year old",
    ],
)
def test_numbers_that_are_not_prices_are_ignored(text: str) -> None:
    assert parse_price(text).is_empty


def test_a_price_entity_may_be_a_bare_number() -> None:
    assert parse_price("50", assume_money=True).max_price == 50
    assert (parse_price("30 - 40", assume_money=True).min_price, parse_price("30-40", True).max_price) == (
        30,
        40,
    )
    assert parse_price("50").is_empty


@pytest.mark.parametrize("text", ["under -5 dollars", "price -10", "trainers for $-20", "minus 10 dollars"])
def test_negative_prices_are_rejected_with_a_reason(text: str) -> None:
    intent = parse_price(text)
    assert intent.invalid and "negative" in intent.invalid
    assert intent.min_price is None and intent.max_price is None


def test_absurd_and_zero_prices_are_rejected() -> None:
    assert "more than anything" in (parse_price("under 99999999 dollars").invalid or "")
    assert parse_price("for 0 dollars").invalid


def test_huge_input_is_handled_quickly() -> None:
    assert parse_price("under $50 " + "a" * 20_000).max_price == 50


def test_cheap_is_relative_to_the_category_prices() -> None:
    socks = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0]
    headphones = [20.0, 40.0, 60.0, 90.0, 150.0, 250.0, 380.0]
    cheap_socks = resolve_relative(PriceIntent(relative="cheap"), socks)
    cheap_headphones = resolve_relative(PriceIntent(relative="cheap"), headphones)
    assert cheap_socks.max_price is not None and cheap_socks.max_price < 9
    assert cheap_headphones.max_price is not None and 40 < cheap_headphones.max_price < 90
    premium = resolve_relative(PriceIntent(relative="premium"), headphones)
    assert premium.min_price is not None and premium.min_price > 90
    moderate = resolve_relative(PriceIntent(relative="moderate"), headphones)
    assert cheap_headphones.max_price < moderate.max_price < premium.min_price


def test_cheaper_means_below_the_cheapest_shown() -> None:
    assert resolve_relative(PriceIntent(relative="cheaper"), [], reference=25.0).max_price == 24.99
    assert resolve_relative(PriceIntent(relative="pricier"), [], reference=25.0).min_price == 25.01


def test_percentile_and_format() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([1.0, 2.0], 25) == 1.25
    assert percentile([], 50) == 0.0
    with pytest.raises(ValueError):
        percentile([1.0], 150)
    assert format_price(50) == "$50" and format_price(29.99) == "$29.99"
    assert PriceIntent(20, 30).describe() == "$20-$30" and PriceIntent(max_price=50).describe() == "under $50"
