"""The console's Models page and API (console/routers/models.py) over a temporary database: admins only,
choosing the shadow, its agreement, the A/B view, and promote/rollback asking the Rasa server to switch
(only a server the settings name; its refusal is reported, the registry change stands)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bot.launcher import free_port
from console.app import create_app
from console.settings import ConsoleSettings
from learning import registry
from learning.db import get_engine, reset_engines
from ops import shadow
from ops.serving_client import RASA_URL_ENV
from tests.console_seed import add_message, add_users
from tests.test_console_admin import _archive
from tests.test_console_api import login
from tests.test_shadow import SURE, KnownParser


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    reset_engines()
    yield get_engine(f"sqlite:///{tmp_path / 'console.db'}")
    reset_engines()


@pytest.fixture()
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    add_users(engine)
    app = create_app(ConsoleSettings(database_url=str(engine.url), data_dir=tmp_path / "data",
                                     heldout_path=tmp_path / "heldout_reviewed.yml"))
    app.state.serve_dir = tmp_path / "models"
    with TestClient(app) as test_client:
        yield test_client


def test_models_api_is_for_admins(client: TestClient) -> None:
    headers = {"X-CSRF-Token": login(client, "rita")}
    assert client.get("/api/admin/shadow").status_code == 403
    assert client.get("/api/admin/ab").status_code == 403
    assert client.post("/api/admin/shadow", json={"model_id": None}, headers=headers).status_code == 403
    assert client.get("/models").status_code == 403


def test_choose_a_shadow_and_read_its_agreement(client: TestClient, engine: Engine, tmp_path: Path) -> None:
    headers = {"X-CSRF-Token": login(client, "adam")}
    live = registry.register(engine, _archive(tmp_path, "live"), "h")
    registry.promote(engine, live.id, serve_dir=None)
    candidate = registry.register(engine, _archive(tmp_path, "cand"), "h")
    assert client.get("/api/admin/shadow").json() == {"shadow": None, "agreement": {}, "disagreements": []}
    refused = client.post("/api/admin/shadow", json={"model_id": live.id}, headers=headers)
    assert refused.status_code == 409 and "is live" in refused.json()["detail"]
    assert client.post("/api/admin/shadow", json={"model_id": "nope"}, headers=headers).status_code == 404
    chosen = client.post("/api/admin/shadow", json={"model_id": candidate.id}, headers=headers).json()
    assert chosen["shadow"]["status"] == "shadow"
    first = add_message(engine, "hello there", 0.1, intent="greet")
    add_message(engine, "bye", 0.1, intent="goodbye")
    parser = KnownParser({"intent": {"name": "greet", "confidence": 0.9}, "entities": [], "attributes": SURE})
    for row in shadow.pending(engine, first - 1):
        shadow.handle(engine, parser, candidate.id, row)
    view = client.get("/api/admin/shadow").json()
    assert view["agreement"] == {candidate.id: {"parsed": 2, "agreed": 1, "rate": 0.5}}
    assert [(d["text"], d["intent"], d["shadow_intent"]) for d in view["disagreements"]] == [
        ("bye", "goodbye", "greet")]
    stopped = client.post("/api/admin/shadow", json={"model_id": None}, headers=headers)
    assert stopped.json() == {"shadow": None}
    assert registry.shadow_model(engine) is None
    assert registry.get_model(engine, candidate.id).status == "candidate"
    page = client.get("/models")
    assert page.status_code == 200 and "A/B test" in page.text and "/static/models.js" in page.text


def test_promote_and_rollback_ask_only_a_configured_rasa_server(
        client: TestClient, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"X-CSRF-Token": login(client, "adam")}
    a = registry.register(engine, _archive(tmp_path, "a"), "ha")
    b = registry.register(engine, _archive(tmp_path, "b"), "hb")
    monkeypatch.delenv(RASA_URL_ENV, raising=False)
    answer = client.post(f"/api/admin/models/{a.id}/promote", headers=headers).json()
    assert answer["status"] == "live" and "is not set" in answer["serving_error"]
    assert "is not set" in client.get("/api/admin/ab").json()["serving_error"]
    monkeypatch.setenv(RASA_URL_ENV, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    answer = client.post(f"/api/admin/models/{b.id}/promote", headers=headers).json()
    assert answer["status"] == "live" and "did not answer" in answer["serving_error"]
    assert registry.live_model(engine).id == b.id  # the registry change stands
    answer = client.post("/api/admin/rollback", headers=headers).json()
    assert answer["id"] == a.id and "did not answer" in answer["serving_error"]
    assert "did not answer" in client.get("/api/admin/ab").json()["serving_error"]
