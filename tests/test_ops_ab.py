"""A/B tests (ops/ab.py): the stable split of shoppers, the interval maths on known counts, and the arm
comparison read from a seeded conversation log."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List

import pytest
from sqlalchemy import insert, update

from learning.db import get_engine, messages, reset_engines, suggestions, utcnow
from ops import ab


@pytest.fixture()
def engine(tmp_path: Path):
    reset_engines()
    yield get_engine(f"sqlite:///{tmp_path / 'loop.db'}")
    reset_engines()


# ---- the split -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_a_thousand_shoppers_split_near_the_share_and_stay_put(share: float) -> None:
    rng = random.Random(14)
    shoppers = [f"web-{rng.getrandbits(64):016x}" for _ in range(1000)]
    arms = {s: ab.arm_of(s, share) for s in shoppers}
    in_b = sum(1 for arm in arms.values() if arm == ab.ARM_CANDIDATE) / len(shoppers)
    # binomial sd at n=1000 is at most 1.6 points; 4 points is ~2.5 sd
    assert abs(in_b - share) <= 0.04, in_b
    assert all(ab.arm_of(s, share) == arm for s, arm in arms.items())  # same shopper, same arm
    # a larger share only adds shoppers to B: nobody already in the candidate arm moves back
    assert all(ab.in_candidate_arm(s, min(1.0, share + 0.1)) for s, arm in arms.items() if arm == "B")


def test_the_split_is_by_sha256_and_bounded() -> None:
    import hashlib

    sender = "shopper-42"
    expected = int.from_bytes(hashlib.sha256(sender.encode()).digest()[:8], "big") % 10_000
    assert ab.bucket(sender) == expected
    assert not ab.in_candidate_arm(sender, 0.0)
    assert ab.in_candidate_arm(sender, 1.0)
    assert ab.in_candidate_arm(sender, 1.7) and not ab.in_candidate_arm(sender, -1)


# ---- the maths -----------------------------------------------------------------------------------------


def test_wilson_interval_on_known_counts() -> None:
    # 81 of 263 (Wilson 1927 style textbook value): 0.2553 .. 0.3662
    interval = ab.wilson(81, 263)
    assert interval.low == pytest.approx(0.2553, abs=5e-4)
    assert interval.high == pytest.approx(0.3662, abs=5e-4)
    zero = ab.wilson(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=5e-4)
    assert ab.wilson(0, 0) == ab.Interval(0.0, 1.0)


def test_difference_interval_on_known_counts() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 - 48/80, method 10: 0.0524, 0.3339
    interval = ab.difference_interval(48, 80, 56, 70)
    assert interval.low == pytest.approx(0.0524, abs=5e-4)
    assert interval.high == pytest.approx(0.3339, abs=5e-4)
    # at the edges the interval stays honest: 0/10 against 3/10 is not a certain difference
    edge = ab.difference_interval(0, 10, 3, 10)
    assert edge.low < 0.3 < edge.high and edge.low > -0.1
    assert ab.difference_interval(0, 1, 1, 1).contains(0.0)
    assert ab.difference_interval(0, 0, 3, 10) == ab.Interval(-1.0, 1.0)


def test_compare_says_not_yet_significant_when_the_difference_can_be_zero() -> None:
    def shoppers(n: int, fallbacks: int) -> List[Dict[str, bool]]:
        return [{"fallback": i < fallbacks, "saw_cards": True} for i in range(n)]

    small = {row["outcome"]: row for row in ab.compare(shoppers(20, 3), shoppers(20, 5))}
    assert small["fallback"]["verdict"] == "not yet significant" and not small["fallback"]["significant"]
    assert small["fallback"]["difference"] == pytest.approx(0.10)
    assert small["fallback"]["difference_ci95"]["low"] < 0 < small["fallback"]["difference_ci95"]["high"]
    large = {row["outcome"]: row for row in ab.compare(shoppers(2000, 300), shoppers(2000, 500))}
    assert large["fallback"]["significant"]
    assert large["fallback"]["verdict"] == "fallback higher with the candidate"
    assert large["fallback"]["a"]["rate"] == pytest.approx(0.15)
    assert large["fallback"]["b"]["shoppers"] == 2000
    empty = {row["outcome"]: row for row in ab.compare(shoppers(5, 1), [])}
    assert empty["fallback"]["verdict"] == "no shoppers in one arm yet"


# ---- from the log --------------------------------------------------------------------------------------


def _row(engine, sender: str, model: str, intent: str, replies: List[Dict[str, Any]], minutes: int) -> int:
    with engine.begin() as conn:
        result = conn.execute(insert(messages).values(
            sender_id=sender, channel="rest", text=f"{intent} {minutes}", text_key=f"{intent} {minutes}",
            intent=intent, intent_confidence=0.9, intent_ranking=[], entities=[], attributes={},
            replies=replies, model_id=model, redactions={}, doubt=0.1,
            created_at=utcnow() - timedelta(minutes=60 - minutes), state="auto"))
        return int(result.inserted_primary_key[0])


def test_arm_comparison_reads_outcomes_per_shopper_from_the_log(engine) -> None:
    cards = [{"text": "here", "custom_type": "product_cards", "product_ids": ["P1"],
              "action": "action_search_products"}]
    # arm A (live "aaa"): s1 falls back twice (one shopper, one fallback), s2 sees cards and adds to cart
    _row(engine, "s1", "aaa", "nlu_fallback", [{"text": "?", "action": "action_default_fallback"}], 1)
    _row(engine, "s1", "aaa", "nlu_fallback", [], 2)
    searched = _row(engine, "s2", "aaa", "search_product", cards, 3)
    _row(engine, "s2", "aaa", "add_to_cart", [{"text": "added", "action": "action_add_to_cart"}], 4)
    # arm B (candidate "bbb"): s3 sees cards and clicks one, s4 asks for a person
    clicked = _row(engine, "s3", "bbb", "search_product", cards, 5)
    _row(engine, "s4", "bbb", "human_handoff", [], 6)
    # s5 was parsed by both (the test started mid-conversation): in neither arm
    _row(engine, "s5", "aaa", "nlu_fallback", [], 7)
    _row(engine, "s5", "bbb", "greet", [], 8)
    _row(engine, "s6", "other", "nlu_fallback", [], 9)  # another model entirely: ignored
    with engine.begin() as conn:
        conn.execute(insert(suggestions).values(message_id=clicked, kind="click", label={}, evidence="card",
                                                created_at=utcnow()))
        conn.execute(insert(suggestions).values(message_id=searched, kind="rephrase", label={}, evidence="x",
                                                created_at=utcnow()))
    report = ab.arm_comparison(engine, "aaa", "bbb")
    assert report["shoppers"] == {"A": 2, "B": 2} and report["excluded_shoppers"] == 1
    assert report["messages"] == {"A": 4, "B": 2}
    rows = {row["outcome"]: row for row in report["outcomes"]}
    assert (rows["fallback"]["a"]["count"], rows["fallback"]["b"]["count"]) == (1, 0)
    assert (rows["rephrase"]["a"]["count"], rows["rephrase"]["b"]["count"]) == (1, 0)
    assert (rows["add_to_cart"]["a"]["count"], rows["add_to_cart"]["b"]["count"]) == (1, 0)
    assert (rows["handoff"]["a"]["count"], rows["handoff"]["b"]["count"]) == (0, 1)
    # card clicks: out of the shoppers who were shown cards (one per arm)
    assert (rows["card_click"]["a"]["shoppers"], rows["card_click"]["b"]["shoppers"]) == (1, 1)
    assert (rows["card_click"]["a"]["count"], rows["card_click"]["b"]["count"]) == (0, 1)
    assert all(row["verdict"] == "not yet significant" for row in rows.values())
    with engine.begin() as conn:  # a window that starts after everything: no shoppers
        conn.execute(update(messages).values(created_at=utcnow() - timedelta(days=3)))
    assert ab.arm_comparison(engine, "aaa", "bbb", since=utcnow() - timedelta(days=1))["shoppers"] == {
        "A": 0, "B": 0}
