"""The handoff to a person (`human_handoff`, or the NLU failing the shopper twice in a row).

The web chat's conversation goes into the handoff queue (ops/handoff_store.py) that agents work in
the console; other channels (the phone, via the REST channel) get the `handoff` payload that puts the
call through. Either way the reply says only what will happen, with the opening hours in mind.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Dict, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.base import Events
from actions.replies import handoff as say
from learning.db import get_engine
from ops.handoff_hours import OpeningHours, describe_opening
from ops.handoff_settings import handoff_settings
from ops.handoff_store import ASKED, CLAIMED, LOW_CONFIDENCE, request_handoff

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
# Channels that show an agent's console replies to the shopper (bot/channels/webchat.py polls for them).
QUEUED_CHANNELS = frozenset({"webchat"})
HANDOFF_PAYLOAD_TYPE = "handoff"  # voice/conversation.py puts the call through on this


def handoff_reason(latest_message: Dict[str, Any]) -> str:
    """Asked for a person, or sent here by the rule for two low-confidence messages in a row."""
    intent = (latest_message or {}).get("intent") or {}
    return LOW_CONFIDENCE if intent.get("name") == FALLBACK_INTENT else ASKED


def opening_note(hours: OpeningHours, now: datetime) -> Optional[str]:
    """None while someone is there; else when someone will be ("Monday at 09:00 (UTC)")."""
    if hours.is_open(now):
        return None
    when = hours.next_opening(now)
    return describe_opening(when, now) if when is not None else ""


class ActionHandoff(Action):
    """Queue or put through, then say only what will happen (who answers where, and when)."""

    def name(self) -> str:
        return "action_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]) -> Events:
        reason = handoff_reason(tracker.latest_message)
        channel = tracker.get_latest_input_channel() or ""
        opens = opening_note(handoff_settings().hours, datetime.now(UTC))
        if opens == "":
            dispatcher.utter_message(text=say.never_open())
            return []
        payload: Dict[str, Any] = {"type": HANDOFF_PAYLOAD_TYPE}
        if channel not in QUEUED_CHANNELS:
            text = say.put_through(opens)
        else:
            try:
                handoff, created = request_handoff(get_engine(), tracker.sender_id, channel, reason)
            except SQLAlchemyError:
                logger.exception("handoff.queue_failed channel=%s", channel)
                dispatcher.utter_message(text=say.COULD_NOT_QUEUE)
                return []
            agent = handoff.agent if handoff.state == CLAIMED else None
            text = say.queued(opens, already=not created, agent=agent)
            payload.update(state=handoff.state, handoff_id=handoff.id)
        dispatcher.utter_message(text=say.with_reason(text, reason == LOW_CONFIDENCE), json_message=payload)
        return []
