"""Prometheus metrics of the bot's serving path: the one home of their names, labels and buckets.

The Rasa server process updates them (the channels, the NLU component, the conversation log broker) and
serves them on GET /metrics (bot/channels/metrics.py). Only `prometheus_client` is imported here, so the
NLU component can observe its latency without pulling anything else in.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Awaitable, Callable, Iterator, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

# Turn latency spans NLU, dialogue and the action server's search: 5 ms to 30 s.
TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
NLU_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
MAX_CHANNEL_CHARS = 32  # a label value; channel names are the server's own, never the client's

MESSAGES = Counter("shopcue_messages", "Shopper messages received, per channel.", ["channel"])
TURN_SECONDS = Histogram(
    "shopcue_turn_seconds", "Time from a shopper's message to the bot's last reply, per channel.",
    ["channel"], buckets=TURN_BUCKETS,
)
TURN_ERRORS = Counter(
    "shopcue_turn_errors", "Turns that failed (an exception, a time-out: a 5xx or an empty answer).",
    ["channel"],
)
NLU_SECONDS = Histogram(
    "shopcue_nlu_seconds", "Time the NLU component takes to parse one batch of messages.",
    buckets=NLU_BUCKETS,
)
FALLBACKS = Counter(
    "shopcue_fallbacks", "Turns the bot did not understand (nlu_fallback or a fallback action).", ["channel"]
)
HANDOFFS = Counter("shopcue_handoffs", "Turns that handed the shopper to a person.", ["channel"])
ZERO_RESULTS = Counter(
    "shopcue_zero_result_searches", "Product searches that found nothing, per channel.", ["channel"]
)

T = TypeVar("T")


def channel_label(channel: object) -> str:
    """A bounded label value for a channel name ("unknown" when there is none)."""
    text = str(channel or "").strip()[:MAX_CHANNEL_CHARS]
    return text or "unknown"


@contextmanager
def observe_turn(channel: str) -> Iterator[None]:
    """Count one shopper message and time its turn; a failure (even a cancellation) counts as an error."""
    label = channel_label(channel)
    MESSAGES.labels(label).inc()
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        TURN_ERRORS.labels(label).inc()
        raise
    finally:
        TURN_SECONDS.labels(label).observe(time.perf_counter() - start)


def observed_handler(channel: str, handler: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """`handler` (a channel's `on_new_message`) wrapped in `observe_turn`, for channels built by Rasa."""

    async def observed(*args: Any, **kwargs: Any) -> T:
        with observe_turn(channel):
            return await handler(*args, **kwargs)

    return observed


def count_turn_error(channel: str) -> None:
    """A turn that did not fail in the code but gave the shopper nothing from the bot (a system behind it
    was down and the channel apologised instead)."""
    TURN_ERRORS.labels(channel_label(channel)).inc()


@contextmanager
def observe_nlu() -> Iterator[None]:
    """Time one NLU parse call."""
    with NLU_SECONDS.time():
        yield


def count_fallback(channel: str) -> None:
    FALLBACKS.labels(channel_label(channel)).inc()


def count_handoff(channel: str) -> None:
    HANDOFFS.labels(channel_label(channel)).inc()


def count_zero_results(channel: str) -> None:
    ZERO_RESULTS.labels(channel_label(channel)).inc()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric of this process, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
