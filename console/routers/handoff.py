"""Handed-off conversations for agents: the queue, claim, the transcript with the shopper's context and
each message's parse, replies, and hand back.

    GET  /handoff                      the agents' page (templates/handoff.html + static/handoff.js)
    GET  /api/handoff/queue            waiting conversations (oldest first) and the ones this agent holds
    GET  /api/handoff/{id}             the handoff, its transcript (Rasa's tracker) and the shopper's context
    POST /api/handoff/{id}/claim       take it; 409 when another agent was quicker
    POST /api/handoff/{id}/reply       {"text"}: appended to the tracker; the shopper's widget shows it
    POST /api/handoff/{id}/close       hand back to the bot

A conversation its agent left idle for `SHOPCUE_HANDOFF_IDLE_MINUTES` is back with the bot when any of
these next reads it (ops/handoff_store.py `release_idle`).

The queue is ops/handoff_store.py; the conversation is read and written through the Rasa server's
HTTP API (ops/handoff_rasa.py), since the console is another process.
"""

from __future__ import annotations

from typing import Annotated, Any, Dict, Optional

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictStr, validator

from common.limits import MAX_MESSAGE_CHARS
from console.auth import ConsoleUser, require_role
from console.deps import EngineDep
from console.shell import NavPage, register_page, render
from learning.db import ADMIN, AGENT, utcnow
from ops import handoff_store as store
from ops.handoff_rasa import RasaConversations, RasaUnavailableError
from ops.handoff_settings import handoff_settings
from ops.handoff_view import shopper_context, transcript

Agent = Annotated[ConsoleUser, Depends(require_role(AGENT))]
register_page(NavPage("/handoff", "Handoff", (AGENT,)))

page_router = APIRouter(tags=["handoff"])
router = APIRouter(prefix="/api/handoff", tags=["handoff"])


def get_rasa() -> RasaConversations:
    """The Rasa API client (a dependency, so tests can point it elsewhere)."""
    return RasaConversations(handoff_settings())


RasaDep = Annotated[RasaConversations, Depends(get_rasa)]


def get_idle_s() -> Optional[float]:
    """How long a held conversation may sit without a message (a dependency, so tests can shorten it)."""
    return handoff_settings().idle_s


IdleDep = Annotated[Optional[float], Depends(get_idle_s)]


class Reply(BaseModel):
    """An agent's message: plain text, as long as a shopper's may be."""

    text: StrictStr = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)  # a number is not a message

    @validator("text")
    def not_blank(cls, value: str) -> str:  # noqa: N805 (pydantic validators are class methods)
        if not value.strip():
            raise ValueError("the message is empty")
        return value.strip()


def _handoff(engine: Any, handoff_id: int, idle_s: Optional[float]) -> store.Handoff:
    """The handoff (404 if none), handed back first if its agent left it idle."""
    try:
        handoff = store.get_handoff(engine, handoff_id)
    except store.HandoffNotFoundError:
        raise HTTPException(status_code=404, detail="no such handoff") from None
    return store.release_if_idle(engine, handoff, idle_s)


def _visible(handoff: store.Handoff, user: ConsoleUser) -> None:
    """An agent sees waiting conversations and the ones they hold; admins see all."""
    if user.role != ADMIN and handoff.state != store.WAITING and handoff.agent != user.username:
        raise HTTPException(status_code=403, detail=f"this conversation is {handoff.state} by another agent")


def _holding(handoff: store.Handoff, user: ConsoleUser, idle_s: Optional[float]) -> None:
    if handoff.closed_by == store.IDLE_TIMEOUT and handoff.agent == user.username and idle_s:
        raise HTTPException(
            status_code=409,
            detail=f"this conversation went back to the bot after {idle_s / 60:g} minutes without a message",
        )
    if handoff.state != store.CLAIMED or handoff.agent != user.username:
        raise HTTPException(status_code=409, detail="claim the conversation before replying")


@page_router.get("/handoff", include_in_schema=False)
def handoff_page(request: Request, user: Agent) -> Response:
    return render(request, "handoff.html", user, title="Handoff", max_chars=MAX_MESSAGE_CHARS)


@router.get("/queue")
def queue(engine: EngineDep, idle_s: IdleDep, user: Agent) -> Dict[str, Any]:
    now = utcnow()
    mine = None if user.role == ADMIN else user.username
    items = store.open_queue(engine, agent=mine, idle_s=idle_s, now=now)
    return {"items": [h.to_json(now) for h in items], "agent": user.username}


@router.get("/{handoff_id}")
async def conversation(
    handoff_id: int, engine: EngineDep, rasa: RasaDep, idle_s: IdleDep, user: Agent
) -> Dict[str, Any]:
    handoff = _handoff(engine, handoff_id, idle_s)
    _visible(handoff, user)
    try:
        tracker = await rasa.tracker(handoff.sender_id)
    except RasaUnavailableError as error:
        raise HTTPException(status_code=502, detail=f"could not read the conversation: {error}") from error
    return {"handoff": handoff.to_json(utcnow()), "turns": transcript(tracker.get("events")),
            "context": shopper_context(tracker)}


@router.post("/{handoff_id}/claim")
def claim(handoff_id: int, engine: EngineDep, idle_s: IdleDep, user: Agent) -> Dict[str, Any]:
    _handoff(engine, handoff_id, idle_s)
    try:
        handoff = store.claim(engine, handoff_id, user.username)
    except store.HandoffConflictError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return handoff.to_json(utcnow())


@router.post("/{handoff_id}/reply")
async def reply(
    handoff_id: int, body: Reply, engine: EngineDep, rasa: RasaDep, idle_s: IdleDep, user: Agent
) -> Dict[str, Any]:
    handoff = _handoff(engine, handoff_id, idle_s)
    _holding(handoff, user, idle_s)
    try:
        await rasa.append_agent_message(handoff.sender_id, body.text, user.username)
    except RasaUnavailableError as error:
        raise HTTPException(status_code=502, detail=f"the message was not delivered: {error}") from error
    store.note_activity(engine, handoff.sender_id)
    return {"delivered": True}


@router.post("/{handoff_id}/close")
def close(handoff_id: int, engine: EngineDep, idle_s: IdleDep, user: Agent) -> Dict[str, Any]:
    _handoff(engine, handoff_id, idle_s)
    try:
        handoff = store.close(engine, handoff_id, user.username, force=user.role == ADMIN)
    except store.HandoffConflictError as error:
        raise HTTPException(status_code=409, detail=str(error)) from error
    return handoff.to_json(utcnow())
