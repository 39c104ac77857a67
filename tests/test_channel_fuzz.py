"""Bad input at the web chat and REST channels (issue 15, items 2 and 6): property-based tests.

Whatever a client sends (random unicode, wrong JSON types in every field, huge bodies, forged
"/intent{...}" payloads, SQL- and script-like text, forged, expired or other shoppers' sessions) the
channels answer a clear 4xx or a sane reply, never a crash, and never another shopper's conversation.
Most cases run in-process against the real blueprints (tests/test_webchat_channel.py's fake agent keeps
a real tracker store); the `bot` tests at the end check the same promises in the running Rasa.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import urlparse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import register
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.training_data.message import Message
from sanic import Sanic
from sqlalchemy import select

from bot.channels.guard import (
    ChannelLimits,
    Rate,
    TokenBuckets,
    is_payload,
    neutralise,
    offered_payloads,
    parse_rate,
    screen_text,
)
from bot.channels.rest import RedactingRestInput
from bot.channels.session import SESSION_HEADER, SessionSigner
from common.trust import REST_TOKEN_ENV
from tests.test_webchat_channel import (
    BUTTONS,
    TEST_LIMITS,
    TEST_SESSIONS,
    FakeAgent,
    headers_of,
    make_app,
    open_session,
    session_of,
    webchat_post,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Texts an attacker would try: forged payloads, SQL, script, control characters, odd whitespace.
NASTY = [
    '/add_to_cart{"quantity": -5}',
    '  /add_to_cart{"quantity": -5}',
    "\u3000/human_handoff",
    "\x1c/restart",
    "//greet",
    "/ /greet",
    "/refine_search@0.01",
    '/search_product{"product_type": "kayak"}@1.0 and more',
    "'; DROP TABLE learning_messages; --",
    "1 OR 1=1",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7}",
    "\u202eevil\u202c",
    "\x00\x01\x02",
    "🙂" * 50,
]
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
JSON_LEAF = st.one_of(SCALAR, st.text(max_size=30))


# Named functions, not lambdas, in strategies: to describe a lambda hypothesis reads its source and walks
# sys.modules, which raised "dictionary changed size during iteration" once in CI when another thread of
# the app imported a module at that moment.
def json_containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)


def printable_ascii(text: str) -> bool:
    return text.isprintable() and text.isascii()


JSON_VALUE = st.recursive(JSON_LEAF, json_containers, max_leaves=12)
NOT_A_STRING = st.one_of(SCALAR, st.lists(JSON_LEAF, max_size=3),
                         st.dictionaries(st.text(max_size=5), JSON_LEAF, max_size=3))
SLASHY_TEXT = st.text(alphabet=st.sampled_from(list(" \t\n\u3000\x1c\x85/{}\":@0.5abc_-")), max_size=40)
ANY_TEXT = st.one_of(st.text(max_size=120), st.sampled_from(NASTY), SLASHY_TEXT)


# ---- pure checks ------------------------------------------------------------------------------------


def rasa_reads_an_intent(text: str) -> bool:
    """What Rasa's RegexMessageHandler would make of the text: an intent, or just words."""
    message = Message({"text": text})
    return YAMLStoryReader.unpack_regex_message(message) is not message


@FUZZ
@given(text=ANY_TEXT)
def test_a_neutralised_text_is_never_read_as_an_intent(text: str) -> None:
    cleaned = neutralise(text)
    assert not is_payload(cleaned) and not rasa_reads_an_intent(cleaned)
    assert cleaned.strip() in text  # only leading whitespace and slashes go
    if not is_payload(text):
        assert cleaned == text


@FUZZ
@given(text=ANY_TEXT, offered=st.frozensets(st.sampled_from(["/refine_search", "/show_more", "/greet"])))
def test_only_an_offered_payload_reaches_rasa_as_an_intent(text: str, offered: frozenset) -> None:
    screened = screen_text(text, offered)
    if rasa_reads_an_intent(screened) or is_payload(screened):
        assert screened in offered
    if text.strip() in offered:
        assert screened == text.strip()


def test_the_offered_payloads_are_the_latest_bot_turns_buttons() -> None:
    from rasa.shared.core.events import BotUttered, UserUttered

    old = BotUttered("pick", data={"buttons": [{"title": "Old", "payload": "/old"}]})
    new = [BotUttered("found", data={"buttons": [{"title": "Cheaper", "payload": "/refine_search"}]}),
           BotUttered("", data={"custom": {"type": "product_cards"}}),
           BotUttered("more", data={"buttons": [{"payload": 3}, "junk", {"payload": "/show_more"}]})]
    assert offered_payloads([old, UserUttered("hi"), *new]) == {"/refine_search", "/show_more"}
    assert offered_payloads([*new, UserUttered("hi")]) == frozenset()
    assert offered_payloads([]) == frozenset()


