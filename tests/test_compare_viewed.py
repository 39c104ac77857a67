"""Compare with what I looked at: the viewed_products slot's bookkeeping (actions/viewed.py), the wording
(actions/references.py) and the compare action reading the slot (forged ids ignored)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from actions.references import mentions_viewed
from actions.viewed import MAX_VIEWED, earlier_views, read_viewed, remember_viewed
from tests.test_actions import Chat, chat  # noqa: F401  (the fixture)


def test_opening_moves_a_product_to_the_end_and_the_oldest_fall_off() -> None:
    assert remember_viewed(None, ["A"]) == ["A"]
    assert remember_viewed(["A", "B", "C"], ["A"]) == ["B", "C", "A"]
    assert remember_viewed(["A", "B"], ["C", "D"]) == ["A", "B", "C", "D"]
    many = remember_viewed([], [f"P{i}" for i in range(8)])
    assert many == [f"P{i}" for i in range(8 - MAX_VIEWED, 8)]


def test_a_forged_slot_reads_as_clean_ids() -> None:
    assert read_viewed("T1") == [] and read_viewed({"a": 1}) == []
    assert read_viewed(["T1", 42, None, "", "  ", "T2", "T1"]) == ["T2", "T1"]
    assert read_viewed(["x" * 500]) == ["x" * 32]


def test_earlier_views_are_the_latest_others_newest_first() -> None:
    assert earlier_views(["A", "B", "C", "D"], "D") == ["C", "B"]
    assert earlier_views(["A", "B", "C", "D"], "B") == ["D", "C"]
    assert earlier_views(["A"], "A") == []


@pytest.mark.parametrize(
    "text",
    [
        "compare it with the ones I looked at before",
        "how does this compare to the ones I viewed earlier",
        "compare with what I saw before",
        "compare it against my previously viewed items",
        "compare to the ones ive looked at",
        "how does it stack up against the ones I\u2019ve seen",
    ],
)
def test_the_looked_at_before_wording_is_recognised(text: str) -> None:
    assert mentions_viewed(text)


@pytest.mark.parametrize(
    "text", ["compare the first two", "which is better", "compare 1 and 3", "what have you seen on tv"]
)
def test_ordinary_comparisons_are_not_about_viewed_products(text: str) -> None:
    assert not mentions_viewed(text)


def comparison(chat: Chat) -> Dict[str, Any]:  # noqa: F811
    return next(r["custom"] for r in chat.replies if (r.get("custom") or {}).get("type") == "comparison")


def compared_ids(chat: Chat) -> List[str]:  # noqa: F811
    return [p["id"] for p in comparison(chat)["products"]]


def open_results(chat: Chat, *ordinals: str) -> None:  # noqa: F811
    chat.say("search_product", "headphones", [("product_type", "headphones")])
    for ordinal in ordinals:
        chat.say("product_details", f"tell me about the {ordinal} one")


def test_details_record_the_opened_products(chat: Chat) -> None:  # noqa: F811
    open_results(chat, "first", "second")
    shown = chat.slots["shown_ids"]
    assert chat.slots["viewed_products"] == [shown[0], shown[1]]
    chat.say("product_details", "tell me about the first one")
    assert chat.slots["viewed_products"] == [shown[1], shown[0]]


def test_compare_with_the_two_opened_before(chat: Chat) -> None:  # noqa: F811
    open_results(chat, "first", "second", "third")
    first, second, third = chat.slots["viewed_products"]
    chat.say("compare_products", "how does this compare to the ones I viewed earlier")
    assert compared_ids(chat) == [third, second, first]
    assert [p["position"] for p in comparison(chat)["products"]] == [1, 2, 3]
    assert chat.slots["shown_ids"] == [third, second, first] and chat.slots["focus_id"] == third
    assert comparison(chat)["verdict"] in chat.text


def test_with_only_one_other_it_says_so_and_compares_the_two(chat: Chat) -> None:  # noqa: F811
    open_results(chat, "second", "first")
    opened_first, current = chat.slots["viewed_products"]
    chat.say("compare_products", "compare it with the ones I looked at before")
    assert "You've only opened one other product so far:" in chat.text
    assert compared_ids(chat) == [current, opened_first]


def test_with_nothing_else_opened_it_says_so(chat: Chat) -> None:  # noqa: F811
    chat.say("compare_products", "compare with what I saw before")
    assert "haven't opened any product yet" in chat.text and not chat.replies[0].get("custom")
    open_results(chat, "first")
    chat.say("compare_products", "compare with what I saw before")
    assert "haven't opened any other product besides" in chat.text
    assert not any(r.get("custom") for r in chat.replies)


def test_forged_viewed_ids_are_ignored(chat: Chat) -> None:  # noqa: F811
    open_results(chat, "first")
    current = chat.slots["focus_id"]
    chat.slots["viewed_products"] = ["NOPE1", "T1", 42, "../etc/passwd", "T2", "X" * 300, current]
    chat.say("compare_products", "compare it with the ones I looked at before")
    assert compared_ids(chat) == [current, "T2", "T1"]
    chat.slots["viewed_products"] = ["NOPE1", "NOPE2", current]
    chat.say("compare_products", "compare it with the ones I looked at before")
    assert "haven't opened any other product besides" in chat.text
