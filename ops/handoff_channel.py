"""The web chat channel's side of the handoff: silence while an agent holds a conversation, and what
the shopper's widget polls for (the handoff's state and the agent's messages).

Kept out of bot/channels/webchat.py so the channel only calls two functions. A held shopper's message
is parsed (the agent sees the parse) and appended to the tracker as a user event under the
conversation's lock, the same lock Rasa's HTTP API takes when the console appends the agent's reply;
the bot's policies never run for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from functools import lru_cache
from typing import Any, Dict, List, Optional

from rasa.shared.core.events import BotUttered, UserUttered
from sqlalchemy.exc import SQLAlchemyError

from learning.db import get_engine
from ops.handoff_settings import DEFAULT_IDLE_MINUTES, handoff_settings
from ops.handoff_store import CLAIMED, held_by, latest_handoff, note_activity
from ops.handoff_view import AGENT_KEY

logger = logging.getLogger(__name__)

# The custom payload type that tells the widget the handoff's state (not shown as a message).
STATUS_TYPE = "handoff_status"
# The most agent messages one poll returns.
MAX_UPDATES = 50


@lru_cache(maxsize=1)
def idle_s() -> Optional[float]:
    """How long a held conversation may sit without a message, read once per process: a bad setting is
    logged once and the default used, never raised at the shopper (the console's handoff routes and the
    action server raise it)."""
    try:
        return handoff_settings().idle_s
    except ValueError:
        logger.warning("handoff.bad_settings", exc_info=True)
        return DEFAULT_IDLE_MINUTES * 60


def agent_of(event: BotUttered) -> Optional[str]:
    """The agent who wrote a bot event in the console, or None for the bot's own messages."""
    name = (event.metadata or {}).get(AGENT_KEY)
    return name if isinstance(name, str) and name else None


def status_message(sender: str, state: str, agent: Optional[str]) -> Dict[str, Any]:
    """The webhook's answer to a held message: no text, only the state for the widget's status line."""
    return {"recipient_id": sender, "custom": {"type": STATUS_TYPE, "state": state, "agent": agent}}


async def held_reply(
    rasa_agent: Any, sender: str, text: str, channel: str, metadata: Optional[Dict[str, Any]]
) -> Optional[List[Dict[str, Any]]]:
    """None when the bot should answer; when an agent holds the conversation, the message is stored in
    the tracker without running the bot and the webhook answers with the handoff's status only."""
    try:
        holder = await asyncio.to_thread(held_by, get_engine(), sender, idle_s())
    except SQLAlchemyError:  # the queue cannot be read: better the bot answers than nobody does
        logger.warning("handoff.held_check_failed", exc_info=True)
        return None
    if holder is None:
        return None
    parse = await rasa_agent.parse_message(text)
    event_metadata = {**(metadata or {})}
    model_id = getattr(getattr(rasa_agent.processor, "model_metadata", None), "model_id", None)
    if model_id:
        event_metadata["model_id"] = model_id
    event = UserUttered(
        text, intent=parse.get("intent"), entities=parse.get("entities") or [], parse_data=parse,
        input_channel=channel, metadata=event_metadata,
    )
    async with rasa_agent.lock_store.lock(sender):
        tracker = await rasa_agent.tracker_store.get_or_create_tracker(sender)
        tracker.update(event)
        await rasa_agent.tracker_store.save(tracker)
    await asyncio.to_thread(note_activity, get_engine(), sender)
    logger.info("handoff.held_message agent=%s chars=%d", holder, len(text))
    return [status_message(sender, CLAIMED, holder)]


def parse_after(value: Optional[str]) -> Optional[float]:
    """The `after` query parameter (a tracker timestamp, 0 when absent); None when it is not one."""
    try:
        after = float(value) if value not in (None, "") else 0.0
    except ValueError:
        return None
    return after if math.isfinite(after) and after >= 0 else None


def agent_messages(events: List[Any], after: float) -> List[Dict[str, Any]]:
    """Agents' messages newer than `after` (a tracker timestamp), oldest first."""
    found = [
        {"text": event.text or "", "agent": agent_of(event), "ts": event.timestamp}
        for event in events
        if isinstance(event, BotUttered) and agent_of(event) and event.timestamp > after
    ]
    return found[-MAX_UPDATES:]


async def updates(rasa_agent: Any, sender: str, after: float) -> Dict[str, Any]:
    """What the polling widget needs: the latest handoff's state and agent, and new agent messages."""
    handoff = await asyncio.to_thread(latest_handoff, get_engine(), sender, idle_s())
    tracker = await rasa_agent.tracker_store.retrieve(sender)
    messages = agent_messages(list(tracker.events) if tracker is not None else [], after)
    return {
        "sender": sender,
        "state": handoff.state if handoff is not None else "none",
        "agent": handoff.agent if handoff is not None else None,
        "messages": messages,
        "latest": max([after, *(m["ts"] for m in messages)]),
    }
