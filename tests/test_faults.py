"""A shopper always gets a clear answer when something behind the bot fails (bot/channels/faults.py,
actions/base.py, actions/catalog/db.py), checked in-process with Rasa's own store classes:

- the conversation store down (a read or a save): 503 with Retry-After and the apology, the message not
  handled, and once the store is back the conversation goes on where it was (nothing forgotten or lost);
- the lock store down (a real RedisLockStore with no Redis): the same 503; a lock that fails only to be
  released after the turn was answered keeps the answer;
- the action server down or hung (a real RemoteAction against a local HTTP server): an apology in the
  channel's usual reply shape instead of silence, and normal answers again once it is back;
- a slow catalog query: stopped at SHOPCUE_CATALOG_TIMEOUT_S and answered "the catalog is slow".

The end-to-end versions with the real bot, PostgreSQL and Redis are in tests/test_faults_e2e.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest
import rasa.core.actions.action as rasa_action
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import UserMessage, register
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import ConnectionError as RedisConnectionError
from sanic import Sanic
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from actions.base import ShopAction, Turn
from actions.catalog.db import (
    TIMEOUT_ENV,
    build_catalog,
    dispose_engine,
    get_engine,
    is_statement_timeout,
    limit_statements,
    session_for,
    statement_timeout_s,
)
from actions.catalog_handle import reset_catalog_cache
from actions.replies.faults import CATALOG_SLOW
from bot.channels.apologies import ACTIONS_DOWN, SHOP_SYSTEM_DOWN
from bot.channels.faults import (
    RETRY_AFTER_S,
    ActionServerProbe,
    ConversationStoreError,
    action_timeout_s,
    bound_action_wait,
    fail_loudly,
    health_url,
    quiet_unreachable_actions,
)
from bot.channels.rest import RedactingRestInput
from bot.channels.webchat import WebChatInput
from bot.launcher import free_port
from ops import metrics
from tests.test_channel_fuzz import call  # in-process, from a loopback client
from tests.test_search import SMALL_CATALOG
from tests.test_webchat_channel import TEST_LIMITS, TEST_SESSIONS, session_of

WEB, REST = "/webhooks/webchat/webhook", "/webhooks/rest/webhook"
SHOPPER = "web-fault-1"


# ---- Rasa's stores, failing on demand -----------------------------------------------------------------


def database_down() -> OperationalError:
    return OperationalError("SELECT events", {}, ConnectionRefusedError("connection refused"))


class FlakyTrackerStore(InMemoryTrackerStore):
    """Rasa's in-memory tracker store that fails reads and/or saves while `down` says so."""

    def __init__(self) -> None:
        super().__init__(Domain.empty())
        self.down: set = set()  # "read", "save"

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        if "read" in self.down:
            raise database_down()
        return await super().retrieve(sender_id)

    async def save(self, tracker: DialogueStateTracker) -> None:
        if "save" in self.down:
            raise database_down()
        await super().save(tracker)


class ReleaseFailingLockStore(InMemoryLockStore):
    """Takes locks fine but fails to release them (Redis went away during the turn) while `down`."""

    down = False

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        if self.down:
            raise RedisConnectionError("Connection closed by server.")
        super().cleanup(conversation_id, ticket_number)


class RememberingAgent:
    """Handles a message as Rasa's Agent does (the lock, the tracker read, the answer, the save), through a
    real FailSafeTrackerStore; its answer says how many messages the conversation holds, so a forgotten
    conversation shows in the reply."""

    def __init__(self, lock_store: Any = None) -> None:
        self.primary = FlakyTrackerStore()
        self.tracker_store = FailSafeTrackerStore(self.primary)  # what rasa.core.agent.Agent makes
        self.lock_store = lock_store or InMemoryLockStore()
        self.action_endpoint = None
        self.handled = 0

    async def handle_message(self, message: UserMessage) -> None:
        async with self.lock_store.lock(message.sender_id):
            tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
            tracker.update(UserUttered(message.text))
            said = [e.text for e in tracker.events if isinstance(e, UserUttered)]
            answer = f"message {len(said)}: {' / '.join(said)}"
            tracker.update(BotUttered(answer))
            await message.output_channel.send_response(message.sender_id, {"text": answer})
            await self.tracker_store.save(tracker)
            self.handled += 1

    def user_texts(self, sender: str) -> List[str]:
        tracker = asyncio.run(self.primary.retrieve(sender))
        return [e.text for e in tracker.events if isinstance(e, UserUttered)] if tracker else []


