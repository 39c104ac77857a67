"""The conversation log for learning: a Rasa event broker that keeps each shopper message with its parse
and the bot's replies, and stores the suggested labels the shopper's reactions give.

Configured in endpoints.yml (bot/launcher.py writes the same for `make run` and the tests):

    event_broker:
      type: learning.broker.ConversationLogBroker
      url: sqlite:////path/to/shopcue.db   # optional: learning.db.database_url() otherwise

Rasa calls `publish` on its event loop for every new tracker event. Nothing is written there: events go
onto a bounded queue and one background thread writes them, so a slow or broken database never slows or
breaks a reply (failures are logged, rate-limited, and the event is dropped). Per event type:

- `user`: one `learning_messages` row (text redacted again unless the channel did, parse, model id,
  doubt); a button payload ("/intent{...}") is stored with doubt 0 (labelled by construction) and the
  button's title as text when the web chat sent it (`shopcue_display_text`) and the bot offered that
  button. Then the
  reactions (learning/reactions.py) to the sender's earlier rows are stored as suggestions.
- `action`, `bot`: each reply is appended to the sender's latest row as {text, buttons?, custom_type?,
  product_ids?, action}, `action` being the action or response that said it.
- `slot`: `pending_offer` marks the last reply as a yes/no offer; `ranked_ids` set to [] by a search
  action means the search found nothing (a `zero_results` suggestion, with the `search_state` query).

Old rows are purged (learning/retention.py) when the first event arrives and then at most once a day.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Dict, List, Mapping, Optional, Tuple

from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.engine import Engine

from common.limits import MAX_MESSAGE_CHARS
from common.message_metadata import DISPLAY_TEXT_KEY, REDACTED_KEY
from learning import reactions, retention, store
from learning.db import AUTO, database_url, get_engine
from learning.doubt import doubt
from ops.handoff_view import AGENT_KEY
from ops.monitor_events import TurnCounter

logger = logging.getLogger(__name__)

MAX_QUEUE = 10_000
MAX_SENDERS = 10_000  # per-sender state kept in memory (the current action and search), least recent dropped
MAX_PRODUCT_IDS = 50
PURGE_INTERVAL_S = 24 * 3600
FAILURE_LOG_INTERVAL_S = 60.0
SESSION_START = "action_session_start"
_STOP = object()

_active: Optional[ConversationLogBroker] = None


def active_broker() -> Optional[ConversationLogBroker]:
    """The broker this process's Rasa server logs through, if it has one (the web chat's click route)."""
    return _active


@dataclass
class _Sender:
    message_id: Optional[int] = None
    action: Optional[str] = None
    query: Optional[Dict[str, Any]] = None


class ConversationLogBroker(EventBroker):
    """Writes shopper messages, replies and reactions to the learning tables, off the event loop."""

    def __init__(self, url: Optional[str] = None, retention_days: Optional[int] = None,
                 max_queue: int = MAX_QUEUE) -> None:
        global _active
        self.url = url or database_url()
        self.retention_days = retention_days
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self._senders: OrderedDict[str, _Sender] = OrderedDict()
        self._engine: Optional[Engine] = None
        self._last_purge = float("-inf")
        self._failures = 0
        self._last_failure_log = float("-inf")
        self._turns = TurnCounter()  # live metrics (GET /metrics): counters only, on the loop
        self._thread = threading.Thread(target=self._run, name="shopcue-conversation-log", daemon=True)
        self._thread.start()
        _active = self

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: Optional[asyncio.AbstractEventLoop] = None
    ) -> ConversationLogBroker:
        days = broker_config.kwargs.get("retention_days")
        return cls(url=broker_config.url or None, retention_days=int(days) if days else None)

    def publish(self, event: Dict[str, Any]) -> None:
        """Queue the event for the writer thread; never blocks, never raises."""
        self._turns.observe(event)
        self._put(("event", event))

    def record_card_click(self, sender_id: str, product_id: str) -> None:
        """Queue a web chat product-card click (validated by the channel) for the sender's latest results."""
        self._put(("card_click", {"sender_id": sender_id, "product_id": product_id}))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._queue.unfinished_tasks

    async def close(self) -> None:
        global _active
        self._put(_STOP)
        await asyncio.to_thread(self._thread.join, 10.0)
        if _active is self:
            _active = None

    def _put(self, item: Any) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._failed("queue_full", None, "the writer is behind; event dropped")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                kind, body = item
                self._maybe_purge()
                if kind == "card_click":
                    self._card_click(body["sender_id"], body["product_id"])
                else:
                    self._event(body)
            except Exception as error:  # a bad event or an unreachable database must not stop the log
                self._failed("write_failed", item, error)
            finally:
                self._queue.task_done()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = get_engine(self.url)
        return self._engine

    def _event(self, event: Mapping[str, Any]) -> None:
        sender_id = event.get("sender_id")
        if not isinstance(sender_id, str):
            return
        kind = event.get("event")
        if kind == "user":
            self._user(sender_id, event)
        elif kind == "action":
            self._sender(sender_id).action = event.get("name")
        elif kind == "bot":
            self._bot(sender_id, event)
        elif kind == "slot":
            self._slot(sender_id, event)

    def _user(self, sender_id: str, event: Mapping[str, Any]) -> None:
        raw = event.get("text")
        if not isinstance(raw, str) or not raw.strip():
            return
        previous = store.recent(self.engine, sender_id)
        values, button = message_row(sender_id, event, offered_buttons(previous[-1:]))
        message_id = store.insert_message(self.engine, values)
        self._senders.pop(sender_id, None)
        self._sender(sender_id).message_id = message_id
        new = reactions.LoggedMessage(
            id=message_id, sender_id=sender_id, text=values["text"], created_at=values["created_at"],
            intent=values["intent"], entities=values["entities"], attributes=values["attributes"],
            button=button,
        )
        store.save_suggestions(self.engine, reactions.reactions(previous, new))

    def _bot(self, sender_id: str, event: Mapping[str, Any]) -> None:
        state = self._sender(sender_id)
        message_id = self._message_id(sender_id)
        if message_id is None:
            return
        metadata = event.get("metadata") or {}
        action = metadata.get("utter_action") if isinstance(metadata, Mapping) else None
        store.append_reply(self.engine, message_id, reply_entry(event, action or state.action))

    def _slot(self, sender_id: str, event: Mapping[str, Any]) -> None:
        state = self._sender(sender_id)
        name, value = event.get("name"), event.get("value")
        if state.action == SESSION_START:
            return  # slots carried over into a new session say nothing about the latest message
        if name == "search_state":
            state.query = value if isinstance(value, dict) else None
            return
        message_id = self._message_id(sender_id)
        if message_id is None:
            return
        if name == "pending_offer" and isinstance(value, str) and value:
            store.mark_offer(self.engine, message_id, value)
        elif name == "ranked_ids" and value == [] and state.action == reactions.SEARCH_ACTION:
            message = store.load(self.engine, message_id)
            if message is not None:
                reply = message.replies[-1].get("text", "") if message.replies else ""
                store.save_suggestions(self.engine, [reactions.zero_results(message, state.query, reply)])

    def _card_click(self, sender_id: str, product_id: str) -> None:
        for message in reversed(store.recent(self.engine, sender_id, limit=10)):
            suggestion = reactions.card_click(message, product_id)
            if suggestion is not None:
                store.save_suggestions(self.engine, [suggestion])
                return

    def _sender(self, sender_id: str) -> _Sender:
        state = self._senders.get(sender_id)
        if state is None:
            state = self._senders[sender_id] = _Sender()
            while len(self._senders) > MAX_SENDERS:
                self._senders.popitem(last=False)
        self._senders.move_to_end(sender_id)
        return state

    def _message_id(self, sender_id: str) -> Optional[int]:
        """The sender's latest logged message (from the database after a restart)."""
        state = self._sender(sender_id)
        if state.message_id is None:
            state.message_id = store.latest_id(self.engine, sender_id)
        return state.message_id

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < PURGE_INTERVAL_S:
            return
        self._last_purge = now
        removed = retention.purge(self.engine, self.retention_days)
        if removed.messages:
            logger.info("learning.broker purged %d messages older than the retention period",
                        removed.messages)

    def _failed(self, what: str, item: Any, error: object) -> None:
        # Quiet: one warning a minute with the count since the last one; details at debug level.
        self._failures += 1
        logger.debug("learning.broker %s: %s (%r)", what, error, item, exc_info=isinstance(error, Exception))
        now = time.monotonic()
        if now - self._last_failure_log >= FAILURE_LOG_INTERVAL_S:
            logger.warning("learning.broker %s: %d event(s) not logged (last: %s)", what, self._failures,
                           type(error).__name__ if isinstance(error, Exception) else error)
            self._failures = 0
            self._last_failure_log = now


