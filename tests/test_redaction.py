"""Redaction at the door: personal data becomes typed placeholders, shopping words stay, channels store
only the redacted text.

The redactor is built once for the module (spaCy and the word lists: a few seconds). The `e2e` test at
the end posts through a running bot and reads back what its tracker store kept.
"""

from __future__ import annotations

import ast
import asyncio
import json
import socket
import time
import uuid
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Optional

import httpx
import pytest
import yaml
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from actions.request import read_request
from actions.vocabulary import build_vocabulary, load_synonyms
from bot.channels.rest import RedactingRestInput
from bot.channels.session import SESSION_HEADER
from bot.channels.webchat import WebChatInput
from common.limits import MAX_MESSAGE_CHARS
from common.placeholders import blank_placeholders
from learning.redaction import (
    PLACEHOLDERS,
    Redaction,
    build_redactor,
    default_redactor,
    luhn_ok,
    redact,
    spacy_model_path,
)
from nlu import PROJECT_ROOT
from nlu.tools.placeholder_forms import DEFAULT_OUT, attach, build
from nlu.tools.validate_data import load_examples, parse_annotated
from nlu.words import pre_tokenize
from tests.test_webchat_channel import (
    TEST_LIMITS,
    TEST_SESSIONS,
    headers_of,
    open_session,
    session_of,
    webchat_post,
)

BENCHMARK_SET = PROJECT_ROOT / "benchmarks" / "redaction_set.yml"


@pytest.fixture(scope="module", autouse=True)
def redactor() -> None:
    default_redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm Sarah, 07700 900123", "I'm <PERSON>, <PHONE>"),
        ("send it to 42 Elm St", "send it to <ADDRESS>"),
        ("my email is tom.h@gmail.com, any blue hoodies", "my email is <EMAIL>, any blue hoodies"),
        ("charge it to 4539 1488 0343 6467", "charge it to <CARD>"),
        ("call me at (555) 010-4477 about the sofa", "call me at <PHONE> about the sofa"),
        ("my number is +44 7700 900123", "my number is <PHONE>"),
        ("deliver to flat 3, 12 High Street please", "deliver to <ADDRESS> please"),
        ("my address is 221B Baker Street, London NW1 6XE", "my address is <ADDRESS>"),
        ("ship to 300 Main Street, Springfield, IL 62704", "ship to <ADDRESS>"),
        ("postcode is SW1A 1AA", "postcode is <ADDRESS>"),
        ("it's for emma, size 10 trainers please", "it's for <PERSON>, size 10 trainers please"),
        ("my name is John Smith and I need school shoes", "my name is <PERSON> and I need school shoes"),
        ("order for Mrs Elizabeth Taylor", "order for Mrs <PERSON>"),
        ("hi i'm dave looking for a blue hoodie", "hi i'm <PERSON> looking for a blue hoodie"),
        ("my passport number is 123456789", "my passport number is <ID>"),
        ("ssn 078-05-1120", "ssn <ID>"),
        ("amex 3782 822463 10005", "amex <CARD>"),
        ("my email is tom dot h at gmail dot com", "my email is <EMAIL>"),
    ],
)
def test_personal_data_in_shopping_messages_becomes_placeholders(text: str, expected: str) -> None:
    assert redact(text).text == expected


@pytest.mark.parametrize(
    "text",
    [
        "looking for Calvin Klein jeans for my son",
        "any Ralph Lauren polo in size 10.5",
        "Tommy Hilfiger hoodie under $50",
        "do you have Nike Air Max 270 in a UK 9",
        "iphone 15 pro case in black",
        "where is order 12345",
        "my order number is 100234789 and it's late",
        "Dr Martens 1460 boots size 6",
        "Hunter boots size 4 in green",
        "ps5 2tb console bundle",
        "Levi's 501 jeans W32 L34",
        "I'm looking for trainers under 80",
        "it's for my sister, she's 14",
        "blue hoodie in XL for £29.99",
        "2 packs of nappies size 4",
    ],
)
def test_shopping_words_stay(text: str) -> None:
    result = redact(text)
    assert result.text == text and result.counts == {}


def test_counts_say_what_was_replaced() -> None:
    result = redact("I'm Sarah Khan, 07700 900123 or 020 7946 0958, sarah.k@gmail.com")
    assert result.counts == {"PERSON": 1, "PHONE": 2, "EMAIL": 1}
    assert result.text == "I'm <PERSON>, <PHONE> or <PHONE>, <EMAIL>"
    assert [result.text.count(p) for p in ("<PERSON>", "<PHONE>", "<EMAIL>")] == [1, 2, 1]


