"""The shadow model's comparison (ops/shadow.py): readings, differences, evidence, agreement, and one
logged message handled end to end against the database with a parser that answers a known parse; the
worker with a real model is tested in tests/test_shadow_e2e.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
from sqlalchemy import select

from learning.db import get_engine, reset_engines, shadow_parses, suggestions
from learning.review import queue
from ops import shadow
from tests.console_seed import add_message, span

SURE = {"gender": {"value": "unknown", "confidence": 0.97},
        "age_group": {"value": "unknown", "confidence": 0.97}, "gift": {"value": False, "confidence": 0.97}}


@pytest.fixture()
def engine(tmp_path: Path):
    reset_engines()
    yield get_engine(f"sqlite:///{tmp_path / 'loop.db'}")
    reset_engines()


class KnownParser:
    """Answers the parse it was given, whatever the text (the database side is what is tested here)."""

    def __init__(self, parse: Dict[str, Any]) -> None:
        self.parsed = parse

    def parse(self, text: str) -> Dict[str, Any]:
        return self.parsed


def test_differences_on_intent_spans_and_acted_attributes() -> None:
    text = "red running shoes for my daughter"
    live = shadow.reading("search_product", [span(text, "running shoes", "product_type")],
                          {**SURE, "gender": {"value": "female", "confidence": 0.9}})
    same = shadow.reading("search_product", [span(text, "running shoes", "product_type", 0.5)],
                          {**SURE, "gender": {"value": "female", "confidence": 0.95}})
    assert shadow.differences(live, same) == {}  # confidences do not matter, values do
    # a guess below the acting threshold is neutral on both sides: no disagreement
    unsure = shadow.reading("search_product", [span(text, "running shoes", "product_type")],
                            {**SURE, "gender": {"value": "female", "confidence": 0.2}})
    neutral = shadow.reading("search_product", [span(text, "running shoes", "product_type")], SURE)
    assert shadow.differences(unsure, neutral) == {}
    spans = [span(text, "shoes", "product_type"), span(text, "red", "colour")]
    other = shadow.reading("refine_search", spans, SURE)
    diff = shadow.differences(live, other)
    assert diff["intent"] == {"live": "search_product", "shadow": "refine_search"}
    assert diff["entities"] == {"live_only": [(4, 17, "product_type")],
                                "shadow_only": [(0, 3, "colour"), (12, 17, "product_type")]}
    assert diff["attributes"] == {"gender": {"live": "female", "shadow": "unknown"}}
    said = shadow.evidence("abc123", text, diff)
    assert said.startswith("shadow model abc123 reads this as intent refine_search (live: search_product)")
    assert "span 'red' as colour" in said and "no product_type span 'running shoes'" in said
    assert "gender unknown (live: female)" in said


def test_agreement_and_skipped_rows() -> None:
    assert shadow.agreement([True, True, False, True]) == {"parsed": 4, "agreed": 3, "rate": 0.75}
    assert shadow.agreement([]) == {"parsed": 0, "agreed": 0, "rate": None}
    assert shadow.skipped({"text": '/add_to_cart{"position": 1}', "doubt": 0.0, "intent_confidence": 1.0})
    assert shadow.skipped({"text": "Add to cart", "doubt": 0.0, "intent_confidence": 1.0})  # a button title
    assert shadow.skipped({"text": "  ", "doubt": 0.3, "intent_confidence": 0.7})
    assert not shadow.skipped({"text": "blue scarf", "doubt": 0.1, "intent_confidence": 0.9})


def test_a_disagreement_is_stored_and_tops_the_review_queue(engine) -> None:
    sure = add_message(engine, "thanks a lot", 0.05, intent="thanks")
    text = "warm gloves"
    doubted = add_message(engine, "something vague", 0.4, intent="search_product")
    target = add_message(engine, text, 0.02, entities=[span(text, "gloves", "product_type")])
    agreeing = KnownParser({"intent": {"name": "thanks", "confidence": 0.9}, "entities": [],
                            "attributes": SURE})
    row = shadow.pending(engine, sure - 1, limit=1)[0]
    assert shadow.handle(engine, agreeing, "shadow1", row) is True
    disagreeing = KnownParser({"intent": {"name": "search_product", "confidence": 0.8},
                               "entities": [span(text, "warm gloves", "product_type")], "attributes": SURE})
    row = [r for r in shadow.pending(engine, sure) if r["id"] == target][0]
    assert shadow.handle(engine, disagreeing, "shadow1", row) is False
    with engine.connect() as conn:
        stored = {r.message_id: r for r in conn.execute(select(shadow_parses))}
        kinds = conn.execute(select(suggestions.c.message_id, suggestions.c.kind, suggestions.c.evidence,
                                    suggestions.c.label)).all()
    assert stored[sure].agrees and not stored[target].agrees
    assert stored[target].differences["entities"]["shadow_only"] == [[0, 11, "product_type"]]
    assert [(k.message_id, k.kind) for k in kinds] == [(target, "shadow")]
    assert kinds[0].evidence == "shadow model shadow1 reads this as span 'warm gloves' as product_type; " \
                                "no product_type span 'gloves'"
    assert kinds[0].label["entities"] == [{"start": 0, "end": 11, "entity": "product_type", "value": text}]
    # the sure message (doubt 0.02) now outranks a doubted one (0.4): the suggestion bonus
    order = [item.message_id for item in queue(engine).items]
    assert order[0] == target and order.index(target) < order.index(doubted)
    assert shadow.agreement_by_model(engine) == {"shadow1": {"parsed": 2, "agreed": 1, "rate": 0.5}}
    assert shadow.recent_disagreements(engine, "shadow1")[0]["message_id"] == target
    assert shadow.last_handled(engine, "shadow1") == target
    assert shadow.start_after(engine, "shadow1", backlog=10) == target
    assert shadow.start_after(engine, "new", backlog=1) == doubted  # only the latest message is backlog
    assert shadow.start_after(engine, "new", backlog=10) == 0