def offered_buttons(previous: List[reactions.LoggedMessage]) -> Dict[str, str]:
    """payload -> title of the quick replies the bot last offered (the widget shows only the latest)."""
    return {
        str(b.get("payload")): str(b.get("title"))
        for message in previous for reply in message.replies for b in reply.get("buttons") or ()
        if isinstance(b, Mapping)
    }


def message_row(sender_id: str, event: Mapping[str, Any], offered: Optional[Mapping[str, str]] = None
                ) -> Tuple[Dict[str, Any], bool]:
    """The `learning_messages` values of a `user` event, and whether a quick reply sent it.

    A payload ("/intent{...}") is labelled by construction: doubt 0, and the button's title (the web
    chat's `shopcue_display_text`) as its text, but only when the bot offered a button with that title and
    payload (`offered`): the client cannot put words of its choosing into such a row. A quick reply
    whose payload is plain words ("compare the first two") counts as a click too; the NLU read those
    words, so they stay the text and the parse keeps its doubt."""
    raw = str(event.get("text") or "")
    metadata = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
    parse = event.get("parse_data") if isinstance(event.get("parse_data"), Mapping) else {}
    payload = raw.startswith("/")
    display = metadata.get(DISPLAY_TEXT_KEY)
    titled = isinstance(display, str) and (offered or {}).get(raw) == display
    shown = display.strip()[:MAX_MESSAGE_CHARS] if titled and payload else raw
    # Redacted at the door (the channel's mark, server-set): a second redactor pass found nothing and cost
    # a spaCy run per message; a title the web chat sent was redacted there too.
    text, counts = (shown, {}) if metadata.get(REDACTED_KEY) is True else store.redact(shown)
    intent = parse.get("intent") if isinstance(parse.get("intent"), Mapping) else {}
    entities = [
        _entity(e, text, exact=(text == raw)) for e in parse.get("entities") or () if isinstance(e, Mapping)
    ]
    attributes = parse.get("attributes") if isinstance(parse.get("attributes"), Mapping) else {}
    timestamp = event.get("timestamp")
    created = datetime.fromtimestamp(float(timestamp), UTC) if timestamp else datetime.now(UTC)
    values = {
        "sender_id": sender_id[:128],
        "channel": str(event.get("input_channel") or "")[:32],
        "text": text,
        "text_key": store.text_key(text),
        "intent": str(intent.get("name") or "")[:64],
        "intent_confidence": float(intent.get("confidence") or 0.0),
        "intent_ranking": [
            {"name": r.get("name"), "confidence": r.get("confidence")}
            for r in parse.get("intent_ranking") or () if isinstance(r, Mapping)
        ],
        "entities": entities,
        "attributes": {str(k): dict(v) for k, v in attributes.items() if isinstance(v, Mapping)},
        "replies": [],
        "model_id": str(metadata.get("model_id") or "")[:64],
        "redactions": counts,
        "doubt": 0.0 if payload else doubt(parse),
        "created_at": created,
        "state": AUTO,
    }
    return values, payload or titled


