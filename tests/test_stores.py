"""Where conversations live: the tracker store and lock store settings (bot/stores.py) and the endpoints
file the launcher writes from them, with passwords only ever named, never written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot import launcher, stores


def test_conversations_are_kept_in_sqlite_by_default_and_follow_a_shared_postgresql_url(tmp_path: Path
                                                                                       ) -> None:
    default = tmp_path / "conversations.db"
    assert stores.tracker_url({}, default) == f"sqlite:///{default}"
    # A SQLite DATABASE_URL is the catalog's file: conversations keep their own file.
    assert stores.tracker_url({"DATABASE_URL": "sqlite:////x/catalog.db"}, default) == f"sqlite:///{default}"
    pg = "postgresql://shop:pw@db:5432/shopcue"
    assert stores.tracker_url({"DATABASE_URL": pg}, default) == pg
    assert stores.tracker_url({"DATABASE_URL": pg, stores.TRACKER_URL_ENV: "postgresql://other/x"},
                              default) == "postgresql://other/x"


def test_redis_urls_become_lock_store_settings() -> None:
    assert stores.redis_url({}) is None
    assert stores.redis_url({"REDIS_URL": "redis://r:6380/2"}) == "redis://r:6380/2"
    settings = stores.RedisSettings.from_url("redis://:p%40ss@cache.internal:6380/3")
    assert settings == stores.RedisSettings("cache.internal", 6380, 3, "p@ss")
    assert stores.RedisSettings.from_url("redis://localhost") == stores.RedisSettings("localhost", 6379, 0,
                                                                                      None)
    for bad in ("http://localhost:6379", "redis://:6379", "redis://h:1/zero"):
        with pytest.raises(ValueError):
            stores.RedisSettings.from_url(bad)


def test_the_endpoints_file_names_database_urls_and_the_redis_password_by_variable_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned = []
    monkeypatch.setattr(launcher.BotProcesses, "_spawn",
                        lambda self, command, log, env, *more: spawned.append(env))
    monkeypatch.setattr(launcher.BotProcesses, "_wait_until", lambda self, *args: None)
    bot = launcher.BotProcesses(model=tmp_path / "m.tar.gz", log_dir=tmp_path, shadow=False,
                                database_url="postgresql://shop:log-secret@db/shopcue",
                                tracker_url="postgresql://shop:db-secret@db/shopcue",
                                lock_url="redis://:redis-secret@cache:6380/1")
    bot.start()
    text = (tmp_path / "endpoints.yml").read_text()
    assert "db-secret" not in text and "redis-secret" not in text and "log-secret" not in text
    endpoints = yaml.safe_load(text)
    assert endpoints["tracker_store"] == {"type": "SQL", "url": "${SHOPCUE_TRACKER_URL}"}
    assert endpoints["event_broker"]["url"] == "${SHOPCUE_DATABASE_URL}"
    assert endpoints["lock_store"] == {"type": "redis", "url": "cache", "port": 6380, "db": 1,
                                       "key_prefix": "shopcue", "password": "${SHOPCUE_REDIS_PASSWORD}"}
    rasa_env = spawned[1]
    assert rasa_env[stores.TRACKER_URL_ENV] == "postgresql://shop:db-secret@db/shopcue"
    assert rasa_env[stores.REDIS_PASSWORD_ENV] == "redis-secret"
    assert stores.TRACKER_URL_ENV not in spawned[0], "the action server needs no conversation store"


def test_without_settings_the_conversations_live_beside_the_logs_and_locks_in_memory(tmp_path: Path) -> None:
    bot = launcher.BotProcesses(model=tmp_path / "m.tar.gz", log_dir=tmp_path, database_url="sqlite://")
    endpoints = yaml.safe_load(bot.write_endpoints().read_text())
    assert bot.conversations_url == f"sqlite:///{tmp_path.resolve() / 'conversations.db'}"
    assert endpoints["tracker_store"]["type"] == "SQL" and "lock_store" not in endpoints
