"""Ordinal references to shown results, parsed from the message text."""

from __future__ import annotations

from typing import List

import pytest

from actions.references import parse_positions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tell me about the second one", [2]),
        ("compare 1 and 3", [1, 3]),
        ("which is better, 1 or 3", [1, 3]),
        ("compare the first two", [1, 2]),
        ("compare the first three", [1, 2, 3]),
        ("top 3", [1, 2, 3]),
        ("is the 2nd one in size 8", [2]),
        ("add number 2 to my cart", [2]),
        ("#3", [3]),
        ("3rd", [3]),
        ("which is better the first or the third", [1, 3]),
        ("compare 2 & 4", [2, 4]),
        ("both", [1, 2]),
        ("the last one", [5]),
        ("second to last", [4]),
        ("the last two", [4, 5]),
        ("all three", [1, 2, 3]),
    ],
)
def test_positions_are_read_in_the_order_mentioned(text: str, expected: List[int]) -> None:
    assert parse_positions(text, 5) == expected


@pytest.mark.parametrize(
    "text",
    [
        "is it in size 8",
        "under 30",
        "the blue one",
        "the 10 year old one",
        "add it to my cart",
        "show me 2 more",
        "i want 2 of them",
        "size 4 please",
        "around $3",
        "",
    ],
)
def test_sizes_prices_ages_and_pronouns_are_not_positions(text: str) -> None:
    assert parse_positions(text, 5) == []


def test_ranges_are_clipped_to_what_was_shown_but_single_positions_are_kept() -> None:
    assert parse_positions("compare the first three", 2) == [1, 2]
    assert parse_positions("the 7th one", 3) == [7]  # the caller says "I only showed 3"
    assert parse_positions("the last one", 0) == []
    assert parse_positions("both", 1) == []


def test_a_colour_points_at_the_shown_product_of_that_colour() -> None:
    colours = ["red", "blue", "black", "blue"]
    assert parse_positions("whats better the blue one or the black one", 4, colours) == [2, 3]
    assert parse_positions("tell me about the red one", 4, colours) == [1]
    assert parse_positions("the green one", 4, colours) == []
    assert parse_positions("the rose gold one", 2, ["silver", "rose gold"]) == [2]
