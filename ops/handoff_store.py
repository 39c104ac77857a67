"""The handoff queue: conversations waiting for a person, who claimed them, and when they were closed.

In the project database (learning/db.py's metadata and engine) so the action server (which queues),
the Rasa server's web chat channel (which keeps the bot silent while an agent holds a conversation) and
the console (where agents claim and close) share one truth. A conversation has at most one open
handoff (a partial unique index), and a claim is one conditional UPDATE, so two agents can never both
hold it: the second gets `HandoffConflictError`.

A claimed conversation nobody writes in for `idle_s` (an agent who left without handing back) goes
back to the bot by itself (`release_idle`, run whenever the queue or a held conversation is read), so a
shopper is never left talking to no one. A waiting one stays: out of hours the shopper was promised an
answer when the team is back.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import List, Optional, Tuple

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    and_,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql.expression import Update

from learning.db import metadata, utcnow

logger = logging.getLogger(__name__)

WAITING, CLAIMED, CLOSED = "waiting", "claimed", "closed"
STATES = (WAITING, CLAIMED, CLOSED)
OPEN_STATES = (WAITING, CLAIMED)
# Why a conversation was handed over: the shopper asked, or the NLU failed them twice in a row.
ASKED, LOW_CONFIDENCE = "asked", "repeated low confidence"
REASONS = (ASKED, LOW_CONFIDENCE)
_OPEN_SQL = "state IN ('waiting', 'claimed')"
# The console shows at most this many open handoffs at once.
MAX_LISTED = 200
# `closed_by` of a claimed handoff handed back because nobody wrote in it for the idle time.
IDLE_TIMEOUT = "idle timeout"

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("channel", String(32), nullable=False, default=""),
    Column("state", String(16), nullable=False, default=WAITING, index=True),
    Column("reason", String(32), nullable=False, default=ASKED),
    Column("agent", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("closed_by", String(64), nullable=True),
    # The last message in the conversation while it was open, from the shopper or the agent (or the
    # claim): what `release_idle` measures idleness from.
    Column("last_activity_at", DateTime(timezone=True), nullable=True),
    # One open handoff per conversation, enforced by the database (SQLite and PostgreSQL both have
    # partial indexes), so two concurrent requests cannot queue a conversation twice.
    Index(
        "ix_handoffs_one_open_per_sender", "sender_id", unique=True,
        sqlite_where=text(_OPEN_SQL), postgresql_where=text(_OPEN_SQL),
    ),
)


class HandoffConflictError(RuntimeError):
    """The handoff is not in a state that allows this (claimed by someone else, already closed)."""


class HandoffNotFoundError(LookupError):
    """No handoff with that id."""


@dataclass(frozen=True)
class Handoff:
    """One row of the queue."""

    id: int
    sender_id: str
    channel: str
    state: str
    reason: str
    agent: Optional[str]
    created_at: datetime
    claimed_at: Optional[datetime]
    closed_at: Optional[datetime]
    closed_by: Optional[str] = None
    last_activity_at: Optional[datetime] = None

    @classmethod
    def from_row(cls, row: Row) -> Handoff:
        return cls(
            id=row.id, sender_id=row.sender_id, channel=row.channel, state=row.state, reason=row.reason,
            agent=row.agent, created_at=_aware(row.created_at), claimed_at=_aware(row.claimed_at),
            closed_at=_aware(row.closed_at), closed_by=row.closed_by,
            last_activity_at=_aware(row.last_activity_at),
        )

    def is_idle(self, idle_s: Optional[float], now: datetime) -> bool:
        """Claimed, and nobody wrote for more than `idle_s` seconds (None or <= 0: never idle)."""
        if self.state != CLAIMED or idle_s is None or idle_s <= 0:
            return False
        last = self.last_activity_at or self.claimed_at
        return last is not None and (now - last).total_seconds() > idle_s

    def waited_s(self, now: datetime) -> float:
        """Seconds the shopper has waited (until claimed, or until now)."""
        return max(0.0, ((self.claimed_at or now) - self.created_at).total_seconds())

    def to_json(self, now: datetime) -> dict:
        return {
            "id": self.id, "sender_id": self.sender_id, "channel": self.channel, "state": self.state,
            "reason": self.reason, "agent": self.agent, "created_at": self.created_at.isoformat(),
            "claimed_at": self.claimed_at.isoformat() if self.claimed_at else None,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "closed_by": self.closed_by,
            "waited_s": round(self.waited_s(now), 1),
        }


def _aware(value: Optional[datetime]) -> Optional[datetime]:
    # SQLite gives back naive datetimes; everything stored here is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


_created: set[int] = set()
_create_lock = threading.Lock()


def ready(engine: Engine) -> Engine:
    """The engine with the handoff table created (the engine may predate this module's import)."""
    if id(engine) not in _created:
        with _create_lock:
            if id(engine) not in _created:
                handoffs.create(engine, checkfirst=True)
                _add_missing_columns(engine)
                _created.add(id(engine))
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Columns added after a database was first made (`last_activity_at`), added to it in place: no
    migration tool for one table; existing rows get NULL, which the code reads as "since the claim"."""
    present = {column["name"] for column in inspect(engine).get_columns(handoffs.name)}
    for column in handoffs.columns:
        if column.name in present or not column.nullable:
            continue
        kind = column.type.compile(dialect=engine.dialect)
        try:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE {handoffs.name} ADD COLUMN {column.name} {kind}"))
        except DBAPIError:  # another instance added it a moment ago
            if column.name not in {c["name"] for c in inspect(engine).get_columns(handoffs.name)}:
                raise
        logger.info("handoff.column_added column=%s", column.name)


def _open_for(connection: object, sender_id: str) -> Optional[Row]:
    query = select(handoffs).where(handoffs.c.sender_id == sender_id, handoffs.c.state.in_(OPEN_STATES))
    return connection.execute(query).first()  # type: ignore[attr-defined]


def request_handoff(
    engine: Engine, sender_id: str, channel: str, reason: str, now: Optional[datetime] = None
) -> Tuple[Handoff, bool]:
    """Queue the conversation; returns its open handoff and whether this call created it (a shopper
    asking twice stays one entry, in its place in the queue)."""
    if reason not in REASONS:
        raise ValueError(f"unknown handoff reason {reason!r}")
    ready(engine)
    now = now or utcnow()
    row = {"sender_id": sender_id, "channel": channel[:32], "state": WAITING, "reason": reason,
           "created_at": now, "last_activity_at": now}
    try:
        with engine.begin() as connection:
            existing = _open_for(connection, sender_id)
            if existing is not None:
                return Handoff.from_row(existing), False
            new_id = connection.execute(insert(handoffs).values(**row)).inserted_primary_key[0]
            created = connection.execute(select(handoffs).where(handoffs.c.id == new_id)).one()
    except IntegrityError:  # a concurrent request queued it first
        with engine.connect() as connection:
            existing = _open_for(connection, sender_id)
        if existing is None:
            raise
        return Handoff.from_row(existing), False
    logger.info("handoff.requested id=%s channel=%s reason=%s", new_id, channel, reason.replace(" ", "_"))
    return Handoff.from_row(created), True


def get_handoff(engine: Engine, handoff_id: int) -> Handoff:
    with ready(engine).connect() as connection:
        row = connection.execute(select(handoffs).where(handoffs.c.id == handoff_id)).first()
    if row is None:
        raise HandoffNotFoundError(handoff_id)
    return Handoff.from_row(row)


def open_handoff(engine: Engine, sender_id: str) -> Optional[Handoff]:
    """The conversation's waiting or claimed handoff, if any."""
    with ready(engine).connect() as connection:
        row = _open_for(connection, sender_id)
    return Handoff.from_row(row) if row is not None else None


def release_idle(
    engine: Engine, idle_s: Optional[float], now: Optional[datetime] = None, sender_id: Optional[str] = None
) -> int:
    """Hand back to the bot every claimed handoff (of `sender_id`, or all) with no message for `idle_s`
    seconds; returns how many. `idle_s` None or <= 0: never."""
    if idle_s is None or idle_s <= 0:
        return 0
    now = now or utcnow()
    last = func.coalesce(handoffs.c.last_activity_at, handoffs.c.claimed_at)
    idle = and_(handoffs.c.state == CLAIMED, last < now - timedelta(seconds=idle_s))
    if sender_id is not None:
        idle = and_(idle, handoffs.c.sender_id == sender_id)
    with ready(engine).begin() as connection:
        released = connection.execute(
            update(handoffs).where(idle).values(state=CLOSED, closed_at=now, closed_by=IDLE_TIMEOUT)
        ).rowcount
    if released:
        logger.info("handoff.idle_released count=%d idle_s=%d", released, idle_s)
    return released


def release_if_idle(
    engine: Engine, handoff: Handoff, idle_s: Optional[float], now: Optional[datetime] = None
) -> Handoff:
    """`handoff` as it is now: handed back first if it was read idle (a write only then; the UPDATE
    re-checks idleness, so a message that arrived meanwhile keeps it with its agent)."""
    if not handoff.is_idle(idle_s, now or utcnow()):
        return handoff
    release_idle(engine, idle_s, now, handoff.sender_id)
    return get_handoff(engine, handoff.id)


def note_activity(engine: Engine, sender_id: str, now: Optional[datetime] = None) -> None:
    """A message in the conversation (the shopper's while held, or the agent's): idleness starts again."""
    statement = (
        update(handoffs).where(handoffs.c.sender_id == sender_id, handoffs.c.state.in_(OPEN_STATES))
        .values(last_activity_at=now or utcnow())
    )
    with ready(engine).begin() as connection:
        connection.execute(statement)


def latest_handoff(
    engine: Engine, sender_id: str, idle_s: Optional[float] = None, now: Optional[datetime] = None
) -> Optional[Handoff]:
    """The conversation's most recent handoff in any state (the widget's status line), after handing
    it back if it sat idle for `idle_s`."""
    query = select(handoffs).where(handoffs.c.sender_id == sender_id).order_by(handoffs.c.id.desc()).limit(1)
    with ready(engine).connect() as connection:
        row = connection.execute(query).first()
    return release_if_idle(engine, Handoff.from_row(row), idle_s, now) if row is not None else None


def held_by(
    engine: Engine, sender_id: str, idle_s: Optional[float] = None, now: Optional[datetime] = None
) -> Optional[str]:
    """The agent holding the conversation (the bot stays silent), or None: also None once it sat idle
    for `idle_s` (it is handed back first). One read on the web chat's path; a write only to hand back."""
    handoff = open_handoff(engine, sender_id)
    if handoff is not None:
        handoff = release_if_idle(engine, handoff, idle_s, now)
    return handoff.agent if handoff is not None and handoff.state == CLAIMED else None


def open_queue(
    engine: Engine,
    agent: Optional[str] = None,
    idle_s: Optional[float] = None,
    now: Optional[datetime] = None,
) -> List[Handoff]:
    """Waiting handoffs, oldest first, then those `agent` holds (all claimed ones when agent is None);
    claimed ones idle for `idle_s` are handed back first."""
    now = now or utcnow()
    listed = _open_queue(engine, agent)
    if any(handoff.is_idle(idle_s, now) for handoff in listed):
        release_idle(engine, idle_s, now)
        listed = _open_queue(engine, agent)
    return listed


def _open_queue(engine: Engine, agent: Optional[str]) -> List[Handoff]:
    held = handoffs.c.state == CLAIMED
    if agent is not None:
        held = and_(held, handoffs.c.agent == agent)
    query = (
        select(handoffs).where(or_(handoffs.c.state == WAITING, held))
        .order_by(handoffs.c.state.desc(), handoffs.c.created_at, handoffs.c.id).limit(MAX_LISTED)
    )
    with ready(engine).connect() as connection:
        return [Handoff.from_row(row) for row in connection.execute(query)]


def claim(engine: Engine, handoff_id: int, agent: str, now: Optional[datetime] = None) -> Handoff:
    """Give the waiting conversation to `agent`; HandoffConflictError when someone else was quicker."""
    now = now or utcnow()
    statement = (
        update(handoffs).where(handoffs.c.id == handoff_id, handoffs.c.state == WAITING)
        .values(state=CLAIMED, agent=agent, claimed_at=now, last_activity_at=now)
    )
    handoff = _conditional_update(engine, handoff_id, statement)
    logger.info("handoff.claimed id=%s agent=%s", handoff_id, agent)
    return handoff


def close(engine: Engine, handoff_id: int, agent: str, force: bool = False,
          now: Optional[datetime] = None) -> Handoff:
    """Hand the conversation back to the bot. Only the holding agent may (or anyone with `force`, an
    admin); a waiting handoff may be closed too (nobody needed to answer)."""
    allowed = handoffs.c.state == WAITING
    allowed = or_(allowed, handoffs.c.state == CLAIMED) if force else or_(
        allowed, and_(handoffs.c.state == CLAIMED, handoffs.c.agent == agent))
    statement = (
        update(handoffs).where(handoffs.c.id == handoff_id, allowed)
        .values(state=CLOSED, closed_at=now or utcnow(), closed_by=agent)
    )
    handoff = _conditional_update(engine, handoff_id, statement)
    logger.info("handoff.closed id=%s agent=%s", handoff_id, agent)
    return handoff


def _conditional_update(engine: Engine, handoff_id: int, statement: Update) -> Handoff:
    """Run an UPDATE whose WHERE holds only in the expected state; the handoff after it, or
    HandoffConflictError naming the state it was in (another agent was quicker)."""
    with ready(engine).begin() as connection:
        changed = connection.execute(statement).rowcount
    handoff = get_handoff(engine, handoff_id)
    if changed != 1:
        raise HandoffConflictError(f"handoff {handoff_id} is {handoff.state}"
                                   + (f" by {handoff.agent}" if handoff.agent else ""))
    return handoff
