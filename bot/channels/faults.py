"""How the channels answer when a system behind Rasa fails, so a shopper never gets silence, a fresh
conversation that forgot them, or a stack trace (issue 15, item 5).

- **Conversation store down** (tracker store, e.g. PostgreSQL): Rasa wraps it in a `FailSafeTrackerStore`
  that, left alone, starts a fresh tracker when a read fails (the search and cart are forgotten) and keeps
  a failed save in this process's memory. `stores_fail_loudly` sets its error callback to raise
  `ConversationStoreError` instead, so the turn stops before anything is lost or invented.
- **Lock store down** (Redis): Rasa raises `LockError` (or redis' own error) before the turn runs.
- Either way `failed_turn` answers 503 with `Retry-After` and the `SHOP_SYSTEM_DOWN` apology: the message
  was not handled, and the widget sends it again. The one exception: when only the lock's release failed,
  after the turn was answered and saved, the answer stands.
- **Action server down**: Rasa logs the failed action and carries on, so the shopper would get nothing.
  When a turn produced no message at all, `ActionServerProbe` asks the action server's `/health` (1 s,
  the result kept for 2 s); if it does not answer, the shopper gets the `ACTIONS_DOWN` apology in the
  channel's usual reply shape. The next message runs normally as soon as the server is back (nothing is
  remembered but the probe's 2 s).
- **Action server hung**: Rasa waits up to 5 minutes for an action (`DEFAULT_REQUEST_TIMEOUT` in
  `rasa.core.actions.action`, passed on every call; the action endpoint in endpoints.yml cannot carry a
  timeout). `bound_action_wait` lowers that module's value to SHOPCUE_ACTION_TIMEOUT_S (default 20 s), well
  under Rasa's 60 s conversation lock, so a hung server becomes the "action server down" case above.

Each failure is one structured log line (channel, sender id, which store, the error's type), never the
message text nor the error's own text (a database error can quote the statement's parameters); Rasa's
own line for an unreachable action server loses its traceback (`QuietUnreachableActions`).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from rasa.core.lock_store import LockError
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.exceptions import RasaException
from redis.exceptions import RedisError
from sanic import response
from sanic.response import HTTPResponse
from sqlalchemy.exc import InterfaceError, OperationalError

from bot.channels.apologies import ACTIONS_DOWN, SHOP_SYSTEM_DOWN
from ops.metrics import count_turn_error

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
UNAVAILABLE_CODE = "shop_system_unavailable"
TRACKER_STORE, LOCK_STORE, DATABASE = "tracker_store", "lock_store", "database"
PROBE_TIMEOUT_S = 1.0
PROBE_TTL_S = 2.0
ACTION_TIMEOUT_ENV = "SHOPCUE_ACTION_TIMEOUT_S"
DEFAULT_ACTION_TIMEOUT_S = 20.0


class ConversationStoreError(RuntimeError):
    """The tracker store failed; raised from Rasa's FailSafeTrackerStore instead of its fallback."""


def _raise_store_error(error: Exception) -> None:
    # FailSafeTrackerStore calls this inside its `except`: raising here sends the error up to the channel
    raise ConversationStoreError(type(error).__name__) from error


def fail_loudly(tracker_store: Any) -> None:
    """Make a (possibly nested) FailSafeTrackerStore raise on errors instead of falling back. An agent
    loaded beside the live one (ops/serving.py) wraps the live agent's FailSafeTrackerStore in another,
    so every layer gets the callback (an inner one left alone would swallow the error)."""
    store = tracker_store
    while isinstance(store, FailSafeTrackerStore):
        store._on_tracker_store_error = _raise_store_error  # the constructor's `on_tracker_store_error`
        store = store._tracker_store


def stores_fail_loudly(app: Any) -> None:
    """`fail_loudly` for the agents this app serves with: the live one and an A/B candidate. Called per
    request, since loading a model (ops/serving.py) makes a new agent."""
    from ops.serving import serving_state  # imported late, as ops/ab.py does

    state = serving_state(app)
    for agent in (getattr(app.ctx, "agent", None), getattr(state, "candidate", None)):
        fail_loudly(getattr(agent, "tracker_store", None))


def store_outage(error: BaseException) -> Optional[str]:
    """Which store `error` says is unreachable (TRACKER_STORE, LOCK_STORE, DATABASE), or None."""
    if isinstance(error, ConversationStoreError):
        return TRACKER_STORE
    if isinstance(error, (LockError, RedisError)):
        return LOCK_STORE
    if isinstance(error, (OperationalError, InterfaceError)):
        return DATABASE
    return None


