"""Where conversations and their locks live: Rasa's tracker store and lock store, chosen from the
environment and written as endpoints.yml sections.

Conversations survive restarts by default: Rasa's SQL tracker store on an embedded SQLite file
(var/conversations.db for `make run`). One setting moves a shop to PostgreSQL: `SHOPCUE_TRACKER_URL`, or
else the project's `DATABASE_URL` (the catalog's and the learning log's database) when it is not SQLite,
so one PostgreSQL database holds the catalog, the conversations and the learning log. `SHOPCUE_REDIS_URL`
(or `REDIS_URL`) switches the lock store from in-memory (one Rasa process) to Redis, which several Rasa
instances need so that two of them never process one conversation at once.

Secrets stay out of the endpoints file: it names environment variables (`${SHOPCUE_TRACKER_URL}`), which
Rasa expands when it reads the file, and the launcher puts the values in the Rasa process's environment.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from sqlalchemy import create_engine, inspect, text

TRACKER_URL_ENV = "SHOPCUE_TRACKER_URL"
# make run's conversations when nothing else is set.
DEFAULT_CONVERSATIONS = Path(__file__).resolve().parent.parent / "var" / "conversations.db"
REDIS_URL_ENVS = ("SHOPCUE_REDIS_URL", "REDIS_URL")
# What the Rasa process gets in its environment for the endpoints file to name (never written in it).
REDIS_PASSWORD_ENV = "SHOPCUE_REDIS_PASSWORD"
# Rasa's SQLTrackerStore keeps every conversation's events in this table.
EVENTS_TABLE = "events"
# Lock keys in a Redis shared with other applications start with this (letters only: Rasa's rule).
LOCK_KEY_PREFIX = "shopcue"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def tracker_url(environ: Mapping[str, str], default_sqlite: Path = DEFAULT_CONVERSATIONS) -> str:
    """The SQLAlchemy URL of the conversations: SHOPCUE_TRACKER_URL, else a non-SQLite DATABASE_URL (or
    SHOPCUE_DATABASE_URL), else the SQLite file `default_sqlite`."""
    given = environ.get(TRACKER_URL_ENV, "").strip()
    if given:
        return given
    for name in ("SHOPCUE_DATABASE_URL", "DATABASE_URL"):
        shared = environ.get(name, "").strip()
        if shared and not is_sqlite(shared):
            return shared
    return f"sqlite:///{default_sqlite}"


def redis_url(environ: Mapping[str, str]) -> Optional[str]:
    """The Redis lock store's URL, or None for Rasa's in-memory lock store (one Rasa process)."""
    for name in REDIS_URL_ENVS:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


@dataclass(frozen=True)
class RedisSettings:
    """A `redis://[:password@]host[:port][/db]` URL as RedisLockStore's keyword arguments."""

    host: str
    port: int
    db: int
    password: Optional[str]

    @classmethod
    def from_url(cls, url: str) -> RedisSettings:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"not a redis://host:port/db URL: {parts.scheme}://{parts.hostname or ''}...")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"the Redis database in the URL must be a number, not {path!r}")
        password = urllib.parse.unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or 6379, int(path or 0), password)


def endpoint_sections(lock: Optional[str]) -> List[str]:
    """endpoints.yml lines for the tracker store (SQL) and, with a Redis URL `lock`, the lock store.
    Values that may hold a password are named as variables; `store_env` gives their values."""
    # Rasa's SQLTrackerStore takes `url` as the whole SQLAlchemy URL when it holds "://".
    lines = ["tracker_store:", "  type: SQL", f"  url: ${{{TRACKER_URL_ENV}}}"]
    if lock:
        redis = RedisSettings.from_url(lock)
        lines += ["lock_store:", "  type: redis", f"  url: {redis.host}", f"  port: {redis.port}",
                  f"  db: {redis.db}", f"  key_prefix: {LOCK_KEY_PREFIX}"]
        if redis.password:
            lines.append(f"  password: ${{{REDIS_PASSWORD_ENV}}}")
    return lines


def store_env(tracker: str, lock: Optional[str]) -> Dict[str, str]:
    """The environment the Rasa process needs for `endpoint_sections`' variables."""
    env = {TRACKER_URL_ENV: tracker}
    if lock:
        password = RedisSettings.from_url(lock).password
        if password:
            env[REDIS_PASSWORD_ENV] = password
    return env


def delete_conversation(url: str, sender_id: str) -> int:
    """Remove one shopper's conversation (every event) from the tracker store at `url`; the number of
    events removed (0 when the store holds no conversations yet). A request to forget a shopper."""
    engine = create_engine(url, future=True)
    try:
        if not inspect(engine).has_table(EVENTS_TABLE):
            return 0
        with engine.begin() as connection:
            statement = text(f"DELETE FROM {EVENTS_TABLE} WHERE sender_id = :sender")
            return int(connection.execute(statement, {"sender": sender_id}).rowcount or 0)
    finally:
        engine.dispose()