@FUZZ
@given(session_id=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), data=st.data())
def test_a_session_changed_anywhere_is_refused(session_id: str, data: Any) -> None:
    session = TEST_SESSIONS.issue(session_id=session_id)
    assert TEST_SESSIONS.verify(session).sender == f"web-{session_id}"
    position = data.draw(st.integers(0, len(session) - 1))
    replacement = data.draw(st.characters(codec="ascii"))
    forged = session[:position] + replacement + session[position + 1:]
    if forged != session:
        check = TEST_SESSIONS.verify(forged)
        # a changed id or time with a still-valid signature is impossible without the secret
        assert check.sender is None and check.code == "session_invalid", forged


@FUZZ
@given(anything=st.one_of(st.text(max_size=200), NOT_A_STRING))
def test_a_made_up_session_opens_no_conversation(anything: Any) -> None:
    check = TEST_SESSIONS.verify(anything)
    assert check.sender is None and check.code in ("session_missing", "session_invalid")


def test_a_session_expires_and_another_secret_refuses_it() -> None:
    signer = SessionSigner("x" * 32, ttl_s=100)
    session = signer.issue(now=1_000, session_id="a")
    assert signer.verify(session, now=1_050).sender == "web-a"
    assert signer.verify(session, now=1_101).code == "session_expired"
    assert signer.verify(signer.issue(now=5_000, session_id="a"), now=1_000).code == "session_invalid"
    assert SessionSigner("y" * 32).verify(session, now=1_050).code == "session_invalid"
    assert "x" * 32 not in repr(signer)
    with pytest.raises(ValueError):
        SessionSigner("short")


@FUZZ
@given(gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60), burst=st.integers(1, 10),
       seconds=st.floats(0.5, 20))
def test_a_token_bucket_never_lets_more_through_than_its_rate(gaps: List[float], burst: int,
                                                             seconds: float) -> None:
    buckets, now, allowed = TokenBuckets(Rate(burst, seconds)), 0.0, []
    for gap in gaps:
        now += gap
        wait = buckets.take("k", now)
        assert wait >= 0
        if wait == 0:
            allowed.append(now)
    if allowed:
        assert len(allowed) <= burst + (allowed[-1] - allowed[0]) * burst / seconds + 1e-6


