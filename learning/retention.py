"""How long the conversation log keeps a shopper's messages, deleting one shopper's data on request, and
the log's counts.

Messages older than `SHOPCUE_LOG_RETENTION_DAYS` (default 90) go, with their suggestions and review
events. The deletes name the dependent rows explicitly rather than relying on the database's cascade
(SQLite enforces foreign keys only when a connection asks), so a shopper's data is gone on any engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Dict, List, Optional

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import Connection, Engine

from learning.db import messages, review_events, suggestions, utcnow

RETENTION_ENV = "SHOPCUE_LOG_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 90


@dataclass(frozen=True)
class Removed:
    messages: int
    suggestions: int


def retention_days(value: Optional[int] = None) -> int:
    """The retention period in days: `value` if given, else the environment's setting, else 90."""
    if value is None:
        setting = os.environ.get(RETENTION_ENV, "").strip()
        value = int(setting) if setting else DEFAULT_RETENTION_DAYS
    if value < 1:
        raise ValueError(f"{RETENTION_ENV} must be a whole number of days, at least 1 (got {value})")
    return value


def delete_sender(engine: Engine, sender_id: str) -> Removed:
    """Remove everything the log holds of one shopper: their messages and the suggestions on them."""
    with engine.begin() as connection:
        query = select(messages.c.id).where(messages.c.sender_id == sender_id)
        ids = connection.execute(query).scalars().all()
        return _delete_messages(connection, list(ids))


def purge(engine: Engine, days: Optional[int] = None, now: Optional[datetime] = None) -> Removed:
    """Remove messages older than the retention period (and the suggestions on them)."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days(days))
    with engine.begin() as connection:
        ids = connection.execute(select(messages.c.id).where(messages.c.created_at < cutoff)).scalars().all()
        return _delete_messages(connection, list(ids))


def stats(engine: Engine) -> Dict[str, Dict[str, int]]:
    """Counts of messages by channel and by review state, and of suggestions by kind."""
    with engine.connect() as connection:
        def counts(column: object, table: object) -> Dict[str, int]:
            rows = connection.execute(select(column, func.count()).select_from(table).group_by(column))
            return {str(key or "(none)"): int(count) for key, count in rows}

        return {
            "messages by channel": counts(messages.c.channel, messages),
            "messages by state": counts(messages.c.state, messages),
            "suggestions by kind": counts(suggestions.c.kind, suggestions),
        }


def _delete_messages(connection: Connection, ids: List[int]) -> Removed:
    removed_messages = removed_suggestions = 0
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[start:start + 500]
        removed_suggestions += connection.execute(delete(suggestions).where(or_(
            suggestions.c.message_id.in_(chunk), suggestions.c.related_message_id.in_(chunk)
        ))).rowcount
        connection.execute(delete(review_events).where(review_events.c.message_id.in_(chunk)))
        removed_messages += connection.execute(delete(messages).where(messages.c.id.in_(chunk))).rowcount
    return Removed(removed_messages, removed_suggestions)
