"""Two Rasa instances, each with its own action server, on PostgreSQL and the Redis lock store behind nginx
(deploy/cluster.py) serve 50 shoppers at once through the web chat: no errors, every turn answered, both
instances busy, each conversation on one instance, and in PostgreSQL every shopper's messages stored once
each, in the order sent, each followed by the bot's answer (issue 15, item 3).

Each shopper connects from its own loopback address (127.0.0.N), as shoppers on the internet come from
their own: nginx passes it on (X-Real-IP) and the channels' per-address rate limits, left at their
defaults, count each shopper apart.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.channels.session import SENDER_PREFIX, SESSION_HEADER
from deploy.cluster import Cluster
from deploy.load_balancer import read_access_log

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.services"]

SHOPPERS = 50
REST_TOKEN = "a test REST token of the scale-out test"
TURNS = ["running shoes for men", "under 100", "tell me about the first one", "add it to my cart in size 10"]
TURN_TIMEOUT_S = 120.0


@dataclass
class Shopper:
    """One simulated shopper: their address, session, and what each turn got back."""

    number: int
    sender: str = ""
    statuses: List[int] = field(default_factory=list)
    replies: List[List[dict]] = field(default_factory=list)
    error: str = ""

    @property
    def address(self) -> str:
        return f"127.0.0.{10 + self.number}"


@pytest.fixture(scope="module")
def cluster(trained_model: Path, postgres_url: str, redis_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster(model=trained_model, database_url=postgres_url, redis_url=redis_url, instances=2,
                 log_dir=tmp_path_factory.mktemp("cluster"), rest_token=REST_TOKEN) as running:
        yield running


def shop(base_url: str, shopper: Shopper, start: threading.Barrier) -> Shopper:
    """A new session, then every turn in order, each sent once its answer came back."""
    transport = httpx.HTTPTransport(local_address=shopper.address)
    with httpx.Client(transport=transport, base_url=base_url, timeout=TURN_TIMEOUT_S) as client:
        start.wait()
        try:
            session = client.post("/webhooks/webchat/session").json()["session"]
            shopper.sender = SENDER_PREFIX + session.split(".")[0]
            for turn in TURNS:
                reply = client.post("/webhooks/webchat/webhook", json={"message": turn},
                                    headers={SESSION_HEADER: session})
                shopper.statuses.append(reply.status_code)
                shopper.replies.append(reply.json() if reply.status_code == 200 else [])
        except (httpx.HTTPError, ValueError, KeyError) as error:
            shopper.error = f"{type(error).__name__}: {error}"
    return shopper


def rows(database_url: str, sql: str, **params: object) -> List[tuple]:
    engine = create_engine(database_url, future=True)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def stored_events(database_url: str, senders: List[str]) -> Dict[str, List[tuple]]:
    """(type_name, text) of each sender's events in Rasa's SQL tracker store, in stored order."""
    events: Dict[str, List[tuple]] = defaultdict(list)
    for sender, type_name, data in rows(database_url, "SELECT sender_id, type_name, data FROM events "
                                        "WHERE sender_id = ANY(:senders) ORDER BY id", senders=senders):
        events[sender].append((type_name, json.loads(data).get("text")))
    return events


def cart_lines(database_url: str) -> Dict[str, List[tuple]]:
    """(size, quantity) of each shopper's cart lines."""
    carts: Dict[str, List[tuple]] = defaultdict(list)
    for sender, size, quantity in rows(database_url, "SELECT sender_id, size, quantity FROM cart_lines "
                                       "ORDER BY id"):
        carts[sender].append((size, quantity))
    return dict(carts)


