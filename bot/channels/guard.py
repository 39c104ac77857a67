"""What the web chat and REST channels check before a message reaches Rasa: slash payloads, body size,
request rates. Pure functions and a small in-memory token bucket; the channels call them.

Slash payloads. Rasa reads a message whose text, stripped of whitespace (`str.strip`), starts with "/"
as an intent with entities and a confidence of 1 (`YAMLStoryReader.unpack_regex_message`, run by
`RegexMessageHandler`), so "/add_to_cart{"quantity": -5}" would skip the NLU entirely. A client may send
such a text only when it is exactly the payload of a button the bot offered in the conversation's
latest bot turn (every `BotUttered` since the last `UserUttered`: the widget shows that turn's buttons).
Any other text has its leading whitespace and slashes removed (`neutralise`), the minimal change after
which Rasa reads it as words: "/add_to_cart{...}" is parsed as the text "add_to_cart{...}".

Limits (environment, read at start): SHOPCUE_CHANNEL_MAX_BODY bytes per request body (default 65536;
larger ones get 413, refused from the Content-Length header before the body is read),
SHOPCUE_CHANNEL_RATE messages per conversation and SHOPCUE_CHANNEL_IP_RATE per client IP, each
"N/S" = a burst of N, refilled at N per S seconds (defaults "20/10" and "120/10"; "off" turns one off).
Over a limit the answer is 429 with Retry-After.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, Optional, Tuple

from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.events import BotUttered, UserUttered
from sanic.exceptions import PayloadTooLarge

from common.limits import MAX_MESSAGE_CHARS, MAX_SENDER_CHARS

MAX_BODY_ENV = "SHOPCUE_CHANNEL_MAX_BODY"
RATE_ENV = "SHOPCUE_CHANNEL_RATE"
IP_RATE_ENV = "SHOPCUE_CHANNEL_IP_RATE"
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_RATE = "20/10"
DEFAULT_IP_RATE = "120/10"
# Buckets kept at most; the least recently used go first (a forgotten key starts with a full bucket).
MAX_BUCKETS = 50_000
# Sender ids end up in logs and tracker keys; keep them to a tame alphabet.
SENDER_PATTERN = re.compile(r"[A-Za-z0-9_.:@-]+")


# ---- fields -----------------------------------------------------------------------------------------


def validate_sender(sender: Any) -> Optional[str]:
    """The error text for a bad sender id, or None when it is usable."""
    if not isinstance(sender, str) or not sender.strip():
        return "sender must be a non-empty string"
    if len(sender) > MAX_SENDER_CHARS:
        return f"sender must be at most {MAX_SENDER_CHARS} characters"
    if not SENDER_PATTERN.fullmatch(sender):
        return "sender may only contain letters, digits and _ . : @ -"
    return None


def validate_message(message: Any, max_chars: Optional[int] = MAX_MESSAGE_CHARS) -> Optional[str]:
    """The error text for a bad message, or None when it is usable (`max_chars` None: any length)."""
    if not isinstance(message, str) or not message.strip():
        return "message must be a non-empty string"
    if max_chars is not None and len(message) > max_chars:
        return f"message must be at most {max_chars} characters"
    return None


# ---- slash payloads ---------------------------------------------------------------------------------


def is_payload(text: str) -> bool:
    """Whether Rasa would read `text` as an intent payload (the test `unpack_regex_message` makes)."""
    return text.strip().startswith(INTENT_MESSAGE_PREFIX)


def neutralise(text: str) -> str:
    """`text` without the leading whitespace and slashes that would make Rasa read it as a payload."""
    while is_payload(text):
        text = text.strip()[len(INTENT_MESSAGE_PREFIX):]
    return text


def offered_payloads(events: Iterable[Any]) -> FrozenSet[str]:
    """The button payloads of the latest bot turn: every bot utterance after the last user message."""
    offered: set = set()
    for event in events:
        if isinstance(event, UserUttered):
            offered = set()
        elif isinstance(event, BotUttered):
            for button in (event.data or {}).get("buttons") or []:
                payload = button.get("payload") if isinstance(button, dict) else None
                if isinstance(payload, str) and payload:
                    offered.add(payload.strip())
    return frozenset(offered)


def screen_text(text: str, offered: FrozenSet[str]) -> str:
    """The text Rasa may see: an offered button's payload as it is, any other slash text neutralised."""
    if not is_payload(text):
        return text
    if text.strip() in offered:
        return text.strip()
    return neutralise(text)


