"""Unit tests of the live metrics: turn timing and errors, counts from tracker events, who may scrape."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from bot.channels.metrics import allowed
from ops import metrics
from ops.monitor_events import TurnCounter


def value(name: str, channel: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"channel": channel}) or 0.0


def user(sender: str, intent: str, channel: str = "unit") -> Dict[str, Any]:
    event = UserUttered("text", {"name": intent, "confidence": 0.9}, [], {"intent": {"name": intent}},
                        input_channel=channel)
    return {"sender_id": sender, **event.as_dict()}


def action(sender: str, name: str) -> Dict[str, Any]:
    return {"sender_id": sender, **ActionExecuted(name).as_dict()}


def bot(sender: str, custom: Any = None, utter_action: str = "") -> Dict[str, Any]:
    metadata = {"utter_action": utter_action} if utter_action else {}
    return {"sender_id": sender, **BotUttered("hi", {"custom": custom}, metadata=metadata).as_dict()}


def slot(sender: str, name: str, value_: Any) -> Dict[str, Any]:
    return {"sender_id": sender, **SlotSet(name, value_).as_dict()}


def test_a_turn_is_counted_and_timed_and_a_failure_is_an_error() -> None:
    channel = "unit-turns"
    with metrics.observe_turn(channel):
        pass
    with pytest.raises(RuntimeError), metrics.observe_turn(channel):
        raise RuntimeError("the action server is down")

    async def cancelled(_: Any) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(metrics.observed_handler(channel, cancelled)(object()))
    assert value("shopcue_messages_total", channel) == 3
    assert value("shopcue_turn_seconds_count", channel) == 3
    assert value("shopcue_turn_errors_total", channel) == 2


def test_fallbacks_handoffs_and_zero_results_are_counted_once_per_message_on_the_senders_channel() -> None:
    counter, channel = TurnCounter(), "unit-events"
    events: List[Dict[str, Any]] = [
        action("s1", "action_listen"),  # before any message of this process: nothing to count
        user("s1", "nlu_fallback", channel),
        action("s1", "action_clarify_low_confidence"),  # the same misunderstanding: one fallback
        bot("s1", utter_action="utter_default"),
        user("s1", "search_product", channel),
        action("s1", "action_search_products"),
        slot("s1", "ranked_ids", []),
        slot("s1", "ranked_ids", []),  # once per message
        user("s1", "human_handoff", channel),
        action("s1", "utter_handoff"),
        bot("s1", custom={"type": "handoff"}, utter_action="utter_handoff"),
        user("s2", "search_product", channel),
        action("s2", "action_show_more"),
        slot("s2", "ranked_ids", []),  # not set by a search: not a zero-result search
        slot("s2", "ranked_ids", ["P1"]),
        {"event": "user", "text": "no sender"},
        {"sender_id": "s2", "event": "mystery"},
    ]
    before = {name: value(name, channel) for name in (
        "shopcue_fallbacks_total", "shopcue_handoffs_total", "shopcue_zero_result_searches_total")}
    for event in events:
        counter.observe(event)
    assert {name: value(name, channel) - before[name] for name in before} == {
        "shopcue_fallbacks_total": 1, "shopcue_handoffs_total": 1, "shopcue_zero_result_searches_total": 1}


def test_senders_are_forgotten_least_recent_first() -> None:
    counter = TurnCounter(max_senders=2)
    for sender in ("a", "b", "c"):
        counter.observe(user(sender, "greet", "unit-lru"))
    before = value("shopcue_handoffs_total", "unit-lru")
    counter.observe(action("a", "utter_handoff"))  # forgotten: its channel is unknown, not counted
    counter.observe(action("c", "utter_handoff"))
    assert value("shopcue_handoffs_total", "unit-lru") - before == 1


@pytest.mark.parametrize(("authorization", "ip", "token", "ok"), [
    (None, "127.0.0.1", None, True),
    (None, "::1", None, True),
    (None, "10.0.0.5", None, False),
    (None, "not-an-ip", None, False),
    ("Bearer s3cret", "10.0.0.5", "s3cret", True),
    ("bearer s3cret", "10.0.0.5", "s3cret", True),
    ("Bearer wrong", "127.0.0.1", "s3cret", False),  # with a token set, loopback is not enough
    (None, "127.0.0.1", "s3cret", False),
    ("Basic s3cret", "10.0.0.5", "s3cret", False),
])
def test_who_may_scrape(authorization: Any, ip: str, token: Any, ok: bool) -> None:
    assert allowed(authorization, ip, token) is ok


def test_behind_a_local_proxy_the_forwarded_client_must_be_local_too() -> None:
    assert allowed(None, "127.0.0.1", None, forwarded_for="127.0.0.1")
    assert not allowed(None, "127.0.0.1", None, forwarded_for="203.0.113.9"), "a shopper through nginx"
    assert allowed("Bearer s3cret", "127.0.0.1", "s3cret", forwarded_for="203.0.113.9")


def test_channel_labels_are_bounded() -> None:
    assert metrics.channel_label(None) == "unknown"
    assert metrics.channel_label("x" * 100) == "x" * metrics.MAX_CHANNEL_CHARS