def reply_entry(event: Mapping[str, Any], action: Optional[str]) -> Dict[str, Any]:
    """One bot reply as the log keeps it: text, buttons, the custom payload's type (and shown product ids).

    An agent's reply (a person typing in the console during a handoff) is redacted. The bot's own replies
    are kept as said: they are made of fixed wording, catalog facts and the shopper's words, which the
    channels redacted at the door, and a redactor pass over each (spaCy) was a third of the Rasa server's
    CPU under load for nothing found."""
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    metadata = event.get("metadata") if isinstance(event.get("metadata"), Mapping) else {}
    written_by_person = bool(metadata.get(AGENT_KEY))

    def kept(text: Any) -> str:
        return store.redact(str(text or ""))[0] if written_by_person else str(text or "")

    entry: Dict[str, Any] = {"text": kept(event.get("text"))}
    buttons: List[Dict[str, Any]] = [
        {"title": kept(b.get("title")), "payload": str(b.get("payload") or "")}
        for b in data.get("buttons") or () if isinstance(b, Mapping)
    ]
    if buttons:
        entry["buttons"] = buttons
    custom = data.get("custom")
    if isinstance(custom, Mapping) and custom.get("type"):
        entry["custom_type"] = str(custom["type"])
        if custom["type"] == reactions.CARDS:
            products = custom.get("products") or ()
            entry["product_ids"] = [
                str(p.get("id")) for p in products if isinstance(p, Mapping) and p.get("id")
            ][:MAX_PRODUCT_IDS]
    if action:
        entry["action"] = str(action)
    timestamp = event.get("timestamp")
    if isinstance(timestamp, (int, float)):
        entry["ts"] = float(timestamp)  # when it was said: turn latency = first reply ts - message time
    return entry


def _entity(entity: Mapping[str, Any], text: str, exact: bool) -> Dict[str, Any]:
    """An entity as logged; when the stored text is not what the model read (redacted here, or a
    button's title), its offsets are looked up again and dropped if its value is not in the text."""
    kept = {k: entity[k] for k in ("entity", "start", "end", "value", "confidence_entity", "role", "group",
                                   "extractor") if k in entity}
    if not exact:
        kept.pop("start", None)
        kept.pop("end", None)
        value = entity.get("value")
        if isinstance(value, str):
            kept["value"] = store.redact(value)[0]
            at = text.lower().find(kept["value"].lower())
            if at >= 0 and kept["value"]:
                kept.update(start=at, end=at + len(kept["value"]))
    return kept
