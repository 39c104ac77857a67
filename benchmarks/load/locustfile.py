"""Locust shoppers for benchmarks/bench_load.py: each opens a web chat session the way the widget does, then
chats like a shopper, round after round: a search, a refinement, a comparison, an add to cart, each after
a think time.

Runs in the load generator's own environment (benchmarks/load/.venv), so it imports nothing of Shopcue;
the web chat's API is in bot/channels/webchat.py (POST /session, then POST /webhook with the
X-Shopcue-Session header). Every turn and session request is recorded raw (kind, start, seconds, error)
into the JSON file named by SHOPCUE_LOAD_RESULTS, with the time the last shopper had started, so
bench_load.py computes its figures over the steady part of the run with the project's one percentile.

    locust -f benchmarks/load/locustfile.py --headless -u 50 -r 10 -t 60s -H http://127.0.0.1:5005
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from typing import Any, Dict, List, Optional

from locust import FastHttpUser, events, task
from locust.env import Environment

SESSION_PATH = "/webhooks/webchat/session"
WEBHOOK_PATH = "/webhooks/webchat/webhook"
SESSION_HEADER = "X-Shopcue-Session"  # bot/channels/session.py SESSION_HEADER
RESULTS_ENV = "SHOPCUE_LOAD_RESULTS"
THINK_ENV = "SHOPCUE_LOAD_THINK"  # "MIN,MAX" seconds a shopper reads a reply before typing the next turn
TURN_TIMEOUT_S = 120.0

# What shoppers of the demo catalog ask, in the order a visit goes: (search, refinements).
SEARCHES = (
    ("running shoes for men", ("in blue please", "something cheaper", "under 80 dollars")),
    ("show me running shoes", ("in black", "something cheaper")),
    ("i need a blue t-shirt for my daughter", ("in size m", "something cheaper")),
    ("a wool scarf", ("in red", "under 40 dollars")),
    ("headphones under 100", ("something cheaper", "wireless ones")),
    ("a yoga mat", ("something cheaper", "in green")),
    ("I need a gift for my mum", ("a wool scarf", "something cheaper")),
)
COMPARES = ("compare the first two", "compare the first and the second", "which of the first two is better")
CART = ("add the first one to my cart", "add the second one to my cart")

_turns: List[Dict[str, Any]] = []
_sessions: List[Dict[str, Any]] = []
# (turn kind, reply shape) -> count: whether a search was answered with cards, a comparison with one, ...
_shapes: Counter = Counter()
_ramped_at: Optional[float] = None
_stopped_at: Optional[float] = None


def think_range() -> tuple:
    low, _, high = os.environ.get(THINK_ENV, "2,5").partition(",")
    return float(low), float(high or low)


def json_of(text: Optional[str]) -> Any:
    """The body as JSON, or None when it is not JSON (a proxy's HTML error page, a cut-off body)."""
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def reply_shape(messages: List[Dict[str, Any]]) -> str:
    """What a turn was answered with: the rich payload's type (product_cards, comparison, ...) or "text"."""
    messages = [message for message in messages if isinstance(message, dict)]
    for message in messages:
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("type"):
            return str(custom["type"])
    return "buttons" if any(message.get("buttons") for message in messages) else "text"


class Shopper(FastHttpUser):
    """One shopper: a session, then visits of four turns (search, refine, compare, cart) with think time."""

    def wait_time(self) -> float:
        low, high = think_range()
        return random.uniform(low, high)

    def on_start(self) -> None:
        self.session = ""
        with self.client.post(SESSION_PATH, name="session", catch_response=True) as response:
            body = json_of(response.text) if response.status_code == 200 else None
            if isinstance(body, dict) and body.get("session"):
                self.session = body["session"]
            else:
                response.failure("no session in the answer" if body is not None else
                                 f"HTTP {response.status_code}")

    def say(self, kind: str, text: str) -> None:
        if not self.session:
            self.on_start()
            if not self.session:
                return
        headers = {SESSION_HEADER: self.session}
        with self.client.post(WEBHOOK_PATH, json={"message": text}, headers=headers, name=f"turn {kind}",
                              catch_response=True, timeout=TURN_TIMEOUT_S) as response:
            messages = json_of(response.text) if response.status_code == 200 else None
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif not isinstance(messages, list):
                response.failure("not a list of messages")
            elif not messages:
                response.failure("no reply")  # the shopper sees silence
            else:
                _shapes[(kind, reply_shape(messages))] += 1

    @task
    def visit(self) -> None:
        search, refinements = random.choice(SEARCHES)
        self.say("search", search)
        self.wait()
        self.say("refine", random.choice(refinements))
        self.wait()
        self.say("compare", random.choice(COMPARES))
        self.wait()
        self.say("cart", random.choice(CART))


@events.request.add_listener
def record(request_type: str, name: str, response_time: float, response_length: int,
           exception: Optional[BaseException] = None, start_time: Optional[float] = None, **_: Any) -> None:
    row = {"start": start_time, "seconds": response_time / 1000.0,
           "error": None if exception is None else str(exception)[:120]}
    if name.startswith("turn "):
        _turns.append({"kind": name[5:], **row})
    elif name == "session":
        _sessions.append(row)


@events.spawning_complete.add_listener
def ramped(user_count: int, **_: Any) -> None:
    global _ramped_at
    _ramped_at = time.time()


@events.test_stop.add_listener
def stopped(**_: Any) -> None:
    global _stopped_at
    _stopped_at = time.time()


@events.quitting.add_listener
def save(environment: Environment, **_: Any) -> None:
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "w") as handle:
            shapes = [{"kind": kind, "shape": shape, "count": count}
                      for (kind, shape), count in _shapes.items()]
            json.dump({"ramped_at": _ramped_at, "stopped_at": _stopped_at or time.time(), "turns": _turns,
                       "sessions": _sessions, "shapes": shapes}, handle)
