"""The data loop's tables (conversation log, suggestions, reviews, console users, model registry) and
the one engine that opens them.

One SQL database for the loop and the console: SQLite under `var/` by default, PostgreSQL (or any
SQLAlchemy URL) when `SHOPCUE_DATABASE_URL` or `DATABASE_URL` says so. Text stored here is always
already redacted (learning/redaction.py runs at the channel, before anything is kept).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Dict, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = REPO_ROOT / "var" / "shopcue.db"
DATABASE_URL_ENV = "SHOPCUE_DATABASE_URL"

# Review states of a logged message. AUTO: only the model has labelled it. ACCEPTED: a person said the
# model's label is right. CORRECTED: a person changed it. SKIPPED: a person passed it over.
AUTO, ACCEPTED, CORRECTED, SKIPPED = "auto", "accepted", "corrected", "skipped"
REVIEW_STATES = (AUTO, ACCEPTED, CORRECTED, SKIPPED)
REVIEWED_STATES = (ACCEPTED, CORRECTED)

# Console roles: reviewers work the queue; admins also retrain, promote and manage users; agents take
# handed-off conversations (issue 14).
REVIEWER, ADMIN, AGENT = "reviewer", "admin", "agent"
ROLES = (REVIEWER, ADMIN, AGENT)

# Model registry states.
LIVE, CANDIDATE, RETIRED, SHADOW = "live", "candidate", "retired", "shadow"

metadata = MetaData()

# One shopper message, redacted, with the parse the live model gave it and the bot's reply.
# `label` is the reviewed label ({"intent", "entities": [{"start","end","entity","value"}], "attributes"})
# once a person accepted or corrected it; the model's own parse stays in intent/entities/attributes.
messages = Table(
    "learning_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("channel", String(32), nullable=False, default="", index=True),
    Column("text", Text, nullable=False),
    # lower-cased, whitespace-collapsed text: identical messages collapse to one queue row
    Column("text_key", String(600), nullable=False, index=True),
    Column("intent", String(64), nullable=False, default="", index=True),
    Column("intent_confidence", Float, nullable=False, default=0.0),
    Column("intent_ranking", JSON, nullable=False, default=list),
    Column("entities", JSON, nullable=False, default=list),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("replies", JSON, nullable=False, default=list),
    Column("model_id", String(64), nullable=False, default=""),
    Column("redactions", JSON, nullable=False, default=dict),  # placeholder type -> count
    Column("doubt", Float, nullable=False, default=0.0, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("state", String(16), nullable=False, default=AUTO, index=True),
    Column("label", JSON, nullable=True),
    Column("reviewed_by", String(64), nullable=True),
    Column("reviewed_at", DateTime(timezone=True), nullable=True),
)

# A label that shoppers' own reactions suggest for a message, with the evidence shown to reviewers.
suggestions = Table(
    "learning_suggestions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, ForeignKey("learning_messages.id", ondelete="CASCADE"), index=True),
    Column("kind", String(32), nullable=False, index=True),  # rephrase, correction, click, zero_results
    Column("label", JSON, nullable=False, default=dict),  # e.g. {"attributes": {"gender": "female"}}
    Column("evidence", Text, nullable=False, default=""),
    Column("related_message_id", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Every review action, for undo and agreement statistics.
review_events = Table(
    "learning_review_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, ForeignKey("learning_messages.id", ondelete="CASCADE"), index=True),
    Column("username", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # accept, correct, skip, undo
    Column("before", JSON, nullable=True),  # {"state", "label"} before the action
    Column("after", JSON, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "console_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False, default=REVIEWER),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Server-side console sessions: the cookie holds a random token, the table its SHA-256.
sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("console_users.id", ondelete="CASCADE"), index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Trained models: id, archive, the hash of the data it was trained on, its metrics and its parent.
models = Table(
    "model_registry",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("path", Text, nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("metrics", JSON, nullable=False, default=dict),
    Column("parent_id", String(64), nullable=True),
    Column("status", String(16), nullable=False, default=CANDIDATE, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False, default=""),
)

# The shadow model's parse of a logged message (ops/shadow.py): what it read, whether it agrees with the
# live parse on the row, and the differences ({"intent": {"live", "shadow"}, "entities": ..., ...}).
shadow_parses = Table(
    "shadow_parses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", Integer, ForeignKey("learning_messages.id", ondelete="CASCADE"), index=True),
    Column("model_id", String(64), nullable=False, index=True),
    Column("intent", String(64), nullable=False, default=""),
    Column("intent_confidence", Float, nullable=False, default=0.0),
    Column("entities", JSON, nullable=False, default=list),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("agrees", Boolean, nullable=False, index=True),
    Column("differences", JSON, nullable=False, default=dict),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_engines: Dict[str, Engine] = {}
_lock = threading.Lock()


def database_url() -> str:
    """`SHOPCUE_DATABASE_URL` wins, then `DATABASE_URL` (the catalog's), else the default SQLite file."""
    url = os.environ.get(DATABASE_URL_ENV) or os.environ.get("DATABASE_URL")
    return url or f"sqlite:///{DEFAULT_DB_PATH}"


def get_engine(url: Optional[str] = None) -> Engine:
    """One engine per URL per process, with the tables created on first use."""
    url = url or database_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            kwargs: Dict[str, object] = {"future": True}
            if url.startswith("sqlite"):
                path = url.removeprefix("sqlite:///")
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            engine = create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                event.listen(engine, "connect", _sqlite_pragmas)
            metadata.create_all(engine)
            _engines[url] = engine
        return engine


def reset_engines() -> None:
    """Forget cached engines (tests that switch databases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the console read while the bot writes; foreign keys make deletes cascade.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