def test_a_message_with_nothing_personal_is_returned_as_is() -> None:
    text = "a red dress for a wedding"
    result = redact(text)
    assert result == Redaction(text, {}, ()) and not result.changed


def _benchmark_texts() -> List[str]:
    data = yaml.safe_load(BENCHMARK_SET.read_text(encoding="utf-8"))
    return [m["text"] for split in ("messages", "heldout") for m in data[split]]


def test_redacting_redacted_text_changes_nothing() -> None:
    for text in _benchmark_texts():
        once = redact(text).text
        twice = redact(once)
        assert twice.text == once, text
        assert twice.counts == {}, (text, once, twice.counts)


def test_placeholders_alone_stay_as_they_are() -> None:
    text = " ".join(PLACEHOLDERS) + ", it's for <PERSON> at <ADDRESS>, call <PHONE>"
    assert redact(text).text == text


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_input(text: str) -> None:
    assert redact(text) == Redaction(text, {}, ())


def test_a_long_message_is_redacted_to_its_end() -> None:
    filler = "looking for a blue hoodie in a large, maybe Nike or Adidas. "
    text = filler * 80 + "I'm Sarah, 07700 900123" + " thanks" * 200
    assert len(text) > 5000
    started = time.perf_counter()
    result = redact(text)
    assert result.text.endswith("I'm <PERSON>, <PHONE>" + " thanks" * 200)
    assert result.counts == {"PERSON": 1, "PHONE": 1}
    assert time.perf_counter() - started < 10


def test_ten_thousand_characters_of_anything() -> None:
    text = ("x" * 9000) + " 4111 1111 1111 1111 " + ("y" * 980)
    result = redact(text)
    assert result.counts == {"CARD": 1} and "<CARD>" in result.text


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02 hello \x7f\x1b[31m red \x1b[0m",
        bytes(range(256)).decode("latin-1"),
        "\udcff\ud800 broken surrogates 07700 900123",
        "🙂🙂🙂 <<<>>> <PERSON <PERSON>> <> <<ID>>",
        "\u202e\u200b\ufeff 💳 4111 1111 1111 1111",
    ],
)
def test_binary_ish_input_does_not_raise(text: str) -> None:
    result = redact(text)
    assert isinstance(result.text, str)
    result.text.encode("utf-8")  # storable
    assert "07700 900123" not in result.text and "4111 1111 1111 1111" not in result.text


def test_luhn() -> None:
    assert luhn_ok("4539 1488 0343 6467") and luhn_ok("378282246310005")
    assert not luhn_ok("4539 1488 0343 6468") and not luhn_ok("1234")


def test_the_spacy_model_is_the_installed_package() -> None:
    path = spacy_model_path()
    assert path.is_dir() and (path / "config.cfg").is_file()
    assert "site-packages" in str(path) or "dist-packages" in str(path)


def test_no_network_is_tried_when_building_and_redacting(monkeypatch: pytest.MonkeyPatch) -> None:
    """tldextract (Presidio's email check) must read its bundled suffix list, not fetch one."""
    attempts: List[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = build_redactor()
    started = time.perf_counter()
    result = fresh.redact("my email is someone@example.co.uk and yours is a.b@shop.store")
    assert result.counts == {"EMAIL": 2}
    assert time.perf_counter() - started < 1.0
    assert attempts == []


def test_a_placeholder_is_one_word_for_the_joint_model() -> None:
    words = [w.text for w in pre_tokenize("I'm <PERSON>, send it to <ADDRESS>")]
    assert words == ["I", "'", "m", "<PERSON>", ",", "send", "it", "to", "<ADDRESS>"]


def test_placeholder_training_data_is_up_to_date() -> None:
    text, count = build()
    assert DEFAULT_OUT.read_text(encoding="utf-8") == text, "run `python -m nlu.tools.placeholder_forms`"
    assert 350 <= count <= 420  # every intent has forms (QUOTAS)


def test_placeholder_training_data_keeps_entity_spans_and_carries_placeholders() -> None:
    examples = load_examples(DEFAULT_OUT)
    assert all(any(p in ex.text for p in PLACEHOLDERS) for ex in examples)
    assert {p for ex in examples for p in PLACEHOLDERS if p in ex.text} == set(PLACEHOLDERS)
    for ex in examples:
        for entity in ex.entities:
            assert ex.text[entity.start : entity.end] == entity.value
            assert not any(p in entity.value for p in PLACEHOLDERS)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("I'm <PERSON>, ", "", "I'm <PERSON>, looking for [red](color) [Nike](brand) shoes"),
        ("", ", send it to <ADDRESS>", "Looking for [red](color) [Nike](brand) shoes, send it to <ADDRESS>"),
    ],
)
def test_a_phrase_is_added_outside_the_annotated_spans(before: str, after: str, expected: str) -> None:
    source = "Looking for [red](color) [Nike](brand) shoes"
    combined = attach(source, before, after)
    assert combined == expected
    _, source_entities, _ = parse_annotated(source)
    _, entities, problems = parse_annotated(combined)
    assert problems == []
    assert [(e.entity, e.value) for e in entities] == [(e.entity, e.value) for e in source_entities]


