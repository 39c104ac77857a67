"""The web chat channel's HTTP routes: page and assets, sending a message, reloading the history.

Most tests mount the real channel blueprint (registered the way Rasa registers input channels) on a
small Sanic app whose agent answers like Rasa's processor does: it writes the user and bot events to a
real in-memory tracker store and sends the bot's messages through the request's output channel. That
keeps these tests fast (no model) while the `bot` tests at the end check the channel in a running Rasa.

Every call carries a server-issued session (bot/channels/session.py); the in-process app signs with
TEST_SESSIONS, so `session_of("web-a")` is the session whose conversation is "web-a". Other test modules
use these helpers too (`make_app`, `post`, `get`, `session_of`, `open_session`, `webchat_post`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional

import httpx
import pytest
from rasa.core.channels.channel import UserMessage, register
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Sanic

from bot.channels.guard import ChannelLimits, parse_rate
from bot.channels.session import SENDER_PREFIX, SESSION_HEADER, SessionSigner
from bot.channels.webchat import WebChatInput
from common.message_metadata import DISPLAY_TEXT_KEY

TEST_SESSIONS = SessionSigner("a test secret of the web chat, never a real one")
# Generous, so tests that are not about limits never meet them; test_channel_fuzz.py checks the limits.
TEST_LIMITS = ChannelLimits(rate=parse_rate("10000/1"), ip_rate=parse_rate("10000/1"))

PRODUCT_CARDS = {
    "type": "product_cards",
    "products": [
        {
            "id": "P1",
            "title": "Trail runner",
            "price": 59.0,
            "currency": "USD",
            "brand": "Stride",
            "attributes": {"colour": "blue"},
            "in_stock": True,
            "stock_note": "in stock",
            "image": None,
            "position": 1,
        },
    ],
}
BUTTONS = [{"title": "Cheaper", "payload": "/refine_search"}]


class FakeAgent:
    """Answers every message with text + quick replies + product cards, storing events like Rasa does."""

    def __init__(self, fail: bool = False, template: str = "Here is what I found for {}") -> None:
        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.fail = fail
        self.template = template
        self.received: List[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        if self.fail:
            raise RuntimeError("model exploded")
        self.received.append(message)
        tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, metadata=message.metadata or {}))
        text = self.template.format(message.text)
        # One answer with quick replies (like a search), then one plain text + cards (no buttons).
        tracker.update(BotUttered(text, data={"buttons": BUTTONS}))
        tracker.update(BotUttered(text, data={"custom": PRODUCT_CARDS}))
        await self.tracker_store.save(tracker)
        await message.output_channel.send_response(message.sender_id, {"text": text, "buttons": BUTTONS})
        await message.output_channel.send_response(message.sender_id, {"text": text, "custom": PRODUCT_CARDS})


@pytest.fixture(autouse=True)
def sanic_test_mode() -> Iterator[None]:
    """Sanic's test mode lets several apps start in one process (it keeps the untouched handlers)."""
    previous = Sanic.test_mode
    Sanic.test_mode = True
    yield
    Sanic.test_mode = previous


