"""The throwaway services the scale-out and fault tests run on (tests/services.py): a stopped PostgreSQL
refuses connections and, started again, still has what was committed; a restarted Redis answers again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:  # pytest_plugins imports it (importing it first here would skip assert rewriting)
    from tests.services import PostgresServer, RedisServer

pytest_plugins = ["tests.services"]


def test_postgres_stops_and_comes_back_with_its_data(postgres: PostgresServer) -> None:
    engine = create_engine(postgres.url, future=True, pool_pre_ping=True)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE kept (value TEXT)"))
            connection.execute(text("INSERT INTO kept VALUES ('committed')"))
        postgres.stop()
        with pytest.raises(OperationalError), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        postgres.start()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT value FROM kept")).scalars().all() == ["committed"]
    finally:
        postgres.start()
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS kept"))
        engine.dispose()


def test_redis_restarts(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    client.set("lock", "held")
    redis_server.stop()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    redis_server.restart()
    assert client.ping() and client.get("lock") is None, "a restarted Redis starts empty (nothing saved)"
