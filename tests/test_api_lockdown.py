"""The running bot's Rasa HTTP API, ops routes and action server refuse callers without their tokens
(issue 15, item 2), and the chat channels stay open to shoppers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, Optional, Tuple

import pytest

from bot.launcher import ACTION_TOKEN_HEADER, BotProcesses

pytestmark = pytest.mark.e2e


def call(method: str, url: str, payload: Optional[Dict[str, Any]] = None,
         headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_rasa_api_refuses_calls_without_the_token(bot: BotProcesses) -> None:
    assert bot.send("lockdown-shopper", "hi"), "the REST channel answers shoppers without any token"
    model_before = bot.api("GET", "/status")["model_file"]
    refused = [
        ("PUT", "/model", {"model_file": "/tmp/someone-elses-model.tar.gz"}),
        ("GET", "/conversations/lockdown-shopper/tracker", None),
        ("POST", "/conversations/lockdown-shopper/tracker/events", {"event": "bot", "text": "injected"}),
        ("POST", "/model/parse", {"text": "running shoes"}),
        ("GET", "/status", None),
        ("GET", "/domain", None),
    ]
    for method, path, payload in refused:
        for suffix in ("", "?token=wrong", f"?token={bot.api_token[:-1]}"):
            status, body = call(method, f"{bot.rasa_url}{path}{suffix}", payload)
            assert status in (401, 403), (method, path, suffix, status, body[:200])
    assert bot.api("GET", "/status")["model_file"] == model_before, "the model was not replaced"
    events = bot.api("GET", "/conversations/lockdown-shopper/tracker")["events"]
    assert not any(event.get("text") == "injected" for event in events), "no event was injected"


def test_the_rasa_api_answers_with_the_token(bot: BotProcesses) -> None:
    assert bot.send("lockdown-owner", "show me running shoes")
    tracker = bot.api("GET", "/conversations/lockdown-owner/tracker")
    assert any(event["event"] == "user" for event in tracker["events"])
    assert bot.parse("running shoes for my son")["intent"]["name"]
    status, _ = call("GET", bot.api_url("/domain"), headers={"Accept": "application/json"})
    assert status == 200
    # PUT /model with the token reaches Rasa's handler: a missing file is a 400 there, not a 401.
    status, body = call("PUT", bot.api_url("/model"), {"model_file": str(bot.log_dir / "no-such.tar.gz")})
    assert status == 400, body[:300]


def test_the_ops_routes_refuse_calls_without_the_token(bot: BotProcesses) -> None:
    """ops/serving.py: the Rasa process has the token, so even a local caller needs it."""
    status, _ = call("GET", f"{bot.rasa_url}/webhooks/ops/models")
    assert status == 401
    status, _ = call("POST", f"{bot.rasa_url}/webhooks/ops/models/live", {"model_id": "x"},
                     headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, body = call("GET", f"{bot.rasa_url}/webhooks/ops/models",
                        headers={"Authorization": f"Bearer {bot.api_token}"})
    assert status == 200 and json.loads(body)["live"], body[:300]


def test_the_action_server_answers_only_rasa(bot: BotProcesses) -> None:
    action_call = {"next_action": "action_search_products", "sender_id": "intruder", "version": "3.6.21",
                   "tracker": {"sender_id": "intruder", "slots": {}, "latest_message": {}, "events": []},
                   "domain": {}}
    status, _ = call("POST", f"{bot.actions_url}/webhook", action_call)
    assert status == 403
    status, _ = call("POST", f"{bot.actions_url}/webhook", action_call,
                     headers={ACTION_TOKEN_HEADER: "wrong"})
    assert status == 403
    status, _ = call("GET", f"{bot.actions_url}/actions")
    assert status == 403
    status, _ = call("GET", f"{bot.actions_url}/health")
    assert status == 200
    status, body = call("GET", f"{bot.actions_url}/actions", headers={ACTION_TOKEN_HEADER: bot.action_token})
    assert status == 200 and json.loads(body), body[:200]
    # Rasa itself sends the header: a search (a custom action) answers with product cards.
    replies = bot.send("lockdown-actions", "running shoes for men")
    cards = [reply for reply in replies
             if isinstance(reply.get("custom"), dict) and reply["custom"].get("type") == "product_cards"]
    assert cards and cards[0]["custom"]["products"], replies


def test_cross_origin_requests_get_no_cors_grant_unless_allowed(bot: BotProcesses) -> None:
    """The session bot allows local origins (a shop page on another port); any other origin gets no
    Access-Control-Allow-Origin, so a browser keeps its script from reading the answers."""
    request = urllib.request.Request(f"{bot.rasa_url}/version", headers={"Origin": "https://evil.example"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.headers.get("Access-Control-Allow-Origin") is None
    request = urllib.request.Request(f"{bot.rasa_url}/version", headers={"Origin": "http://127.0.0.1:8123"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.headers.get("Access-Control-Allow-Origin") == "http://127.0.0.1:8123"


def test_the_tokens_are_in_no_command_line_or_log(bot: BotProcesses) -> None:
    """`ps` shows every process's argv to every user: the tokens travel in the environment instead."""
    secrets_ = (bot.api_token.encode(), bot.action_token.encode())
    for process in bot._processes:
        with open(f"/proc/{process.pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read()
        assert not any(secret in argv for secret in secrets_), argv.replace(b"\0", b" ")[:300]
    for log in bot.log_dir.glob("*"):
        if log.is_file():
            assert not any(secret in log.read_bytes() for secret in secrets_), log