# ---- the action server, up, down or hung -----------------------------------------------------------------


class ActionServer:
    """A local stand-in for the action server on a fixed port: /health and /webhook answer while up;
    `hang()` keeps every request waiting; `stop()` closes the port (connection refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook"
        self.release = threading.Event()
        self.server: Optional[ThreadingHTTPServer] = None

    def start(self) -> ActionServer:
        release = self.release

        class Handler(BaseHTTPRequestHandler):
            def reply(self, body: bytes) -> None:
                if getattr(self.server, "hung", False):
                    release.wait(30)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self.reply(b'{"status": "ok"}')

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.reply(b'{"events": [], "responses": [{"text": "Here are three trainers."}]}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def hang(self) -> None:
        assert self.server is not None
        self.server.hung = True  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self.server is not None:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            self.server = None
            self.release = threading.Event()


class ActionAgent:
    """Runs one custom action per message with Rasa's real RemoteAction and, like Rasa's processor, goes
    on without its messages when the call fails (the silence the channels must not pass on)."""

    def __init__(self, action_url: str) -> None:
        self.action_endpoint = EndpointConfig(url=action_url)
        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.lock_store = InMemoryLockStore()
        self.nlg = TemplatedNaturalLanguageGenerator({})

    async def handle_message(self, message: UserMessage) -> None:
        tracker = DialogueStateTracker(message.sender_id, [])
        tracker.update(UserUttered(message.text))
        try:
            events = await RemoteAction("action_search_products", self.action_endpoint).run(
                message.output_channel, self.nlg, tracker, Domain.empty())
        except Exception:  # rasa.core.processor: "Bot will continue, but the actions events are lost"
            events = []
        for event in events:
            if isinstance(event, BotUttered):
                await message.output_channel.send_response(message.sender_id, {"text": event.text})


# ---- the app: both channels, as bot/credentials.yml has them --------------------------------------------


@pytest.fixture(autouse=True)
def sanic_test_mode() -> Iterator[None]:
    previous, Sanic.test_mode = Sanic.test_mode, True
    yield
    Sanic.test_mode = previous


def make_app(agent: Any, probe: Optional[ActionServerProbe] = None) -> Sanic:
    app = Sanic(f"faults_test_{id(agent):x}_{time.monotonic_ns()}")
    app.ctx.agent = agent
    probe = probe or ActionServerProbe()
    register([WebChatInput(sessions=TEST_SESSIONS, limits=TEST_LIMITS, probe=probe),
              RedactingRestInput(limits=TEST_LIMITS, probe=probe)], app, route="/webhooks/")
    return app


def web_says(app: Sanic, text: str, sender: str = SHOPPER) -> httpx.Response:
    return call(app, "POST", WEB, json={"message": text}, headers={"X-Shopcue-Session": session_of(sender)})


def rest_says(app: Sanic, text: str, sender: str = "call-fault-1") -> httpx.Response:
    return call(app, "POST", REST, json={"sender": sender, "message": text})


def assert_shop_system_apology(reply: httpx.Response) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.headers["Retry-After"] == str(RETRY_AFTER_S)
    body = reply.json()
    assert body["error"] == SHOP_SYSTEM_DOWN and body["retry_after"] == RETRY_AFTER_S
    assert "Traceback" not in reply.text and "SELECT" not in reply.text


# ---- the conversation store ------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["read", "save"])
def test_a_conversation_store_outage_is_a_503_and_the_conversation_goes_on_after_it(failing: str) -> None:
    agent = RememberingAgent()
    app = make_app(agent)
    assert web_says(app, "red trainers").json()[0]["text"] == "message 1: red trainers"

    agent.primary.down.add(failing)
    assert_shop_system_apology(web_says(app, "in size 9"))
    agent.primary.down.clear()

    # The shopper sends it again: the bot still knows the first message, and each is stored once.
    answer = web_says(app, "in size 9")
    assert answer.status_code == 200
    assert answer.json()[0]["text"] == "message 2: red trainers / in size 9"
    assert agent.user_texts(SHOPPER) == ["red trainers", "in size 9"]


def test_the_phone_channel_gets_the_same_503_when_the_conversation_store_is_down() -> None:
    agent = RememberingAgent()
    app = make_app(agent)
    agent.primary.down.add("read")
    assert_shop_system_apology(rest_says(app, "red trainers"))
    assert agent.handled == 0
    agent.primary.down.clear()
    assert rest_says(app, "red trainers").json()[0]["text"] == "message 1: red trainers"


def test_a_reload_while_the_store_is_down_is_a_503_not_an_empty_conversation() -> None:
    agent = RememberingAgent()
    app = make_app(agent)
    web_says(app, "red trainers")
    agent.primary.down.add("read")
    headers = {"X-Shopcue-Session": session_of(SHOPPER)}
    assert_shop_system_apology(call(app, "GET", "/webhooks/webchat/history", headers=headers))
    agent.primary.down.clear()
    history = call(app, "GET", "/webhooks/webchat/history", headers=headers).json()["messages"]
    assert [m.get("text") for m in history] == ["red trainers", "message 1: red trainers"]


def test_a_model_loaded_beside_the_live_one_fails_loudly_too() -> None:
    # ops/serving.py gives a new Agent the live FailSafeTrackerStore, which Rasa wraps in another one.
    primary = FlakyTrackerStore()
    outer = FailSafeTrackerStore(FailSafeTrackerStore(primary))
    fail_loudly(outer)
    primary.down.add("read")
    with pytest.raises(ConversationStoreError) as raised:
        asyncio.run(outer.retrieve("web-x"))
    assert isinstance(raised.value.__cause__, (ConversationStoreError, OperationalError))


# ---- the lock store ------------------------------------------------------------------------------------


def test_a_lock_store_without_redis_is_a_503_in_both_channels() -> None:
    no_redis = RedisLockStore(host="127.0.0.1", port=free_port(), socket_timeout=0.5)
    agent = RememberingAgent(lock_store=no_redis)
    app = make_app(agent)
    assert_shop_system_apology(web_says(app, "red trainers"))
    assert_shop_system_apology(rest_says(app, "red trainers"))
    assert agent.handled == 0 and agent.user_texts(SHOPPER) == []


def test_a_lock_that_fails_only_to_be_released_keeps_the_answer() -> None:
    locks = ReleaseFailingLockStore()
    agent = RememberingAgent(lock_store=locks)
    app = make_app(agent)
    locks.down = True
    answer = web_says(app, "red trainers")
    assert answer.status_code == 200 and answer.json()[0]["text"] == "message 1: red trainers"
    assert agent.user_texts(SHOPPER) == ["red trainers"]


def test_a_bug_is_not_passed_off_as_an_outage() -> None:
    class Broken(RememberingAgent):
        async def handle_message(self, message: UserMessage) -> None:
            raise RuntimeError("a bug, not an outage")

    reply = web_says(make_app(Broken()), "red trainers")
    assert reply.status_code == 500 and reply.json()["error"] != SHOP_SYSTEM_DOWN
    assert "Traceback" not in reply.text


# ---- the action server ---------------------------------------------------------------------------------


@pytest.fixture
def action_server() -> Iterator[ActionServer]:
    server = ActionServer().start()
    yield server
    server.stop()


def turn_errors(channel: str) -> float:
    return metrics.REGISTRY.get_sample_value("shopcue_turn_errors_total", {"channel": channel}) or 0.0


def test_the_action_server_down_gets_an_apology_and_answers_return_when_it_is_back(
        action_server: ActionServer) -> None:
    app = make_app(ActionAgent(action_server.url))
    assert web_says(app, "trainers").json()[0]["text"] == "Here are three trainers."

    errors_before = turn_errors("webchat"), turn_errors("rest")
    action_server.stop()
    web = web_says(app, "trainers")
    assert web.status_code == 200
    assert web.json() == [{"recipient_id": SHOPPER, "text": ACTIONS_DOWN}]
    phone = rest_says(app, "trainers")  # the REST shape, so the voice service reads it out
    assert phone.json() == [{"recipient_id": "call-fault-1", "text": ACTIONS_DOWN}]
    # The monitoring's error rate counts the apologised turns (ops/metrics.py).
    assert (turn_errors("webchat"), turn_errors("rest")) == (errors_before[0] + 1, errors_before[1] + 1)

    action_server.start()
    assert web_says(app, "trainers").json()[0]["text"] == "Here are three trainers."
    assert turn_errors("webchat") == errors_before[0] + 1


def test_a_hung_action_server_gets_the_apology_after_the_bounded_wait(action_server: ActionServer) -> None:
    app = make_app(ActionAgent(action_server.url))
    rasa_default = rasa_action.DEFAULT_REQUEST_TIMEOUT
    bound_action_wait(0.5)  # what SHOPCUE_ACTION_TIMEOUT_S sets; Rasa's own default is 300 s
    try:
        action_server.hang()
        reply = web_says(app, "trainers")
    finally:
        bound_action_wait(rasa_default)
    assert reply.json() == [{"recipient_id": SHOPPER, "text": ACTIONS_DOWN}]


def test_an_unreachable_action_server_is_one_log_line_and_a_bug_keeps_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    quiet_unreachable_actions()
    processor = logging.getLogger("rasa.core.processor")  # where Rasa logs a failed action call
    endpoint = EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook")
    tracker = DialogueStateTracker("web-log", [])
    with caplog.at_level(logging.ERROR, logger="rasa.core.processor"):
        try:
            asyncio.run(RemoteAction("action_search_products", endpoint).run(
                None, TemplatedNaturalLanguageGenerator({}), tracker, Domain.empty()))
        except Exception:
            processor.exception("Encountered an exception while running action 'action_search_products'.")
        try:
            raise KeyError("a bug in an action's answer")
        except KeyError:
            processor.exception("Encountered an exception while running action 'action_cart'.")
    unreachable, bug = [r for r in caplog.records if r.name == "rasa.core.processor"]
    assert unreachable.exc_info is None and "the action server is unreachable" in unreachable.getMessage()
    assert bug.exc_info is not None


def test_a_silent_turn_with_the_action_server_up_stays_silent(action_server: ActionServer) -> None:
    class Quiet(ActionAgent):
        async def handle_message(self, message: UserMessage) -> None:
            return None  # e.g. the policy chose to listen

    assert web_says(make_app(Quiet(action_server.url)), "hmm").json() == []


def test_a_conversation_held_by_a_person_stays_silent_even_with_the_action_server_down(
        monkeypatch: pytest.MonkeyPatch) -> None:
    status = [{"recipient_id": SHOPPER, "custom": {"type": "handoff_status", "state": "claimed"}}]

    async def held(*_args: Any) -> List[Dict[str, Any]]:
        return status

    monkeypatch.setattr("bot.channels.webchat.held_reply", held)
    app = make_app(ActionAgent(f"http://127.0.0.1:{free_port()}/webhook"))
    assert web_says(app, "are you there?").json() == status


def test_the_probe_asks_the_health_route_beside_the_webhook_at_most_once_per_ttl() -> None:
    asked: List[str] = []
    now = [100.0]

    async def check(url: str) -> bool:
        asked.append(url)
        return False

    probe = ActionServerProbe(check=check, ttl_s=2.0, clock=lambda: now[0])
    for _ in range(3):
        assert asyncio.run(probe.reachable("http://actions:5055/webhook")) is False
    now[0] += 2.5
    asyncio.run(probe.reachable("http://actions:5055/webhook"))
    assert asked == ["http://actions:5055/health"] * 2


@pytest.mark.parametrize(("url", "health"), [
    ("http://127.0.0.1:5055/webhook", "http://127.0.0.1:5055/health"),
    ("http://actions:5055/webhook/", "http://actions:5055/health"),
    ("https://shop.example/bot/webhook?x=1", "https://shop.example/bot/health"),
])
def test_health_url(url: str, health: str) -> None:
    assert health_url(url) == health


def test_the_action_timeout_setting_is_read_or_refused_clearly() -> None:
    assert action_timeout_s({}) == 20.0
    assert action_timeout_s({"SHOPCUE_ACTION_TIMEOUT_S": "7.5"}) == 7.5
    for bad in ("soon", "0", "-3"):
        with pytest.raises(ValueError, match="SHOPCUE_ACTION_TIMEOUT_S"):
            action_timeout_s({"SHOPCUE_ACTION_TIMEOUT_S": bad})


# ---- the catalog ----------------------------------------------------------------------------------------

# Counts to a billion: minutes of work unless the statement limit stops it.
SLOW_QUERY = text("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000) "
                  "SELECT count(*) FROM n")


@pytest.fixture
def catalog_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = tmp_path / "catalog.db"
    url = f"sqlite:///{path}"
    build_catalog(url, SMALL_CATALOG)
    monkeypatch.setenv("SHOPCUE_CATALOG_DB", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    reset_catalog_cache()
    yield url
    reset_catalog_cache()
    dispose_engine(url)


def test_a_slow_catalog_statement_is_stopped_and_the_next_one_runs(catalog_db: str) -> None:
    engine = get_engine(catalog_db)
    limit_statements(engine, 0.2)
    with pytest.raises(OperationalError) as raised, session_for(engine) as session:
        session.execute(SLOW_QUERY).scalar()
    assert is_statement_timeout(raised.value)
    with session_for(engine) as session:  # the connection is fine for the next query
        assert session.execute(text("SELECT count(*) FROM products")).scalar() == len(SMALL_CATALOG)


def test_other_database_errors_are_not_taken_for_a_timeout(catalog_db: str) -> None:
    with pytest.raises(OperationalError) as raised, session_for(get_engine(catalog_db)) as session:
        session.execute(text("SELECT * FROM no_such_table"))
    assert not is_statement_timeout(raised.value)


class SlowSearch(ShopAction):
    """An action whose catalog query is pathologically slow."""

    def name(self) -> str:
        return "action_slow_search"

    def act(self, dispatcher: CollectingDispatcher, turn: Turn) -> List[Dict[str, Any]]:
        turn.session.execute(SLOW_QUERY).scalar()
        dispatcher.utter_message(text="found it")
        return []


def test_a_slow_catalog_gets_the_slow_apology_not_silence(catalog_db: str, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "0.3")
    dispatcher = CollectingDispatcher()
    latest = {"text": "trainers", "intent": {"name": "search_product"}, "entities": []}
    tracker = Tracker("web-slow", {}, latest, [], False, None, {}, "")
    assert SlowSearch().run(dispatcher, tracker, {}) == []
    assert [m["text"] for m in dispatcher.messages] == [CATALOG_SLOW]


def test_the_catalog_timeout_setting_is_read_sanely() -> None:
    assert statement_timeout_s({}) == 5.0
    assert statement_timeout_s({TIMEOUT_ENV: "2.5"}) == 2.5
    assert statement_timeout_s({TIMEOUT_ENV: "0"}) == 0.0  # off
    assert statement_timeout_s({TIMEOUT_ENV: "soon"}) == 5.0  # a typo never stops the shop answering