def make_app(agent: Any, limits: ChannelLimits = TEST_LIMITS) -> Sanic:
    app = Sanic(f"webchat_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent
    register([WebChatInput(sessions=TEST_SESSIONS, limits=limits)], app, route="/webhooks/")
    return app


def session_of(sender: str, now: Optional[float] = None) -> str:
    """The in-process app's session whose conversation is `sender` ("web-<id>")."""
    assert sender.startswith(SENDER_PREFIX), sender
    return TEST_SESSIONS.issue(now=now, session_id=sender[len(SENDER_PREFIX):])


def headers_of(session: Optional[str]) -> Dict[str, str]:
    return {SESSION_HEADER: session} if session else {}


def run(app: Sanic, scenario: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """Run a scenario against the app in-process over ASGI (no socket, no server thread)."""

    async def main() -> Any:
        if not getattr(app.ctx, "started", False):
            await app._startup()  # what ASGI lifespan startup does: finalise the routers
            app.ctx.started = True
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            return await scenario(client)

    return asyncio.run(main())


def get(app: Sanic, url: str, session: Optional[str] = None) -> httpx.Response:
    return run(app, lambda client: client.get(url, headers=headers_of(session)))


def post(app: Sanic, url: str, payload: Any = None, content: Optional[str] = None,
         session: Optional[str] = None) -> httpx.Response:
    headers = headers_of(session)
    if content is not None:
        headers["Content-Type"] = "application/json"
        return run(app, lambda client: client.post(url, content=content, headers=headers))
    return run(app, lambda client: client.post(url, json=payload, headers=headers))


# The shoppers of the in-process tests.
S1, S9, ELSE = session_of("web-shopper-1"), session_of("web-s-9"), session_of("web-someone-else")


@pytest.fixture
def agent() -> FakeAgent:
    return FakeAgent()


@pytest.fixture
def app(agent: FakeAgent) -> Sanic:
    return make_app(agent)


def test_chat_page_is_served_with_the_widget(app: Sanic) -> None:
    for url in ("/webhooks/webchat/", "/webhooks/webchat"):
        page = get(app, url)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "/webhooks/webchat/shopcue-widget.js" in page.text
        assert '<html lang="en">' in page.text


@pytest.mark.parametrize(
    ("asset", "content_type", "marker"),
    [
        ("shopcue-widget.js", "text/javascript", "product_cards"),
        ("shopcue-widget.css", "text/css", ".shopcue-card"),
        ("product-placeholder.svg", "image/svg+xml", "<svg"),
    ],
)
def test_widget_assets_are_served(app: Sanic, asset: str, content_type: str, marker: str) -> None:
    response = get(app, f"/webhooks/webchat/{asset}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert marker in response.text


@pytest.mark.parametrize("asset", ["README.md", "missing.js", ".hidden.js", "..%2Fpyproject.toml"])
def test_only_web_assets_are_served(app: Sanic, asset: str) -> None:
    assert get(app, f"/webhooks/webchat/{asset}").status_code == 404


def test_message_returns_text_buttons_and_product_cards(app: Sanic, agent: FakeAgent) -> None:
    response = post(app, "/webhooks/webchat/webhook", {"message": "running shoes"}, session=S1)
    assert response.status_code == 200
    messages = response.json()
    assert messages[0]["text"] == "Here is what I found for running shoes"
    assert messages[0]["buttons"] == BUTTONS
    assert messages[1]["text"] == "Here is what I found for running shoes"
    assert messages[2]["custom"]["type"] == "product_cards"
    assert messages[2]["custom"]["products"][0]["title"] == "Trail runner"
    assert agent.received[0].input_channel == "webchat"
    assert agent.received[0].sender_id == "web-shopper-1"  # from the session, the only source


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ({"message": "   "}, "message"),
        ({}, "message"),
        ({"message": "x" * 1001}, "message"),
        ({"message": "hi", "metadata": "not an object"}, "metadata"),
        # the conversation is the session's: a client that names one is told so, not obeyed
        ({"sender": "web-shopper-2", "message": "hi"}, "sender"),
        ({"sender": "<script>", "message": "hi"}, "sender"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(app: Sanic, agent: FakeAgent, payload, complaint) -> None:
    response = post(app, "/webhooks/webchat/webhook", payload, session=S1)
    assert response.status_code == 400
    assert complaint in response.json()["error"]
    assert agent.received == []


def test_malformed_json_is_refused(app: Sanic) -> None:
    response = post(app, "/webhooks/webchat/webhook", content="{not json", session=S1)
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_failing_bot_gives_a_server_error_the_widget_can_show() -> None:
    app = make_app(FakeAgent(fail=True))
    response = post(app, "/webhooks/webchat/webhook", {"message": "hi"}, session=S1)
    assert response.status_code == 500
    assert response.json() == {"error": "the assistant failed to answer"}


def test_history_replays_the_conversation_in_order(app: Sanic) -> None:
    url = "/webhooks/webchat/webhook"

    async def scenario(client: httpx.AsyncClient) -> httpx.Response:
        await client.post(url, json={"message": "running shoes"}, headers=headers_of(S9))
        await client.post(url, json={"message": "/refine_search", "metadata": {DISPLAY_TEXT_KEY: "Cheaper"}},
                          headers=headers_of(S9))
        await client.post(url, json={"message": "socks"}, headers=headers_of(ELSE))
        return await client.get("/webhooks/webchat/history", headers=headers_of(S9))

    response = run(app, scenario)
    assert response.status_code == 200
    body = response.json()
    assert body["sender"] == "web-s-9"
    shown = [(m["sender"], m.get("text"), (m.get("custom") or {}).get("type")) for m in body["messages"]]
    assert shown == [
        ("user", "running shoes", None),
        ("bot", "Here is what I found for running shoes", None),
        ("bot", "Here is what I found for running shoes", None),
        ("bot", None, "product_cards"),
        # the quick reply's title, as the shopper saw it, not its payload
        ("user", "Cheaper", None),
        ("bot", "Here is what I found for /refine_search", None),
        ("bot", "Here is what I found for /refine_search", None),
        ("bot", None, "product_cards"),
    ]
    assert body["messages"][1]["buttons"] == BUTTONS


def test_a_reloaded_answer_is_the_same_messages_as_the_live_one() -> None:
    """Rasa splits a plain text at blank lines into several messages; the history must do the same."""
    app = make_app(FakeAgent(template="Found these for {}:\n\n1. Trail runner\n\nWant them cheaper?"))

    headers = headers_of(session_of("web-s-2"))

    async def scenario(client: httpx.AsyncClient) -> tuple:
        live = await client.post("/webhooks/webchat/webhook", json={"message": "shoes"}, headers=headers)
        history = await client.get("/webhooks/webchat/history", headers=headers)
        return live.json(), history.json()["messages"]

    live, history = run(app, scenario)
    assert len(live) == 5  # text with buttons (not split), 3 text parts, the cards
    reloaded = [{k: v for k, v in message.items() if k != "sender"} for message in history[1:]]
    assert reloaded == live


def test_history_of_a_new_shopper_is_empty(app: Sanic) -> None:
    response = get(app, "/webhooks/webchat/history", session=session_of("web-never-seen"))
    assert response.status_code == 200
    assert response.json() == {"sender": "web-never-seen", "messages": []}


def test_a_new_session_is_a_new_conversation_the_server_names(app: Sanic, agent: FakeAgent) -> None:
    issued = post(app, "/webhooks/webchat/session")
    assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
    session = issued.json()["session"]
    assert issued.json()["expires_at"] == TEST_SESSIONS.expires_at(session)
    other = post(app, "/webhooks/webchat/session").json()["session"]
    assert session != other
    assert post(app, "/webhooks/webchat/webhook", {"message": "hi"}, session=session).status_code == 200
    assert agent.received[0].sender_id == TEST_SESSIONS.verify(session).sender
    assert agent.received[0].sender_id.startswith("web-") and len(agent.received[0].sender_id) == 26


@pytest.mark.parametrize("route", ["history", "updates?after=0"])
def test_another_shoppers_conversation_cannot_be_read(app: Sanic, route: str) -> None:
    """Before sessions, `?sender=` read anyone's conversation; now a session opens only its own."""
    post(app, "/webhooks/webchat/webhook", {"message": "my secret gift"}, session=S9)
    url = f"/webhooks/webchat/{route}"
    mine = get(app, url, session=S9)
    assert mine.status_code == 200
    separator = "&" if "?" in url else "?"
    # naming the victim: refused, whatever session comes with it
    for session in (None, ELSE):
        refused = get(app, f"{url}{separator}sender=web-s-9", session=session)
        assert refused.status_code in (400, 401) and "my secret" not in refused.text
    # forging the victim's session without the secret: refused
    forged = SessionSigner("another secret that is not the server's").issue(session_id="s-9")
    tampered = S9[:-2] + ("AA" if not S9.endswith("AA") else "BB")
    for session in (forged, tampered, "s-9", "web-s-9", S9 + "x", S9.replace(".", "..", 1)):
        refused = get(app, url, session=session)
        assert refused.status_code == 401, session
        assert refused.json()["code"] == "session_invalid" and "my secret" not in refused.text
    missing = get(app, url)
    assert (missing.status_code, missing.json()["code"]) == (401, "session_missing")
    assert "my secret" not in get(app, "/webhooks/webchat/history", session=ELSE).text


def test_an_expired_session_is_refused_and_a_fresh_one_works(app: Sanic) -> None:
    old = session_of("web-old", now=1_000_000)
    refused = post(app, "/webhooks/webchat/webhook", {"message": "hi"}, session=old)
    assert (refused.status_code, refused.json()["code"]) == (401, "session_expired")
    assert post(app, "/webhooks/webchat/webhook", {"message": "hi"}, session=session_of("web-old")
                ).status_code == 200


def test_a_clicked_card_joins_the_conversations_viewed_products() -> None:
    """The click reaches the tracker as a viewed_products SlotSet (actions/viewed.py keeps the list)."""
    from pathlib import Path

    from rasa.core.lock_store import InMemoryLockStore

    domain = Domain.load(str(Path(__file__).resolve().parents[1] / "bot" / "domain.yml"))
    agent = FakeAgent()
    agent.tracker_store = InMemoryTrackerStore(domain)
    agent.lock_store = InMemoryLockStore()
    app = make_app(agent)

    def click(sender: str, product_id: str) -> Dict[str, Any]:
        event = {"type": "card_click", "product_id": product_id}
        return {"json": event, "headers": headers_of(session_of(sender))}

    async def scenario(client: httpx.AsyncClient) -> List[int]:
        await client.post("/webhooks/webchat/webhook", json={"message": "trainers"},
                          headers=headers_of(session_of("web-s-click")))
        clicks = [click("web-s-click", pid) for pid in ("P1", "P2", "P3", "P1")]
        clicks += [click("web-nobody-yet", "P1"), click("web-s-click", "../x")]
        return [(await client.post("/webhooks/webchat/event", **c)).status_code for c in clicks]

    assert run(app, scenario) == [202, 202, 202, 202, 202, 400]
    tracker = asyncio.run(agent.tracker_store.retrieve("web-s-click"))
    assert tracker.get_slot("viewed_products") == ["P2", "P3", "P1"]
    assert asyncio.run(agent.tracker_store.retrieve("web-nobody-yet")) is None  # no conversation is started


def test_a_click_without_a_tracker_to_keep_it_is_still_accepted(app: Sanic, agent: FakeAgent) -> None:
    """An agent without a lock store, or whose domain lacks the slot (an older model): only logged."""
    session = session_of("web-s-old")
    post(app, "/webhooks/webchat/webhook", {"message": "hi"}, session=session)
    event = {"type": "card_click", "product_id": "P1"}
    answer = post(app, "/webhooks/webchat/event", event, session=session)
    assert answer.status_code == 202 and "logged" in answer.json()
    assert asyncio.run(agent.tracker_store.retrieve("web-s-old")).get_slot("viewed_products") is None


# ---- in the running bot (Rasa started with bot/credentials.yml and CORS for the test's origins) ----


def _http(method: str, url: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url, timeout=120.0, **kwargs)


def open_session(rasa_url: str) -> tuple:
    """A new web chat session from the running bot, and the sender id Rasa knows its conversation by."""
    from bot.channels.session import SENDER_PREFIX as PREFIX

    session = _http("POST", f"{rasa_url}/webhooks/webchat/session").json()["session"]
    return session, PREFIX + session.split(".")[0]


def webchat_post(rasa_url: str, session: str, text: str, display: Optional[str] = None) -> httpx.Response:
    """One shopper message to the running bot's web chat."""
    body: Dict[str, Any] = {"message": text}
    if display:
        body["metadata"] = {DISPLAY_TEXT_KEY: display}
    return _http("POST", f"{rasa_url}/webhooks/webchat/webhook", json=body, headers=headers_of(session))


@pytest.mark.e2e
def test_running_bot_serves_the_page_and_answers_over_webchat(bot: Any) -> None:
    base = f"{bot.rasa_url}/webhooks/webchat"
    page = _http("GET", f"{base}/")
    assert page.status_code == 200 and "shopcue-widget.js" in page.text

    session, sender = open_session(bot.rasa_url)
    reply = webchat_post(bot.rasa_url, session, "hello")
    assert reply.status_code == 200
    messages = reply.json()
    assert any(m.get("text") for m in messages), f"no text reply to 'hello': {json.dumps(messages)}"

    history_reply = _http("GET", f"{base}/history", headers=headers_of(session)).json()
    assert history_reply["sender"] == sender
    history = history_reply["messages"]
    assert history[0] == {"sender": "user", "text": "hello"}
    assert [m for m in history if m["sender"] == "bot"], "the bot's answer is missing from the history"


@pytest.mark.e2e
def test_running_bot_allows_embedding_from_another_origin(bot: Any) -> None:
    base = f"{bot.rasa_url}/webhooks/webchat"
    # A shop's page on another origin: a local port, which the test bot's CORS allows (tests/conftest.py)
    origin = "http://127.0.0.1:8000"
    preflight = _http(
        "OPTIONS",
        f"{base}/webhook",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-shopcue-session",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers.get("access-control-allow-origin") in ("*", origin)
    allowed = preflight.headers.get("access-control-allow-headers", "").lower()
    assert "x-shopcue-session" in allowed or allowed == "*", allowed
    script = _http("GET", f"{base}/shopcue-widget.js", headers={"Origin": origin})
    assert script.headers.get("access-control-allow-origin") in ("*", origin)