def test_a_question_gets_its_phrase_as_a_new_sentence() -> None:
    assert attach("any [hoodies](product_type)?", "", ", call me on <PHONE>") == (
        "any [hoodies](product_type)? call me on <PHONE>"
    )


def test_the_actions_do_not_read_a_placeholder_as_a_product_word() -> None:
    vocabulary = build_vocabulary(load_synonyms(), [("greeting card", "cards"), ("hoodie", "clothing")])
    text = "cheaper ones please, pay with <CARD>"
    message = {
        "text": text,
        "intent": {"name": "refine_search"},
        "entities": [{"entity": "price", "start": 0, "end": 7, "value": "cheaper"}],
    }
    assert read_request(message, vocabulary).product_type is None
    message["text"] = "cheaper cards please"  # the same words without the placeholder do name one
    assert read_request(message, vocabulary).product_type == "greeting card"
    assert blank_placeholders(text) == "cheaper ones please, pay with       "


# ----------------------------------------------------------------------------------------------------
# Channels


def _json_request(body: Dict[str, Any]) -> Any:
    return SimpleNamespace(json=body, args={})


def test_rest_channel_extracts_the_redacted_message_and_drops_metadata() -> None:
    channel = RedactingRestInput()
    request = _json_request(
        {
            "sender": "s1",
            "message": "I'm Sarah, ship the hoodie to 42 Elm St",
            "metadata": {"name": "Sarah Jones", "phone": "07700 900123"},
            "input_channel": "webchat",
        }
    )
    assert channel._extract_message(request) == "I'm <PERSON>, ship the hoodie to <ADDRESS>"
    assert channel.get_metadata(request) is None
    assert channel._extract_input_channel(request) == "rest"
    assert RedactingRestInput.name() == "rest"


def test_rest_channel_leaves_a_missing_message_to_rasa() -> None:
    assert RedactingRestInput()._extract_message(_json_request({"sender": "s1"})) is None


