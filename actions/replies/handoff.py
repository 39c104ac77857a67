"""What the shop says when a conversation goes to a person: only what will really happen.

The web chat queues the conversation for the console's agents, whose replies appear in the same chat;
the phone channel puts the call through to the handoff number. Outside opening hours the shopper is
told when someone will answer.
"""

from __future__ import annotations

from typing import Optional

STILL_NOT_UNDERSTOOD = "Sorry, I'm still not getting it."
COULD_NOT_QUEUE = (
    "Sorry, I couldn't reach our team just now. Please try again in a moment, or keep asking me."
)


def queued(opens: Optional[str], already: bool, agent: Optional[str] = None) -> str:
    """The web chat's answer: `opens` is None when the team is there now, else when it will be."""
    if agent:
        return f"{agent} from our team is already with you in this chat."
    if opens is None:
        if already:
            return "I've already asked a colleague from our team to join. They'll reply here soon."
        return (
            "I've asked a colleague from our team to join. They'll reply here in this chat and can see "
            "our conversation so far. Until they do, I can keep helping."
        )
    return (
        f"Our team is away right now. Someone will answer here from {opens}; I've put our conversation in "
        f"their queue. Until then, I can keep helping."
    )


def put_through(opens: Optional[str]) -> str:
    """The phone's answer before the call is transferred."""
    if opens is None:
        return "I'll put you through to a member of our team."
    return (
        f"I'll put you through to our team, but they're away until {opens}, "
        f"so if no one answers, please call back then."
    )


def never_open() -> str:
    return "Sorry, no one from our team can take conversations at the moment."


def with_reason(text: str, low_confidence: bool) -> str:
    return f"{STILL_NOT_UNDERSTOOD} {text}" if low_confidence else text
