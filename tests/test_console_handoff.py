"""The console's handoff API (console/routers/handoff.py) over a temporary database and a stand-in for
Rasa's conversation API: agents only, oldest first, one claim wins (409), replies only from the holder
and re-checked, hand back frees the conversation, and the transcript shows the parse and context."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from common.limits import MAX_MESSAGE_CHARS
from console.app import create_app
from console.routers import handoff
from console.settings import ConsoleSettings
from console.users import add_user
from learning.db import get_engine, reset_engines, utcnow
from ops.handoff_store import ASKED, LOW_CONFIDENCE, claim, held_by, note_activity, request_handoff
from tests.console_seed import PASSWORD, add_users
from tests.test_console_api import login

TRACKER = {
    "slots": {
        "search_state": {"product_type": "trainers", "max_price": 50.0, "terms": [], "brand": None,
                         "clarified": True, "gender_confidence": 0.9},
        "cart": [{"id": "P1", "title": "Blue Runner", "size": "9", "quantity": 1, "price": 45.0}],
    },
    "events": [
        {"event": "user", "text": "trainers under 50", "timestamp": 1.0, "parse_data": {
            "intent": {"name": "search_product", "confidence": 0.97},
            "entities": [{"entity": "product_type", "value": "trainers", "confidence_entity": 0.99}],
            "attributes": {"gender": {"value": "male", "confidence": 0.8}}}},
        {"event": "bot", "text": "Here's what I found", "timestamp": 2.0, "data": {"custom": {
            "type": "product_cards", "intro": "Here's what I found",
            "products": [{"id": "P1", "title": "Blue Runner", "price": 45.0, "position": 1}]}}},
        {"event": "bot", "text": "Hi, I'm Aggie", "timestamp": 3.0, "metadata": {"agent": "aggie"}},
        {"event": "user", "text": "<script>alert(1)</script>", "timestamp": 4.0},
    ],
}


class FakeRasa:
    """Rasa's conversation API as the router uses it: one tracker, and the messages appended."""

    def __init__(self) -> None:
        self.appended: List[Tuple[str, str, str]] = []

    async def tracker(self, sender: str) -> Dict[str, Any]:
        return TRACKER

    async def append_agent_message(self, sender: str, text: str, agent: str) -> None:
        self.appended.append((sender, text, agent))


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    reset_engines()
    yield get_engine(f"sqlite:///{tmp_path / 'console.db'}")
    reset_engines()


@pytest.fixture()
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture()
def client(engine: Engine, tmp_path: Path, rasa: FakeRasa) -> Iterator[TestClient]:
    add_users(engine)
    add_user(engine, "agnes", PASSWORD, "agent")
    app = create_app(ConsoleSettings(database_url=str(engine.url), data_dir=tmp_path / "data",
                                     heldout_path=tmp_path / "heldout_reviewed.yml"))
    app.dependency_overrides[handoff.get_rasa] = lambda: rasa
    with TestClient(app) as test_client:
        yield test_client


def login_as(client: TestClient, username: str) -> str:
    """A fresh session for `username` (the cookie of the previous one dropped); its CSRF token."""
    client.cookies.clear()
    return login(client, username)


def test_only_agents_and_admins_see_the_queue(client: TestClient, engine: Engine) -> None:
    request_handoff(engine, "web-a", "webchat", ASKED)
    assert client.get("/api/handoff/queue").status_code == 401  # not logged in
    login_as(client, "rita")
    assert client.get("/api/handoff/queue").status_code == 403
    assert client.get("/handoff").status_code == 403
    login_as(client, "aggie")
    page = client.get("/handoff")
    assert page.status_code == 200 and "/static/handoff.js" in page.text
    assert f'data-max-chars="{MAX_MESSAGE_CHARS}"' in page.text