class RecordingAgent:
    """Keeps the UserMessage a channel hands over (what Rasa would store) and answers once."""

    def __init__(self) -> None:
        self.received: List[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        await message.output_channel.send_response(message.sender_id, {"text": "ok"})


@pytest.fixture
def sanic_test_mode() -> Iterator[None]:
    previous = Sanic.test_mode
    Sanic.test_mode = True
    yield
    Sanic.test_mode = previous


def _web_chat() -> WebChatInput:
    """The web chat channel signing sessions as tests/test_webchat_channel.py's `session_of` does."""
    return WebChatInput(sessions=TEST_SESSIONS, limits=TEST_LIMITS)


def _post(channel: Any, agent: RecordingAgent, url: str, body: Dict[str, Any], session: Optional[str] = None
          ) -> httpx.Response:
    app = Sanic(f"redaction_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")

    async def main() -> httpx.Response:
        await app._startup()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            return await client.post(url, json=body, headers={SESSION_HEADER: session} if session else {})

    return asyncio.run(main())


def test_rest_webhook_hands_rasa_the_redacted_text(sanic_test_mode: None) -> None:
    agent = RecordingAgent()
    message = "card 4111 1111 1111 1111, email me at jo@mail.com"
    body = {"sender": "s2", "message": message, "metadata": {"a": 1}}
    reply = _post(RedactingRestInput(), agent, "/webhooks/rest/webhook", body)
    assert reply.status_code == 200 and reply.json() == [{"recipient_id": "s2", "text": "ok"}]
    [message] = agent.received
    assert message.text == "card <CARD>, email me at <EMAIL>"
    # the client's metadata is dropped; the channel's own mark tells the log not to redact again
    assert message.metadata == {"shopcue_redacted": True} and message.input_channel == "rest"


def test_web_chat_webhook_hands_rasa_the_redacted_text(sanic_test_mode: None) -> None:
    agent = RecordingAgent()
    body = {"message": "it's for Emma, send it to 7 Willow Close, Leeds LS6 2AB"}
    reply = _post(_web_chat(), agent, "/webhooks/webchat/webhook", body, session_of("web-s3"))
    assert reply.status_code == 200
    assert [m.text for m in agent.received] == ["it's for <PERSON>, send it to <ADDRESS>"]


def test_web_chat_redacts_the_button_title_a_client_sends(sanic_test_mode: None) -> None:
    """The widget sends the clicked button's title as metadata; a forged one must not carry a number."""
    agent = RecordingAgent()
    body = {"message": "/show_more", "metadata": {"shopcue_display_text": "call Sarah on 07700 900123"}}
    reply = _post(_web_chat(), agent, "/webhooks/webchat/webhook", body, session_of("web-s4"))
    assert reply.status_code == 200
    [message] = agent.received
    assert message.metadata == {"shopcue_display_text": "call <PERSON> on <PHONE>", "shopcue_redacted": True}


def test_rest_channel_keeps_only_the_first_message_limit_of_a_huge_message() -> None:
    text = "red hoodie " + "x" * 20_000
    extracted = RedactingRestInput()._extract_message(_json_request({"sender": "s5", "message": text}))
    assert extracted == text[:MAX_MESSAGE_CHARS]


def test_credentials_open_the_redacting_rest_channel() -> None:
    credentials = yaml.safe_load((PROJECT_ROOT / "bot" / "credentials.yml").read_text(encoding="utf-8"))
    assert "bot.channels.rest.RedactingRestInput" in credentials and "rest" not in credentials


def test_voice_logs_never_carry_a_transcript() -> None:
    """The voice service posts transcripts to the REST webhook (redacted there); its own log lines must
    not carry the caller's words: no logging call in voice/ is passed a transcript or a text."""
    suspicious = ("text", "transcript", "utterance", "words", "reply", "said")
    offenders = []
    for path in sorted((PROJECT_ROOT / "voice").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in {"log_event", "debug", "info", "warning", "error", "exception", "critical", "log"}:
                continue
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                for inner in ast.walk(argument):
                    label = inner.attr if isinstance(inner, ast.Attribute) else getattr(inner, "id", "")
                    if any(word in str(label).lower() for word in suspicious):
                        offenders.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:80]}")
    assert offenders == []


# ----------------------------------------------------------------------------------------------------
# In a running bot


def _http(method: str, url: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url, timeout=120, **kwargs)


@pytest.mark.e2e
def test_running_bot_stores_only_redacted_text(bot: Any) -> None:
    """Through the REST and web chat webhooks of a running Rasa, the tracker store keeps placeholders."""
    rest_sender = f"redaction-rest-{uuid.uuid4().hex[:8]}"
    reply = _http(
        "POST",
        f"{bot.rasa_url}/webhooks/rest/webhook",
        json={"sender": rest_sender, "message": "I'm Sarah, 07700 900123, any blue hoodies?"},
    )
    assert reply.status_code == 200
    session, web_sender = open_session(bot.rasa_url)
    reply = webchat_post(bot.rasa_url, session, "send the red dress to 42 Elm St, tom.h@gmail.com")
    assert reply.status_code == 200
    # The web chat's history opens only with the conversation's session; the REST conversation is read
    # from Rasa's tracker API (with the API token when the launcher sets one).
    history = _http("GET", f"{bot.rasa_url}/webhooks/webchat/history", headers=headers_of(session)).json()
    stored = {web_sender: [m["text"] for m in history["messages"] if m["sender"] == "user"]}
    token = getattr(bot, "api_token", None)
    tracker = _http("GET", f"{bot.rasa_url}/conversations/{rest_sender}/tracker",
                    params={"token": token} if token else {}).json()
    stored[rest_sender] = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert stored[rest_sender] == ["I'm <PERSON>, <PHONE>, any blue hoodies?"], json.dumps(stored)
    assert stored[web_sender] == ["send the red dress to <ADDRESS>, <EMAIL>"], json.dumps(stored)


def test_benchmark_set_is_labelled_consistently() -> None:
    data = yaml.safe_load(BENCHMARK_SET.read_text(encoding="utf-8"))
    messages = data["messages"] + data["heldout"]
    assert len(data["messages"]) >= 220
    assert sum(1 for m in data["messages"] if not m["pii"]) >= 60
    for message in messages:
        for kind, pieces in message["pii"].items():
            assert f"<{kind}>" in PLACEHOLDERS, message
            assert all(str(piece) in message["text"] for piece in pieces), message
