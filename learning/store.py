"""Reads and writes of the conversation log's rows: a shopper message, its replies, its suggestions.

Every text goes through `learning.redaction.redact` again here, whatever the caller did before: the
log must never hold anything unredacted (redaction is idempotent, so text the channel already
redacted comes through unchanged).
"""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from learning.db import messages, suggestions, utcnow
from learning.reactions import LoggedMessage, Suggestion

logger = logging.getLogger(__name__)

MAX_TEXT_KEY = 600  # the column's width


def redact(text: str) -> Tuple[str, Dict[str, int]]:
    """The text with personal data replaced, and how many of each kind were replaced.

    Imported lazily: the channels' redaction module may be deployed after this one; until it is,
    text is kept as the channel passed it (the channels redact before Rasa sees a message)."""
    try:
        module = importlib.import_module("learning.redaction")
    except ModuleNotFoundError as error:
        if error.name != "learning.redaction":
            raise
        return text, {}
    result = module.redact(text)
    return str(result.text), {str(k): int(v) for k, v in dict(result.counts or {}).items()}


def text_key(text: str) -> str:
    """Lower-cased, whitespace-collapsed: identical messages collapse to one review queue row."""
    return " ".join(text.lower().split())[:MAX_TEXT_KEY]


def insert_message(engine: Engine, values: Mapping[str, Any]) -> int:
    with engine.begin() as connection:
        result = connection.execute(insert(messages).values(**values))
        return int(result.inserted_primary_key[0])


def append_reply(engine: Engine, message_id: int, reply: Mapping[str, Any]) -> None:
    """Add one bot reply to the message's `replies` (read-modify-write; one writer thread per process)."""
    with engine.begin() as connection:
        replies = connection.execute(select(messages.c.replies).where(messages.c.id == message_id)).scalar()
        if replies is None:
            return
        connection.execute(
            update(messages).where(messages.c.id == message_id).values(replies=[*replies, dict(reply)])
        )


def mark_offer(engine: Engine, message_id: int, offer: str) -> None:
    """Note on the message's last reply that it ended with a yes/no offer (the `pending_offer` slot)."""
    with engine.begin() as connection:
        replies = connection.execute(select(messages.c.replies).where(messages.c.id == message_id)).scalar()
        if not replies:
            return
        replies = [*replies[:-1], {**replies[-1], "offer": offer}]
        connection.execute(update(messages).where(messages.c.id == message_id).values(replies=replies))


def load(engine: Engine, message_id: int) -> Optional[LoggedMessage]:
    with engine.connect() as connection:
        row = connection.execute(select(messages).where(messages.c.id == message_id)).mappings().first()
    return _logged(row) if row is not None else None


def recent(engine: Engine, sender_id: str, before_id: Optional[int] = None, limit: int = 6
           ) -> List[LoggedMessage]:
    """The sender's latest messages (before `before_id` when given), oldest first."""
    query = select(messages).where(messages.c.sender_id == sender_id)
    if before_id is not None:
        query = query.where(messages.c.id < before_id)
    query = query.order_by(messages.c.id.desc()).limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [_logged(row) for row in reversed(rows)]


def latest_id(engine: Engine, sender_id: str) -> Optional[int]:
    with engine.connect() as connection:
        return connection.execute(
            select(func.max(messages.c.id)).where(messages.c.sender_id == sender_id)
        ).scalar()


def save_suggestions(engine: Engine, found: Iterable[Suggestion], now: Optional[datetime] = None) -> int:
    """Store suggestions, skipping any the message already has with the same kind and evidence (a
    card clicked twice is one piece of evidence). Returns how many were stored."""
    with engine.begin() as connection:
        return insert_suggestions(connection, found, now)


def insert_suggestions(connection: Connection, found: Iterable[Suggestion], now: Optional[datetime] = None
                       ) -> int:
    """`save_suggestions` inside the caller's transaction, so a suggestion commits together with what it
    is evidence of (the shadow's parse row)."""
    stored = 0
    for suggestion in found:
        evidence, _ = redact(suggestion.evidence)
        exists = connection.execute(
            select(suggestions.c.id).where(and_(
                suggestions.c.message_id == suggestion.message_id,
                suggestions.c.kind == suggestion.kind,
                suggestions.c.evidence == evidence,
            ))
        ).first()
        if exists is not None:
            continue
        connection.execute(insert(suggestions).values(
            message_id=suggestion.message_id, kind=suggestion.kind, label=suggestion.label,
            evidence=evidence, related_message_id=suggestion.related_message_id,
            created_at=now or utcnow(),
        ))
        stored += 1
    return stored


def _logged(row: Mapping[str, Any]) -> LoggedMessage:
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return LoggedMessage(
        id=int(row["id"]), sender_id=row["sender_id"], text=row["text"], created_at=created,
        intent=row["intent"] or "", entities=list(row["entities"] or []),
        attributes=dict(row["attributes"] or {}), replies=list(row["replies"] or []),
    )
