"""Compare with what I looked at, end to end: the trained bot opens three products the shopper asks
about, then compares the one in view with the two opened before it (issue 17, part 4)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from bot.launcher import BotProcesses
from tests.replies import card_ids

pytestmark = pytest.mark.e2e


def comparison(replies: List[Dict[str, Any]]) -> Dict[str, Any]:
    found = [
        reply["custom"]
        for reply in replies
        if isinstance(reply.get("custom"), dict) and reply["custom"].get("type") == "comparison"
    ]
    assert found, f"no comparison in the reply: {replies}"
    return found[-1]


def test_compare_it_with_the_ones_i_looked_at_before(bot: BotProcesses) -> None:
    sender = "e2e-compare-viewed"
    shown = card_ids(bot.send(sender, "running shoes for men"))
    assert len(shown) >= 3, f"the search showed too few shoes to open three: {shown}"
    for ordinal in ("first", "second", "third"):
        replies = bot.send(sender, f"tell me about the {ordinal} one")
        assert any(reply.get("text") for reply in replies), f"no details for the {ordinal} one: {replies}"
    result = comparison(bot.send(sender, "compare it with the ones I looked at before"))
    compared = [product["id"] for product in result["products"]]
    # The product in view (the third opened) against the two opened just before it, newest first.
    assert compared == [shown[2], shown[1], shown[0]], (compared, shown[:3])
    assert result["rows"], "the comparison shows no rows"