def unavailable() -> HTTPResponse:
    """503 with Retry-After and the apology; the widget shows it and sends the message again."""
    return response.json(
        {"error": SHOP_SYSTEM_DOWN, "code": UNAVAILABLE_CODE, "retry_after": RETRY_AFTER_S},
        status=503, headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def failed_turn(channel: str, sender: str, error: BaseException, answered: List[Dict[str, Any]]
                ) -> Optional[HTTPResponse]:
    """The response for a turn that raised `error`, when a store outage explains it; None otherwise (the
    channel's own error answer). A lock store error after the bot answered can only be the lock's release
    (the turn ran under the lock and was saved): the answer stands."""
    store = store_outage(error)
    if store is None:
        return None
    cause = error
    while isinstance(cause, ConversationStoreError) and cause.__cause__ is not None:
        cause = cause.__cause__  # the store's own error, through nested FailSafeTrackerStores
    kept = store == LOCK_STORE and bool(answered)
    logger.warning("channel.store_down channel=%s sender=%s store=%s error=%s answered=%s",
                   channel, sender, store, type(cause).__name__, kept)
    return response.json(answered) if kept else unavailable()


# ---- the action server -----------------------------------------------------------------------------


def health_url(action_url: str) -> str:
    """The action server's /health beside its webhook (rasa_sdk serves both at the root)."""
    parts = urlsplit(action_url)
    path = parts.path.rstrip("/")
    if path.endswith("/webhook"):
        path = path[: -len("/webhook")]
    return urlunsplit((parts.scheme, parts.netloc, path + "/health", "", ""))


async def http_health(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether GET `url` answers below 500 within `timeout_s`."""
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as reply:
            return reply.status < 500
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


class ActionServerProbe:
    """Whether the action server answers, asked at most once per `ttl_s` per URL (a failing server is
    not asked by every waiting shopper)."""

    def __init__(self, check: Callable[[str], Awaitable[bool]] = http_health, ttl_s: float = PROBE_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.check = check
        self.ttl_s = ttl_s
        self.clock = clock
        self._known: Dict[str, Tuple[float, bool]] = {}

    async def reachable(self, action_url: str) -> bool:
        url = health_url(action_url)
        known = self._known.get(url)
        now = self.clock()
        if known is not None and now < known[0]:
            return known[1]
        up = await self.check(url)
        self._known[url] = (self.clock() + self.ttl_s, up)
        return up


async def answer_or_apology(rasa_agent: Any, probe: ActionServerProbe, channel: str, sender: str,
                            messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The turn's messages; when there are none and the action server does not answer, the apology
    instead (a turn can be silent on purpose, so silence alone proves nothing)."""
    endpoint = getattr(rasa_agent, "action_endpoint", None)
    url = getattr(endpoint, "url", None)
    if messages or not url or await probe.reachable(url):
        return messages
    logger.warning("channel.action_server_down channel=%s sender=%s", channel, sender)
    count_turn_error(channel)  # the monitoring's error rate sees the outage
    return [{"recipient_id": sender, "text": ACTIONS_DOWN}]


class QuietUnreachableActions(logging.Filter):
    """Rasa's processor logs each failed action call with its traceback (three chained ones for a refused
    connection). When the action server is unreachable or hung that is an outage, not a bug, and
    `answer_or_apology` logs it in one line: the record keeps its message, without the traceback. Other
    action failures (an error the action server answered with) keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        unreachable = isinstance(error, TimeoutError) or (
            isinstance(error, RasaException) and isinstance(error.__context__, aiohttp.ClientConnectionError))
        if unreachable:
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} ({type(error).__name__}: the action server is unreachable)"
        return True


_QUIET = QuietUnreachableActions()


def quiet_unreachable_actions() -> None:
    """Install `QuietUnreachableActions` on Rasa's processor logger (once)."""
    processor_logger = logging.getLogger("rasa.core.processor")
    if _QUIET not in processor_logger.filters:
        processor_logger.addFilter(_QUIET)


def action_timeout_s(environ: Optional[Dict[str, str]] = None) -> float:
    """SHOPCUE_ACTION_TIMEOUT_S (a positive number of seconds), else DEFAULT_ACTION_TIMEOUT_S."""
    raw = (environ if environ is not None else os.environ).get(ACTION_TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_ACTION_TIMEOUT_S
    except ValueError:
        raise ValueError(f"{ACTION_TIMEOUT_ENV} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{ACTION_TIMEOUT_ENV} must be above 0, not {raw!r}")
    return value


def bound_action_wait(seconds: Optional[float] = None) -> float:
    """Make Rasa give up on an action call after `seconds` (default `action_timeout_s()`) instead of 5
    minutes: `RemoteAction.run` reads `DEFAULT_REQUEST_TIMEOUT` from its module on every call."""
    import rasa.core.actions.action as rasa_action

    rasa_action.DEFAULT_REQUEST_TIMEOUT = seconds if seconds is not None else action_timeout_s()
    return rasa_action.DEFAULT_REQUEST_TIMEOUT


def prepare_action_calls() -> None:
    """What the channels set up in the Rasa server when they start: a bounded wait for the action server
    and one quiet log line when it cannot be reached."""
    bound_action_wait()
    quiet_unreachable_actions()
