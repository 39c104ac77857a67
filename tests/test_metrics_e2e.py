"""End to end: GET /metrics on the running Rasa server counts a scripted conversation exactly, per channel.

Counters are compared before and after the script (the session's bot serves other tests too), so each
figure is the script's own: messages and timed turns per channel, one zero-result search, one handoff per
channel, one fallback, no errors, and one NLU parse per message.
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from typing import Any, Dict, List, Tuple

from prometheus_client.parser import text_string_to_metric_families

from bot.launcher import BotProcesses
from tests.test_webchat_channel import open_session, webchat_post

FALLBACK = "nlu_fallback"
FALLBACK_CANDIDATES = ("thingamajig", "hmmm what about", "banana", "whats good", "x", "?")
Sample = Tuple[str, Tuple[Tuple[str, str], ...]]


def scrape(bot: BotProcesses) -> Dict[Sample, float]:
    with urllib.request.urlopen(f"{bot.rasa_url}/metrics", timeout=10) as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
        if sample.name.startswith("shopcue_")
    }


def delta(before: Dict[Sample, float], after: Dict[Sample, float], name: str, channel: str = "") -> float:
    key = (name, (("channel", channel),) if channel else ())
    return after.get(key, 0.0) - before.get(key, 0.0)


def webchat(bot: BotProcesses, session: str, text: str) -> List[Dict[str, Any]]:
    reply = webchat_post(bot.rasa_url, session, text)
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def has_cards(replies: List[Dict[str, Any]]) -> bool:
    return any((r.get("custom") or {}).get("type") == "product_cards" for r in replies)


def test_the_metrics_endpoint_counts_a_scripted_conversation_per_channel(bot: BotProcesses) -> None:
    fallback = next((t for t in FALLBACK_CANDIDATES if bot.parse(t)["intent"]["name"] == FALLBACK), None)
    assert fallback, f"none of {FALLBACK_CANDIDATES} is nlu_fallback for this model"
    rest, gap = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("rest", "gap"))
    web, _ = open_session(bot.rasa_url)  # the web chat conversation's session
    before = scrape(bot)

    assert has_cards(bot.send(rest, "red trainers for my son")), "the search found nothing"
    bot.send(rest, "talk to a person")
    bot.send(rest, fallback)
    assert not has_cards(bot.send(gap, "do you sell kayaks")), "kayaks are in the catalog now"
    assert has_cards(webchat(bot, web, "red trainers for my son")), "the web chat search found nothing"
    webchat(bot, web, "talk to a person")

    expected = {
        ("shopcue_messages_total", "rest"): 4, ("shopcue_messages_total", "webchat"): 2,
        ("shopcue_turn_seconds_count", "rest"): 4, ("shopcue_turn_seconds_count", "webchat"): 2,
        ("shopcue_zero_result_searches_total", "rest"): 1,
        ("shopcue_zero_result_searches_total", "webchat"): 0,
        ("shopcue_handoffs_total", "rest"): 1, ("shopcue_handoffs_total", "webchat"): 1,
        ("shopcue_fallbacks_total", "rest"): 1, ("shopcue_fallbacks_total", "webchat"): 0,
        ("shopcue_turn_errors_total", "rest"): 0, ("shopcue_turn_errors_total", "webchat"): 0,
        ("shopcue_nlu_seconds_count", ""): 6,
    }
    deadline = time.monotonic() + 10  # the counters are updated as Rasa publishes the turn's events
    while True:
        after = scrape(bot)
        got = {key: delta(before, after, *key) for key in expected}
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got == expected
    assert delta(before, after, "shopcue_turn_seconds_sum", "rest") > 0
    assert delta(before, after, "shopcue_nlu_seconds_sum") > 0
