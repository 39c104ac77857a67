"""The handoff rules in the trained model, through the running bot: a second low-confidence message
right after the bot asked to rephrase goes to a person, a first one does not.

Rasa's `trigger_intent` sets the intent, so the test does not depend on which texts a small test model
happens to be unsure about. It has no input channel, so the reply is the phone-style one (put through,
with the handoff payload) rather than the web chat's queue.
"""

from __future__ import annotations

import uuid
from typing import Any, Dict, List

import pytest

from bot.launcher import BotProcesses

pytestmark = pytest.mark.e2e


def trigger(bot: BotProcesses, sender: str, intent: str) -> List[Dict[str, Any]]:
    path = f"/conversations/{sender}/trigger_intent?include_events=NONE"
    answer = bot.api("POST", path, {"name": intent}, timeout=60)
    return list((answer or {}).get("messages") or [])


def is_handoff(replies: List[Dict[str, Any]]) -> bool:
    return any((reply.get("custom") or {}).get("type") == "handoff" for reply in replies)


def test_two_low_confidence_messages_in_a_row_go_to_a_person(bot: BotProcesses) -> None:
    sender = f"fallbacks-{uuid.uuid4().hex[:8]}"
    first = trigger(bot, sender, "nlu_fallback")
    assert first and not is_handoff(first), first
    assert "talk to a person" in first[0]["text"], first  # the clarification offers a person
    second = trigger(bot, sender, "nlu_fallback")
    assert is_handoff(second), second
    assert second[0]["text"].startswith("Sorry, I'm still not getting it."), second
    assert "our team" in second[0]["text"], second


def test_asking_for_a_person_goes_to_a_person_at_once(bot: BotProcesses) -> None:
    replies = trigger(bot, f"asks-{uuid.uuid4().hex[:8]}", "human_handoff")
    assert is_handoff(replies) and "our team" in replies[0]["text"], replies
    assert not replies[0]["text"].startswith("Sorry"), replies