async def conversation_offers(rasa_agent: Any, sender: str) -> FrozenSet[str]:
    """The payloads the bot offered this conversation last (none without a tracker store or tracker)."""
    tracker_store = getattr(rasa_agent, "tracker_store", None)
    if tracker_store is None:
        return frozenset()
    tracker = await tracker_store.retrieve(sender)
    return offered_payloads(tracker.events) if tracker is not None else frozenset()


async def screened(rasa_agent: Any, sender: str, text: str, clean: Callable[[str], str]) -> str:
    """The text Rasa may parse, `clean`ed (redacted): an offered button's payload as it is, any other
    "/..." text with its leading slashes removed, so it is read as words. The tracker is read only for
    a text that looks like a payload."""
    if is_payload(text) and text.strip() in await conversation_offers(rasa_agent, sender):
        return clean(text.strip())
    return neutralise(clean(neutralise(text)))


# ---- bodies -----------------------------------------------------------------------------------------


def declared_length(headers: Any) -> Optional[int]:
    """The request's Content-Length, or None when absent or not a number."""
    value = headers.get("content-length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


async def read_body(request: Any, limit: int) -> Optional[bytes]:
    """The request body, or None when it is over `limit` bytes. For a streaming route (Sanic reads no
    body before the handler) a Content-Length over the limit is refused unread, and reading stops at
    the limit; Sanic then closes the connection rather than drain a huge body."""
    stream = getattr(request, "stream", None)
    if stream is not None and hasattr(stream, "request_max_size"):
        stream.request_max_size = limit  # the HTTP/1 reader raises PayloadTooLarge past it
    declared = declared_length(request.headers)
    if declared is not None and declared > limit:
        return None
    if request.body:  # already read (a route that is not streaming)
        return request.body if len(request.body) <= limit else None
    if stream is None:
        return b""
    chunks, size = [], 0
    try:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except PayloadTooLarge:
        return None
    return b"".join(chunks)


def json_object(body: bytes) -> Optional[Dict[str, Any]]:
    """The body as a JSON object, or None when it is not one (bad UTF-8 or JSON, too deep, a list...)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


# ---- rates ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A token bucket's shape: `burst` requests at once, refilled at `burst` per `seconds`."""

    burst: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.burst / self.seconds


def parse_rate(text: str) -> Optional[Rate]:
    """ "20/10" -> Rate(20, 10.0); "off" (or "0") -> None. Raises ValueError on anything else."""
    text = text.strip().lower()
    if text in ("off", "0", "none"):
        return None
    burst, _, seconds = text.partition("/")
    rate = Rate(int(burst), float(seconds or "1"))
    if rate.burst < 1 or not (0 < rate.seconds < math.inf):
        raise ValueError(f"a rate is N/S with N >= 1 and S > 0, not {text!r}")
    return rate


class TokenBuckets:
    """One token bucket per key (a conversation, a client IP), in memory, for one server process."""

    def __init__(self, rate: Optional[Rate], max_keys: int = MAX_BUCKETS) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, Tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: Optional[float] = None) -> float:
        """Spend one token: 0.0 when there was one, else the seconds until there will be."""
        if self.rate is None:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - last) * self.rate.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate.per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


@dataclass(frozen=True)
class ChannelLimits:
    """A channel's limits; `from_env` reads the documented variables."""

    max_body: int = DEFAULT_MAX_BODY
    rate: Optional[Rate] = parse_rate(DEFAULT_RATE)
    ip_rate: Optional[Rate] = parse_rate(DEFAULT_IP_RATE)

    @classmethod
    def from_env(cls) -> ChannelLimits:
        return cls(
            max_body=int(os.environ.get(MAX_BODY_ENV, str(DEFAULT_MAX_BODY))),
            rate=parse_rate(os.environ.get(RATE_ENV, DEFAULT_RATE)),
            ip_rate=parse_rate(os.environ.get(IP_RATE_ENV, DEFAULT_IP_RATE)),
        )


def retry_after(wait_s: float) -> str:
    """The Retry-After header's value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
