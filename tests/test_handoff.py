"""The handoff to people: opening hours maths, the queue (one claim wins), the action's truthful
replies, and the web chat's silence while an agent holds a conversation."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from zoneinfo import ZoneInfo

import pytest
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine

from actions.handoff_actions import ActionHandoff, handoff_reason, opening_note
from bot.channels.webchat import history_messages
from learning import db
from ops import handoff_channel, handoff_settings
from ops.handoff_hours import HoursError, describe_opening, parse_hours
from ops.handoff_store import (
    ASKED,
    CLAIMED,
    CLOSED,
    IDLE_TIMEOUT,
    LOW_CONFIDENCE,
    WAITING,
    HandoffConflictError,
    claim,
    close,
    held_by,
    latest_handoff,
    note_activity,
    open_handoff,
    open_queue,
    ready,
    release_idle,
    request_handoff,
)
from tests.test_webchat_channel import get, make_app, post, session_of

UTC_ZONE = ZoneInfo("UTC")
LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
WEEKDAYS = "mon-fri 09:00-18:00"


def at(text: str, zone: ZoneInfo = UTC_ZONE) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


# ---- opening hours -----------------------------------------------------------------------------


def test_weekday_hours_are_open_only_inside_the_window() -> None:
    hours = parse_hours(WEEKDAYS, UTC_ZONE)
    assert hours.is_open(at("2026-11-30T09:00"))  # a Monday, at opening
    assert hours.is_open(at("2026-11-30T17:59"))
    assert not hours.is_open(at("2026-11-30T18:00"))  # closing time is closed
    assert not hours.is_open(at("2026-11-30T08:59"))
    assert not hours.is_open(at("2026-11-29T12:00"))  # a Sunday


def test_the_weekend_waits_for_monday_morning() -> None:
    hours = parse_hours(WEEKDAYS, UTC_ZONE)
    friday_evening = at("2026-11-27T18:30")
    assert hours.next_opening(friday_evening) == at("2026-11-30T09:00")
    assert hours.next_opening(at("2026-11-28T10:00")) == at("2026-11-30T09:00")  # Saturday
    assert hours.next_opening(at("2026-11-30T07:00")) == at("2026-11-30T09:00")  # Monday, early
    assert hours.next_opening(at("2026-11-30T19:00")) == at("2026-12-01T09:00")  # Monday, late
    assert describe_opening(at("2026-11-30T09:00"), friday_evening) == "Monday at 09:00 (UTC)"
    assert describe_opening(at("2026-12-01T09:00"), at("2026-11-30T19:00")) == "tomorrow at 09:00 (UTC)"
    assert describe_opening(at("2026-11-30T09:00"), at("2026-11-30T07:00")) == "today at 09:00 (UTC)"


def test_hours_are_read_in_the_shops_time_zone() -> None:
    hours = parse_hours(WEEKDAYS, NEW_YORK)
    # 14:30 UTC on a winter Monday is 09:30 in New York (UTC-5): open; 13:30 UTC is 08:30: closed.
    assert hours.is_open(datetime(2026, 11, 30, 14, 30, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 11, 30, 13, 30, tzinfo=UTC))
    # In summer New York is UTC-4: 13:30 UTC is 09:30 there.
    assert hours.is_open(datetime(2026, 6, 1, 13, 30, tzinfo=UTC))
    # Friday 23:30 UTC is still Friday 18:30 in New York: the next opening is Monday 09:00 local.
    opening = hours.next_opening(datetime(2026, 11, 27, 23, 30, tzinfo=UTC))
    assert opening == at("2026-11-30T09:00", NEW_YORK)
    assert opening.astimezone(UTC) == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    # London is UTC+1 in summer (08:30 UTC is 09:30 there: open) and UTC+0 in winter (08:30: closed).
    london = parse_hours(WEEKDAYS, LONDON)
    assert london.is_open(datetime(2026, 6, 1, 8, 30, tzinfo=UTC))
    assert not london.is_open(datetime(2026, 11, 30, 8, 30, tzinfo=UTC))
    with pytest.raises(ValueError):
        london.is_open(datetime(2026, 11, 30, 8, 30))  # a naive time is a bug, not a guess


def test_several_windows_overnight_and_always() -> None:
    hours = parse_hours("mon-fri 09:00-18:00; sat 10:00-14:00", UTC_ZONE)
    assert hours.is_open(at("2026-11-28T11:00"))  # Saturday morning
    assert hours.next_opening(at("2026-11-28T15:00")) == at("2026-11-30T09:00")  # Saturday afternoon
    night = parse_hours("fri 22:00-02:00", UTC_ZONE)
    assert night.is_open(at("2026-11-27T23:00")) and night.is_open(at("2026-11-28T01:59"))
    assert not night.is_open(at("2026-11-28T02:00"))
    wrapped = parse_hours("sat-mon 10:00-11:00", UTC_ZONE)  # the days wrap around the week
    assert wrapped.is_open(at("2026-11-29T10:30")) and wrapped.is_open(at("2026-11-30T10:30"))
    assert not wrapped.is_open(at("2026-12-01T10:30"))
    always = parse_hours("always", UTC_ZONE)
    assert all(always.is_open(at(f"2026-11-{d}T{h:02d}:00")) for d in (28, 29, 30) for h in range(24))
    whole_day = parse_hours("mon-sun 00:00-24:00", UTC_ZONE)
    assert whole_day.is_open(at("2026-11-29T23:59"))


@pytest.mark.parametrize("text", ["", "weekdays 9-5", "mon-fri 09:00", "mon-fri 25:00-26:00",
                                  "mon-fri 09:00-09:00", "xyz 09:00-10:00", "mon-fri 09:60-10:00"])
def test_unreadable_hours_are_refused(text: str) -> None:
    with pytest.raises(HoursError):
        parse_hours(text, UTC_ZONE)


def test_settings_refuse_an_unknown_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(handoff_settings.TIMEZONE_ENV, "Mars/Olympus")
    with pytest.raises(ValueError, match="time zone"):
        handoff_settings.read_settings()
    monkeypatch.setenv(handoff_settings.TIMEZONE_ENV, "Europe/London")
    monkeypatch.setenv(handoff_settings.HOURS_ENV, "always")
    assert handoff_settings.read_settings().hours.is_open(datetime(2026, 11, 29, 3, 0, tzinfo=UTC))


def test_opening_note_is_none_while_open() -> None:
    hours = parse_hours(WEEKDAYS, UTC_ZONE)
    assert opening_note(hours, at("2026-11-30T10:00")) is None
    assert opening_note(hours, at("2026-11-29T10:00")) == "tomorrow at 09:00 (UTC)"


# ---- the queue ---------------------------------------------------------------------------------


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Any]:
    engine = create_engine(f"sqlite:///{tmp_path / 'handoff.db'}", connect_args={"timeout": 30})
    yield engine
    engine.dispose()


def test_a_conversation_is_queued_once_and_oldest_first(engine: Any) -> None:
    first, created = request_handoff(engine, "web-a", "webchat", ASKED, now=at("2026-11-30T10:00"))
    again, created_again = request_handoff(engine, "web-a", "webchat", LOW_CONFIDENCE)
    assert created and not created_again and again.id == first.id and again.reason == ASKED
    request_handoff(engine, "web-b", "webchat", LOW_CONFIDENCE, now=at("2026-11-30T09:00"))
    assert [h.sender_id for h in open_queue(engine)] == ["web-b", "web-a"]
    assert open_queue(engine)[0].to_json(at("2026-11-30T10:00"))["waited_s"] == 3600.0
    with pytest.raises(ValueError):
        request_handoff(engine, "web-c", "webchat", "bored")


def test_only_one_of_many_agents_claims(engine: Any) -> None:
    handoff, _ = request_handoff(engine, "web-a", "webchat", ASKED)
    winners: List[str] = []
    losers: List[str] = []
    start = threading.Barrier(8)

    def try_claim(name: str) -> None:
        start.wait()
        try:
            claim(engine, handoff.id, name)
            winners.append(name)
        except HandoffConflictError:
            losers.append(name)

    threads = [threading.Thread(target=try_claim, args=(f"agent{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(losers) == 7
    assert held_by(engine, "web-a") == winners[0]
    assert open_handoff(engine, "web-a").state == CLAIMED


def test_only_the_holder_hands_back_and_the_bot_is_free_again(engine: Any) -> None:
    handoff, _ = request_handoff(engine, "web-a", "webchat", ASKED)
    assert held_by(engine, "web-a") is None  # waiting: the bot still answers
    claim(engine, handoff.id, "alice")
    with pytest.raises(HandoffConflictError):
        close(engine, handoff.id, "bob")
    assert [h.id for h in open_queue(engine, agent="bob")] == []
    assert [h.id for h in open_queue(engine, agent="alice")] == [handoff.id]
    closed = close(engine, handoff.id, "alice")
    assert closed.state == CLOSED and closed.closed_at is not None
    assert held_by(engine, "web-a") is None and latest_handoff(engine, "web-a").state == CLOSED
    with pytest.raises(HandoffConflictError):
        claim(engine, handoff.id, "bob")  # closed stays closed
    again, created = request_handoff(engine, "web-a", "webchat", ASKED)  # a new request is a new entry
    assert created and again.id != handoff.id and again.state == WAITING
    forced = close(engine, claim(engine, again.id, "alice").id, "admin", force=True)
    assert forced.state == CLOSED


def test_a_conversation_its_agent_left_goes_back_to_the_bot(engine: Any) -> None:
    idle = 30 * 60
    held, _ = request_handoff(engine, "web-a", "webchat", ASKED, now=at("2026-11-30T10:00"))
    waiting, _ = request_handoff(engine, "web-b", "webchat", ASKED, now=at("2026-11-30T10:00"))
    claim(engine, held.id, "alice", now=at("2026-11-30T10:01"))
    assert held_by(engine, "web-a", idle, now=at("2026-11-30T10:30")) == "alice"
    note_activity(engine, "web-a", now=at("2026-11-30T10:25"))  # the shopper (or alice) wrote
    assert held_by(engine, "web-a", idle, now=at("2026-11-30T10:54")) == "alice"
    assert held_by(engine, "web-a", None, now=at("2026-11-30T23:00")) == "alice"  # no idle limit set
    listed = open_queue(engine, idle_s=idle, now=at("2026-11-30T10:54"))
    assert [h.id for h in listed] == [waiting.id, held.id]
    assert held_by(engine, "web-a", idle, now=at("2026-11-30T10:56")) is None  # 31 minutes of silence
    back = latest_handoff(engine, "web-a")
    assert back.state == CLOSED and back.closed_by == IDLE_TIMEOUT and back.to_json(at("2026-11-30T11:00"))[
        "closed_by"] == IDLE_TIMEOUT
    # The waiting one stays however long it waits: out of hours the shopper was told when someone answers.
    assert [h.id for h in open_queue(engine, idle_s=idle, now=at("2026-12-02T09:00"))] == [waiting.id]
    assert release_idle(engine, idle, now=at("2026-12-02T09:00")) == 0


def test_the_widget_sees_an_idle_conversation_handed_back(engine: Any) -> None:
    handoff, _ = request_handoff(engine, "web-a", "webchat", ASKED, now=at("2026-11-30T10:00"))
    claim(engine, handoff.id, "alice", now=at("2026-11-30T10:00"))
    assert latest_handoff(engine, "web-a", 600, now=at("2026-11-30T10:05")).state == CLAIMED
    assert latest_handoff(engine, "web-a", 600, now=at("2026-11-30T10:11")).state == CLOSED
    again, created = request_handoff(engine, "web-a", "webchat", ASKED)  # asking again queues anew
    assert created and again.state == WAITING


def test_a_database_from_before_idle_release_gets_the_column(tmp_path: Path) -> None:
    old = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with old.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE handoffs (id INTEGER PRIMARY KEY, sender_id VARCHAR(128) NOT NULL,"
            " channel VARCHAR(32) NOT NULL, state VARCHAR(16) NOT NULL, reason VARCHAR(32) NOT NULL,"
            " agent VARCHAR(64), created_at DATETIME NOT NULL, claimed_at DATETIME, closed_at DATETIME,"
            " closed_by VARCHAR(64))"
        )
        connection.exec_driver_sql(
            "INSERT INTO handoffs (sender_id, channel, state, reason, agent, created_at, claimed_at) VALUES"
            " ('web-old', 'webchat', 'claimed', 'asked', 'alice', '2026-11-30 09:00:00.000000',"
            " '2026-11-30 09:00:00.000000')"
        )
    ready(old)
    assert held_by(old, "web-old", 3600, now=at("2026-11-30T09:59")) == "alice"  # idle since the claim
    assert held_by(old, "web-old", 3600, now=at("2026-11-30T10:01")) is None
    old.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 1800.0), ("", 1800.0), ("45", 2700.0), ("0.5", 30.0), ("0", None), ("never", None)],
)
def test_idle_minutes_setting(value: Any, expected: Any) -> None:
    assert handoff_settings.read_idle_s(value) == expected


@pytest.mark.parametrize("value", ["soon", "-5", "nan", "inf"])
def test_an_unreadable_idle_setting_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="SHOPCUE_HANDOFF_IDLE_MINUTES"):
        handoff_settings.read_idle_s(value)


# ---- the action --------------------------------------------------------------------------------


@pytest.fixture()
def project_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv(db.DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'project.db'}")
    db.reset_engines()
    handoff_settings.handoff_settings.cache_clear()
    yield db.get_engine()
    db.reset_engines()
    handoff_settings.handoff_settings.cache_clear()


def run_handoff(channel: str, intent: str = "human_handoff", sender: str = "web-a") -> List[Dict[str, Any]]:
    message = {"text": "talk to a person", "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    events = [{"event": "user", "text": "talk to a person", "input_channel": channel, "parse_data": message}]
    tracker = Tracker(sender, {}, message, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    assert ActionHandoff().run(dispatcher, tracker, {}) == []
    return dispatcher.messages


def test_the_web_chat_is_queued_and_told_a_colleague_will_reply(
    project_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(handoff_settings.HOURS_ENV, "always")
    [reply] = run_handoff("webchat")
    assert "asked a colleague" in reply["text"] and "reply here" in reply["text"]
    assert reply["custom"]["type"] == "handoff" and reply["custom"]["state"] == WAITING
    assert open_handoff(project_db, "web-a").reason == ASKED
    [again] = run_handoff("webchat", intent="nlu_fallback")
    assert again["text"].startswith("Sorry, I'm still not getting it.") and "already asked" in again["text"]
    assert len(open_queue(project_db)) == 1
    [other] = run_handoff("webchat", intent="nlu_fallback", sender="web-b")
    assert open_handoff(project_db, "web-b").reason == LOW_CONFIDENCE and "asked a colleague" in other["text"]


def test_outside_opening_hours_the_shopper_is_told_when(
    project_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    closed_today = (now.weekday() + 3) % 7  # a day that is neither today nor tomorrow
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[closed_today]
    monkeypatch.setenv(handoff_settings.HOURS_ENV, f"{day} 09:00-18:00")
    [reply] = run_handoff("webchat")
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    assert "away right now" in reply["text"] and f"{names[closed_today]} at 09:00 (UTC)" in reply["text"]
    assert open_handoff(project_db, "web-a").state == WAITING  # queued for when they are back


def test_the_phone_is_put_through_not_queued(project_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(handoff_settings.HOURS_ENV, "always")
    [reply] = run_handoff("rest", sender="call-1")
    assert reply["text"] == "I'll put you through to a member of our team."
    assert reply["custom"] == {"type": "handoff"}
    assert open_handoff(project_db, "call-1") is None


def test_handoff_reason() -> None:
    assert handoff_reason({"intent": {"name": "nlu_fallback"}}) == LOW_CONFIDENCE
    assert handoff_reason({"intent": {"name": "human_handoff"}}) == ASKED
    assert handoff_reason({}) == ASKED


# ---- the web chat while an agent holds the conversation ---------------------------------------


class FakeRasaAgent:
    """What the channel uses of Rasa's Agent: a real in-memory tracker store and lock store, and a
    parser that records what it was asked (the dialogue policies are never touched)."""

    def __init__(self) -> None:
        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.lock_store = InMemoryLockStore()
        self.processor = None
        self.parsed: List[str] = []

    async def parse_message(self, text: str) -> Dict[str, Any]:
        self.parsed.append(text)
        return {"text": text, "intent": {"name": "search_product", "confidence": 0.9}, "entities": []}


def test_a_held_shoppers_message_is_stored_without_the_bot(project_db: Any) -> None:
    rasa_agent = FakeRasaAgent()
    assert asyncio.run(handoff_channel.held_reply(rasa_agent, "web-a", "hello", "webchat", None)) is None
    handoff, _ = request_handoff(project_db, "web-a", "webchat", ASKED)
    assert asyncio.run(handoff_channel.held_reply(rasa_agent, "web-a", "hello", "webchat", None)) is None
    claim(project_db, handoff.id, "alice")
    answer = asyncio.run(handoff_channel.held_reply(rasa_agent, "web-a", "blue ones?", "webchat", None))
    assert answer == [{"recipient_id": "web-a",
                       "custom": {"type": "handoff_status", "state": CLAIMED, "agent": "alice"}}]
    tracker = asyncio.run(rasa_agent.tracker_store.retrieve("web-a"))
    [event] = [e for e in tracker.events if isinstance(e, UserUttered)]
    assert event.text == "blue ones?" and event.intent["name"] == "search_product"
    assert event.input_channel == "webchat"
    assert not [e for e in tracker.events if isinstance(e, BotUttered)]
    assert rasa_agent.parsed == ["blue ones?"]
    close(project_db, handoff.id, "alice")
    assert asyncio.run(handoff_channel.held_reply(rasa_agent, "web-a", "hi", "webchat", None)) is None


def test_the_widget_gets_agent_messages_and_history_names_the_agent(project_db: Any) -> None:
    rasa_agent = FakeRasaAgent()
    tracker = asyncio.run(rasa_agent.tracker_store.get_or_create_tracker("web-a"))
    tracker.update(UserUttered("talk to a person"))
    tracker.update(BotUttered("I've asked a colleague", timestamp=100.0))
    tracker.update(BotUttered("Hi, I'm Alice", metadata={"agent": "alice"}, timestamp=101.0))
    tracker.update(BotUttered("Found them", metadata={"agent": "alice"}, timestamp=102.0))
    asyncio.run(rasa_agent.tracker_store.save(tracker))
    handoff, _ = request_handoff(project_db, "web-a", "webchat", ASKED)
    claim(project_db, handoff.id, "alice")
    update = asyncio.run(handoff_channel.updates(rasa_agent, "web-a", 0.0))
    assert update["state"] == CLAIMED and update["agent"] == "alice"
    assert [m["text"] for m in update["messages"]] == ["Hi, I'm Alice", "Found them"]
    assert update["latest"] == 102.0
    later = asyncio.run(handoff_channel.updates(rasa_agent, "web-a", 101.0))
    assert [m["text"] for m in later["messages"]] == ["Found them"]
    nobody = asyncio.run(handoff_channel.updates(rasa_agent, "web-z", 0.0))
    assert nobody["state"] == "none" and nobody["messages"] == []  # another shopper sees nothing
    shown = history_messages(list(tracker.events), "web-a")
    assert [(m.get("agent"), m.get("ts")) for m in shown if m["sender"] == "bot"] == [
        (None, None), ("alice", 101.0), ("alice", 102.0)]


@pytest.mark.parametrize("value, expected", [(None, 0.0), ("", 0.0), ("12.5", 12.5), ("-1", None),
                                             ("nan", None), ("inf", None), ("x", None)])
def test_parse_after(value: Any, expected: Any) -> None:
    assert handoff_channel.parse_after(value) == expected


# ---- the web chat routes in-process --------------------------------------------------------------


class ChatAgent(FakeRasaAgent):
    """Also answers like the bot, so a test can tell whether the bot ran."""

    def __init__(self) -> None:
        super().__init__()
        self.handled: List[str] = []

    async def handle_message(self, message: Any) -> None:
        self.handled.append(message.text)
        await message.output_channel.send_response(message.sender_id, {"text": "the bot answers"})


@pytest.fixture()
def chat(project_db: Any) -> Iterator[Tuple[Any, ChatAgent]]:
    from sanic import Sanic

    previous, Sanic.test_mode = Sanic.test_mode, True
    rasa_agent = ChatAgent()
    yield make_app(rasa_agent), rasa_agent
    Sanic.test_mode = previous


def test_the_webhook_stays_silent_only_while_an_agent_holds_the_conversation(
    chat: Tuple[Any, ChatAgent], project_db: Any
) -> None:
    app, rasa_agent = chat
    url = "/webhooks/webchat/webhook"
    web_a = session_of("web-a")
    assert post(app, url, {"message": "hi"}, session=web_a).json()[0]["text"] == "the bot answers"
    handoff, _ = request_handoff(project_db, "web-a", "webchat", ASKED)
    waiting = post(app, url, {"message": "still there?"}, session=web_a).json()
    assert waiting[0]["text"] == "the bot answers"  # waiting for a person: the bot still answers
    claim(project_db, handoff.id, "alice")
    held = post(app, url, {"message": "my number is 07700 900123"}, session=web_a).json()
    assert held == [{"recipient_id": "web-a", "custom": {"type": "handoff_status", "state": CLAIMED,
                                                         "agent": "alice"}}]
    assert rasa_agent.handled == ["hi", "still there?"]  # the bot never saw the held message
    assert "07700" not in rasa_agent.parsed[0]  # redacted before it is parsed or stored
    web_b = session_of("web-b")
    assert post(app, url, {"message": "hi"}, session=web_b).json()[0]["text"] == "the bot answers"
    close(project_db, handoff.id, "alice")
    assert post(app, url, {"message": "thanks"}, session=web_a).json()[0]["text"] == "the bot answers"


def test_the_updates_route_checks_what_the_client_sends(chat: Tuple[Any, ChatAgent]) -> None:
    app, _ = chat
    base = "/webhooks/webchat/updates"
    web_a = session_of("web-a")
    assert get(app, base, session=web_a).json()["state"] == "none"
    assert get(app, f"{base}?after=12.5", session=web_a).status_code == 200
    for query in ("?sender=", "?sender=web-a", "?after=nan", "?after=-3", "?after=inf"):
        assert get(app, f"{base}{query}", session=web_a).status_code == 400, query
    assert get(app, base).status_code == 401  # whose updates: only a session says