def test_claim_reply_and_hand_back(client: TestClient, engine: Engine, rasa: FakeRasa) -> None:
    first, _ = request_handoff(engine, "web-a", "webchat", LOW_CONFIDENCE)
    request_handoff(engine, "web-b", "webchat", ASKED)
    headers = {"X-CSRF-Token": login_as(client, "aggie")}
    items = client.get("/api/handoff/queue").json()["items"]
    assert [(i["sender_id"], i["reason"]) for i in items] == [("web-a", LOW_CONFIDENCE), ("web-b", ASKED)]
    assert client.post(f"/api/handoff/{first.id}/claim").status_code == 403  # no CSRF header
    refused = client.post(f"/api/handoff/{first.id}/reply", json={"text": "hi"}, headers=headers)
    assert refused.status_code == 409  # not claimed yet
    claimed = client.post(f"/api/handoff/{first.id}/claim", headers=headers)
    assert claimed.status_code == 200 and claimed.json()["agent"] == "aggie"
    assert held_by(engine, "web-a") == "aggie"
    reply = f"/api/handoff/{first.id}/reply"
    sent = client.post(reply, json={"text": "  Hello, I'm Aggie  "}, headers=headers)
    assert sent.status_code == 200 and rasa.appended == [("web-a", "Hello, I'm Aggie", "aggie")]
    for bad in ({"text": ""}, {"text": "   "}, {"text": "x" * (MAX_MESSAGE_CHARS + 1)}, {"text": 5}, {}):
        assert client.post(f"/api/handoff/{first.id}/reply", json=bad, headers=headers).status_code == 422
    assert len(rasa.appended) == 1
    assert client.post("/api/handoff/999/claim", headers=headers).status_code == 404

    other = {"X-CSRF-Token": login_as(client, "agnes")}
    conflict = client.post(f"/api/handoff/{first.id}/claim", headers=other)
    assert conflict.status_code == 409 and "aggie" in conflict.json()["detail"]
    assert client.get(f"/api/handoff/{first.id}").status_code == 403  # held by another agent
    assert client.post(reply, json={"text": "me too"}, headers=other).status_code == 409
    assert client.post(f"/api/handoff/{first.id}/close", headers=other).status_code == 409
    assert [i["sender_id"] for i in client.get("/api/handoff/queue").json()["items"]] == ["web-b"]

    headers = {"X-CSRF-Token": login_as(client, "aggie")}
    closed = client.post(f"/api/handoff/{first.id}/close", headers=headers)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert held_by(engine, "web-a") is None


def test_an_agent_who_went_quiet_is_told_the_bot_has_it_back(
    client: TestClient, engine: Engine, rasa: FakeRasa
) -> None:
    handoff_row, _ = request_handoff(engine, "web-a", "webchat", ASKED)
    claim(engine, handoff_row.id, "aggie")
    client.app.dependency_overrides[handoff.get_idle_s] = lambda: 60.0
    headers = {"X-CSRF-Token": login_as(client, "aggie")}
    sent = client.post(f"/api/handoff/{handoff_row.id}/reply", json={"text": "still here"}, headers=headers)
    assert sent.status_code == 200 and held_by(engine, "web-a", 60.0) == "aggie"
    note_activity(engine, "web-a", now=utcnow() - timedelta(minutes=2))  # then nobody wrote for 2 minutes
    assert client.get("/api/handoff/queue").json()["items"] == []
    late = client.post(f"/api/handoff/{handoff_row.id}/reply", json={"text": "sorry"}, headers=headers)
    assert late.status_code == 409 and "back to the bot" in late.json()["detail"]
    assert rasa.appended == [("web-a", "still here", "aggie")]
    assert held_by(engine, "web-a") is None


def test_the_transcript_shows_parse_and_context(client: TestClient, engine: Engine) -> None:
    handoff_row, _ = request_handoff(engine, "web-a", "webchat", ASKED)
    login_as(client, "aggie")
    view = client.get(f"/api/handoff/{handoff_row.id}").json()
    assert [t["who"] for t in view["turns"]] == ["user", "bot", "agent", "user"]
    first = view["turns"][0]["parse"]
    assert first["intent"] == "search_product" and first["confidence"] == 0.97
    assert first["entities"] == [{"entity": "product_type", "value": "trainers", "confidence": 0.99}]
    assert first["attributes"] == {"gender": {"value": "male", "confidence": 0.8}}
    assert view["turns"][2]["agent"] == "aggie"
    assert view["turns"][3]["text"] == "<script>alert(1)</script>"  # data; the page uses textContent
    assert view["context"]["search"] == {"product_type": "trainers", "max_price": "50.0"}
    [shown] = view["context"]["results"]
    assert shown == {"position": 1.0, "id": "P1", "title": "Blue Runner", "price": 45.0}
    assert view["context"]["cart"] == [{"title": "Blue Runner", "size": "9", "quantity": 1.0, "price": 45.0}]