def test_rates_parse_or_are_refused() -> None:
    assert parse_rate("20/10") == Rate(20, 10.0) and parse_rate("off") is None
    for bad in ("x", "0/5", "5/0", "-1/3", "5/inf"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    buckets = TokenBuckets(Rate(1, 1), max_keys=3)
    for key in "abcd":
        buckets.take(key, 0.0)
    assert len(buckets._buckets) == 3  # the least recently used key went


def test_the_secret_file_is_made_once_private_and_reused(tmp_path: Any, monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from bot.channels.session import SECRET_ENV, load_secret

    monkeypatch.delenv(SECRET_ENV, raising=False)
    path = tmp_path / "webchat" / "secret"
    first = load_secret(path)
    assert len(first) >= 32 and path.stat().st_mode & 0o777 == 0o600
    assert (path.parent / ".gitignore").read_text().splitlines()[-1] == "*"
    assert load_secret(path) == first  # a restart keeps every session
    monkeypatch.setenv(SECRET_ENV, "configured secret of some length")
    assert load_secret(path) == b"configured secret of some length"


# ---- the channels over HTTP, in-process -------------------------------------------------------------


@pytest.fixture(scope="module")
def channels() -> Iterator[Tuple[Sanic, FakeAgent]]:
    """One app with both channels (as bot/credentials.yml has them) and a recording agent."""
    previous, Sanic.test_mode = Sanic.test_mode, True
    agent = FakeAgent()
    app = make_app(agent)
    register([RedactingRestInput(limits=TEST_LIMITS)], app, route="/webhooks/")
    yield app, agent
    Sanic.test_mode = previous


def call(app: Sanic, method: str, url: str, client_ip: str = "127.0.0.1", **kwargs: Any) -> httpx.Response:
    async def main() -> httpx.Response:
        if not getattr(app.ctx, "started", False):
            await app._startup()
            app.ctx.started = True
        transport = httpx.ASGITransport(app=app, client=(client_ip, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(main())


def assert_clear_refusal(reply: httpx.Response, *statuses: int) -> None:
    assert reply.status_code in statuses, (reply.status_code, reply.text[:200])
    assert isinstance(reply.json().get("error"), str) and reply.json()["error"]


WEB = "/webhooks/webchat/webhook"
REST = "/webhooks/rest/webhook"
FUZZ_SHOPPER = session_of("web-fuzz")


@FUZZ
@given(body=JSON_VALUE)
def test_any_json_at_the_web_chat_gets_a_reply_or_a_clear_400(channels: Tuple[Sanic, FakeAgent], body: Any
                                                             ) -> None:
    app, agent = channels
    before = len(agent.received)
    reply = call(app, "POST", WEB, json=body, headers=headers_of(FUZZ_SHOPPER))
    if reply.status_code == 200:
        [message] = agent.received[before:]
        assert message.sender_id == "web-fuzz"
        assert not is_payload(message.text) or message.text in {b["payload"] for b in BUTTONS}
    else:
        assert_clear_refusal(reply, 400)
        assert len(agent.received) == before


@FUZZ
@given(field=st.sampled_from(["message", "metadata", "sender"]), value=NOT_A_STRING)
def test_a_wrong_type_in_any_field_is_a_400(channels: Tuple[Sanic, FakeAgent], field: str, value: Any
                                            ) -> None:
    app, agent = channels
    before = len(agent.received)
    body: Dict[str, Any] = {"message": "red trainers", field: value}
    if field == "metadata" and (value is None or isinstance(value, dict)):
        return  # an absent or object metadata is allowed
    web = call(app, "POST", WEB, json=body, headers=headers_of(FUZZ_SHOPPER))
    assert_clear_refusal(web, 400)
    rest_body = {"sender": "call-fuzz", "message": "red trainers", field: value}
    if field == "metadata":
        assert call(app, "POST", REST, json=rest_body).status_code == 200  # REST drops metadata
    else:
        assert_clear_refusal(call(app, "POST", REST, json=rest_body), 400)
    assert len(agent.received) == before + (1 if field == "metadata" else 0)


@FUZZ
@given(text=ANY_TEXT)
def test_any_text_reaches_rasa_as_words_unless_it_is_an_offered_button(channels: Tuple[Sanic, FakeAgent],
                                                                       text: str) -> None:
    app, agent = channels
    for url, body, headers in ((WEB, {"message": text}, headers_of(FUZZ_SHOPPER)),
                               (REST, {"sender": "call-fuzz", "message": text}, {})):
        before = len(agent.received)
        reply = call(app, "POST", url, json=body, headers=headers)
        if reply.status_code != 200:
            assert_clear_refusal(reply, 400)  # empty, too long (web chat), or only slashes
            continue
        [message] = agent.received[before:]
        # the fake bot offers "/refine_search" in every turn: that payload, and only it, stays one
        assert not rasa_reads_an_intent(message.text) or message.text == "/refine_search", message.text
        assert isinstance(reply.json(), list)


@FEW
@given(raw=st.binary(max_size=300))
def test_any_bytes_are_a_clear_400(channels: Tuple[Sanic, FakeAgent], raw: bytes) -> None:
    app, _ = channels
    for url, headers in ((WEB, headers_of(FUZZ_SHOPPER)), (REST, {})):
        reply = call(app, "POST", url, content=raw, headers={**headers, "Content-Type": "application/json"})
        if reply.status_code != 200:
            assert_clear_refusal(reply, 400)


@FEW
@given(session=st.one_of(st.text(max_size=100).filter(printable_ascii),
                         st.sampled_from(["", "web-fuzz", "fuzz", FUZZ_SHOPPER + " ", FUZZ_SHOPPER[:-1]])),
       route=st.sampled_from(["history", "updates?after=0"]))
def test_a_forged_session_reads_nothing(channels: Tuple[Sanic, FakeAgent], session: str, route: str) -> None:
    app, _ = channels
    call(app, "POST", WEB, json={"message": "a present for my wife"}, headers=headers_of(FUZZ_SHOPPER))
    reply = call(app, "GET", f"/webhooks/webchat/{route}", headers={SESSION_HEADER: session})
    if TEST_SESSIONS.verify(session.strip()).sender is not None:
        return  # httpx strips header whitespace: that is the real session
    assert_clear_refusal(reply, 401)
    assert "present" not in reply.text
    written = call(app, "POST", WEB, json={"message": "hi"}, headers={SESSION_HEADER: session})
    assert_clear_refusal(written, 401)


def test_another_shoppers_history_is_refused_and_sender_fields_are_refused(channels: Tuple[Sanic, FakeAgent]
                                                                           ) -> None:
    app, agent = channels
    victim, attacker = session_of("web-victim"), session_of("web-attacker")
    call(app, "POST", WEB, json={"message": "my secret present"}, headers=headers_of(victim))
    assert "secret present" in call(app, "GET", "/webhooks/webchat/history", headers=headers_of(victim)).text
    for url, kwargs in (
        ("/webhooks/webchat/history?sender=web-victim", {"headers": headers_of(attacker)}),
        ("/webhooks/webchat/history?sender=web-victim", {}),
        ("/webhooks/webchat/history", {"headers": {SESSION_HEADER: "victim"}}),
        ("/webhooks/webchat/history", {"headers": {SESSION_HEADER: session_of("web-victim", now=0)}}),
    ):
        reply = call(app, "GET", url, **kwargs)
        assert reply.status_code in (400, 401, 403) and "secret" not in reply.text, (url, reply.text)
    before = len(agent.received)
    forged = call(app, "POST", WEB, json={"sender": "web-victim", "message": "hi"},
                  headers=headers_of(attacker))
    assert_clear_refusal(forged, 400)
    # REST is for trusted servers; even they cannot write into a web chat conversation
    assert_clear_refusal(call(app, "POST", REST, json={"sender": "web-victim", "message": "hi"}), 400)
    assert len(agent.received) == before


@pytest.mark.parametrize("url", [WEB, REST, "/webhooks/webchat/event", "/webhooks/webchat/session"])
def test_a_huge_body_is_refused_with_413(channels: Tuple[Sanic, FakeAgent], url: str) -> None:
    app, agent = channels
    before = len(agent.received)
    huge = json.dumps({"sender": "call-x", "message": "x" * (10 * 1024 * 1024)})
    reply = call(app, "POST", url, content=huge, headers={**headers_of(FUZZ_SHOPPER),
                                                            "Content-Type": "application/json"})
    assert_clear_refusal(reply, 413)
    assert len(agent.received) == before


def test_a_body_just_under_the_limit_is_read(channels: Tuple[Sanic, FakeAgent]) -> None:
    app, _ = channels
    body = json.dumps({"message": "red trainers", "metadata": {"pad": "x" * (60 * 1024)}})
    headers = {**headers_of(FUZZ_SHOPPER), "Content-Type": "application/json"}
    assert call(app, "POST", WEB, content=body, headers=headers).status_code == 200


def test_rest_answers_trusted_callers_only(channels: Tuple[Sanic, FakeAgent], monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    app, _ = channels
    body = {"sender": "call-trust", "message": "hi"}
    assert call(app, "POST", REST, json=body).status_code == 200  # loopback, no token configured
    assert_clear_refusal(call(app, "POST", REST, client_ip="203.0.113.7", json=body), 403)
    monkeypatch.setenv(REST_TOKEN_ENV, "a rest token")
    assert_clear_refusal(call(app, "POST", REST, json=body), 401)
    assert_clear_refusal(call(app, "POST", REST, json=body, headers={"Authorization": "Bearer nope"}), 401)
    token = {"Authorization": "Bearer a rest token"}
    assert call(app, "POST", REST, client_ip="203.0.113.7", json=body, headers=token).status_code == 200
    assert_clear_refusal(call(app, "POST", f"{REST}?stream=true", json=body, headers=token), 400)


def test_too_many_messages_get_429_with_retry_after() -> None:
    previous, Sanic.test_mode = Sanic.test_mode, True
    try:
        limits = ChannelLimits(rate=Rate(3, 30), ip_rate=Rate(5, 30))
        agent = FakeAgent()
        app = make_app(agent, limits=limits)
        register([RedactingRestInput(limits=limits)], app, route="/webhooks/")
        one, two = session_of("web-rate-1"), session_of("web-rate-2")
        codes = [call(app, "POST", WEB, json={"message": "hi"}, headers=headers_of(one)).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]  # the conversation's burst is 3
        limited = call(app, "POST", WEB, json={"message": "hi"}, headers=headers_of(one))
        assert_clear_refusal(limited, 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        # another conversation from the same address: until the address's burst (5 passed) is spent
        codes = [call(app, "POST", WEB, json={"message": "hi"}, headers=headers_of(two)).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 429]
        # polling the history is its own budget; another address is not held up
        assert call(app, "GET", "/webhooks/webchat/history", headers=headers_of(one)).status_code == 200
        other = call(app, "POST", WEB, client_ip="198.51.100.2", json={"message": "hi"},
                     headers=headers_of(session_of("web-rate-3")))
        assert other.status_code == 200
        rest = [call(app, "POST", REST, json={"sender": "call-rate", "message": "hi"}).status_code
                for _ in range(4)]
        assert rest == [200, 200, 200, 429]
    finally:
        Sanic.test_mode = previous


# ---- in the running bot -----------------------------------------------------------------------------


def logged_rows(bot: Any, sender: str, count: int, timeout: float = 30.0) -> List[Dict[str, Any]]:
    """The learning log's rows of a conversation, once it holds `count` (it is written off the loop)."""
    from learning.db import get_engine, messages

    deadline = time.monotonic() + timeout
    while True:
        with get_engine(bot.database_url).connect() as connection:
            rows = [dict(r) for r in connection.execute(
                select(messages).where(messages.c.sender_id == sender).order_by(messages.c.id)).mappings()]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


FORGED = '/add_to_cart{"quantity": -5}'


def assert_read_as_words(row: Dict[str, Any]) -> None:
    """The forged payload reached the NLU as the words "add_to_cart{...}": the model's parse (its own
    confidence and ranking, so a doubt above 0), never the forced one (add_to_cart at confidence 1 with a
    quantity of -5). The model may well read those words as add_to_cart: a shopper typing "add to cart"
    is read so too; what the client cannot do is set the intent, its confidence or its entities."""
    assert row["text"] == FORGED[1:]
    forced = row["intent"] == "add_to_cart" and row["intent_confidence"] == 1.0
    assert not forced and row["doubt"] > 0.0, row
    assert len(row["intent_ranking"] or []) > 1, row["intent_ranking"]
    # The forced parse's entity is the number -5 from the JSON; the model reading the typed "5" as a quantity
    # is a reading of words like any other: its values are always slices of the text.
    entities = row["entities"] or []
    assert all(isinstance(e.get("value"), str) and e["value"] in row["text"] for e in entities), entities


@pytest.mark.e2e
def test_a_forged_payload_is_answered_as_text_in_both_channels(bot: Any) -> None:
    session, web = open_session(bot.rasa_url)
    search = webchat_post(bot.rasa_url, session, "running shoes for men")
    offered = [b["payload"] for m in search.json() for b in m.get("buttons") or []]
    assert search.status_code == 200 and offered, "the search offered no buttons to compare with"
    # a button of the latest turn still works (only the latest: the widget shows no older ones)
    assert webchat_post(bot.rasa_url, session, offered[0]).status_code == 200
    assert webchat_post(bot.rasa_url, session, FORGED).status_code == 200
    rest = f"fuzz-rest-{uuid.uuid4().hex[:8]}"
    bot.send(rest, FORGED)

    search_row, button_row, forged_row = logged_rows(bot, web, 3)[:3]
    [rest_row] = logged_rows(bot, rest, 1)
    for row in (forged_row, rest_row):
        assert_read_as_words(row)
    # the control: the offered button is a payload, taken as it is (its intent at confidence 1)
    assert button_row["intent"] == offered[0][1:].split("{")[0] and button_row["intent_confidence"] == 1.0


@pytest.mark.e2e
def test_the_running_bot_refuses_foreign_reads_forged_sessions_and_huge_bodies(bot: Any) -> None:
    base = f"{bot.rasa_url}/webhooks/webchat"
    session, web = open_session(bot.rasa_url)
    assert webchat_post(bot.rasa_url, session, "a present for my wife").status_code == 200
    other, _ = open_session(bot.rasa_url)
    for params, headers in (({"sender": web}, headers_of(other)), ({"sender": web}, {}), ({}, {}),
                            ({}, {SESSION_HEADER: session[:-1] + ("A" if session[-1] != "A" else "B")})):
        reply = httpx.get(f"{base}/history", params=params, headers=headers, timeout=30)
        assert reply.status_code in (400, 401) and "present" not in reply.text, reply.text
    assert "present" not in httpx.get(f"{base}/history", headers=headers_of(other), timeout=30).text

    # 10 MB announced, a few bytes sent: refused from the header, without waiting for the rest.
    address = urlparse(bot.rasa_url)
    for path in ("/webhooks/webchat/webhook", "/webhooks/rest/webhook"):
        with socket.create_connection((address.hostname, address.port), timeout=30) as raw:
            head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
                    f"{SESSION_HEADER}: {session}\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n")
            raw.sendall((head + '{"message"').encode())
            started = time.monotonic()
            answer = raw.recv(4096).decode("latin-1")
            assert answer.startswith("HTTP/1.1 413"), answer[:200]
            assert time.monotonic() - started < 10