def test_two_instances_behind_nginx_serve_fifty_shoppers_without_losing_an_event(
        cluster: Cluster, postgres_url: str) -> None:
    start = threading.Barrier(SHOPPERS)
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=SHOPPERS) as pool:
        shoppers = list(pool.map(lambda n: shop(cluster.url, Shopper(n), start), range(SHOPPERS)))
    wall_s = time.monotonic() - began
    print(f"\n{SHOPPERS} shoppers x {len(TURNS)} turns through 2 instances: {wall_s:.1f} s")

    assert [s.error for s in shoppers if s.error] == []
    assert {status for s in shoppers for status in s.statuses} == {200}
    for shopper in shoppers:
        assert len(shopper.replies) == len(TURNS)
        for turn, replies in zip(TURNS, shopper.replies, strict=True):
            answered = any((r.get("text") or "").strip() or r.get("custom") for r in replies)
            assert answered, (shopper.sender, turn, replies)
        added = " ".join(r.get("text") or "" for r in shopper.replies[-1])
        assert "You have 1 item in your cart" in added, (shopper.sender, added)

    # nginx's log: both instances served conversations, and each conversation stayed on one of them.
    turns = [r for r in read_access_log(cluster.access_log) if r.uri == "/webhooks/webchat/webhook"]
    assert len(turns) == SHOPPERS * len(TURNS) and {r.status for r in turns} == {200}
    instances_by_session: Dict[str, set] = defaultdict(set)
    for record in turns:
        instances_by_session[record.session].add(record.upstream)
    assert all(len(instances) == 1 for instances in instances_by_session.values()), instances_by_session
    used = set().union(*instances_by_session.values())
    assert used == {f"{bot.host}:{bot.rasa_port}" for bot in cluster.bots}

    # PostgreSQL: each shopper's messages once each, in the order sent, each followed by the bot's answer.
    events = stored_events(postgres_url, [s.sender for s in shoppers])
    for shopper in shoppers:
        stored = events[shopper.sender]
        user_texts = [value for kind, value in stored if kind == "user"]
        assert user_texts == TURNS, (shopper.sender, user_texts)
        kinds = [kind for kind, _ in stored if kind in ("user", "bot")]
        answered = [kinds[i + 1] == "bot" if i + 1 < len(kinds) else False
                    for i, kind in enumerate(kinds) if kind == "user"]
        assert answered == [True] * len(TURNS), (shopper.sender, kinds)
    # ... and each shopper's cart (actions/cart_store.py, in the same database) holds their one shoe.
    carts = cart_lines(postgres_url)
    assert all(carts.get(s.sender) == [("10", 1)] for s in shoppers), carts


def test_a_noisy_address_is_throttled_without_slowing_others_behind_the_balancer(cluster: Cluster) -> None:
    """The per-address limit (120 requests per 10 s) counts the client address nginx passes on, not
    nginx's own, from which every request reaches Rasa."""

    def new_sessions(address: str, count: int) -> List[int]:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30) as client:
            return [client.post(f"{cluster.url}/webhooks/webchat/session").status_code for _ in range(count)]

    noisy = new_sessions("127.0.0.200", 250)
    assert noisy[:100] == [200] * 100 and 429 in noisy, noisy
    assert new_sessions("127.0.0.201", 1) == [200]


def test_rest_through_the_balancer_answers_only_callers_with_the_token(cluster: Cluster) -> None:
    """Behind nginx every caller looks like loopback to Rasa, so REST needs its token there."""
    body = {"sender": "scaleout-rest", "message": "running shoes"}
    url = f"{cluster.url}/webhooks/rest/webhook"
    assert httpx.post(url, json=body, timeout=60).status_code == 401
    answered = httpx.post(url, json=body, headers={"Authorization": f"Bearer {REST_TOKEN}"}, timeout=120)
    assert answered.status_code == 200 and answered.json(), answered.text


def test_a_conversation_moves_to_the_other_instance_when_its_own_is_killed(
        cluster: Cluster, postgres_url: str) -> None:
    """kill -9 the instance serving a shopper mid-conversation: nginx sends the next message to the other
    instance, which reads the conversation from PostgreSQL, so "add it" still means the shoe in view.
    (Last in this module: it leaves one instance down.)"""
    with httpx.Client(base_url=cluster.url, timeout=TURN_TIMEOUT_S) as client:
        session = client.post("/webhooks/webchat/session").json()["session"]
        sender = SENDER_PREFIX + session.split(".")[0]

        def say(text: str) -> List[dict]:
            reply = client.post("/webhooks/webchat/webhook", json={"message": text},
                                headers={SESSION_HEADER: session})
            assert reply.status_code == 200, (text, reply.status_code, reply.text)
            return reply.json()

        say("running shoes for men")
        say("tell me about the first one")
        session_id = session.split(".")[0]
        served = {r.upstream for r in read_access_log(cluster.access_log) if r.session == session_id}
        assert len(served) == 1, served
        [victim] = [bot for bot in cluster.bots if f"{bot.host}:{bot.rasa_port}" in served]
        victim.kill_rasa()

        before = len([r for r in read_access_log(cluster.access_log) if r.session == session_id])
        added = " ".join(r.get("text") or "" for r in say("add it to my cart in size 10"))
    assert "You have 1 item in your cart" in added, added
    # nginx writes a request's log line after the reply has gone out: wait for it rather than read the
    # previous message's line.
    deadline = time.monotonic() + 10
    while True:
        records = [r for r in read_access_log(cluster.access_log) if r.session == session_id]
        if len(records) > before or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    last = records[-1]
    assert last.upstream.split(",")[-1].strip() not in served, "the message went to the killed instance"
    user_texts = [value for kind, value in stored_events(postgres_url, [sender])[sender] if kind == "user"]
    assert user_texts == [
        "running shoes for men", "tell me about the first one", "add it to my cart in size 10"
    ]
    assert cart_lines(postgres_url).get(sender) == [("10", 1)]
