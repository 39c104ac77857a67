"""Web chat input channel: serves the shopper's chat page and widget from the bot itself.

Why a custom channel rather than Rasa's socket.io channel: the page needs three plain things (send a
message and get the bot's answers, reload the conversation, fetch static files) and all three are one
HTTP request each. A JSON request/response keeps the browser side free of a socket.io client library
(no npm, no build step), works through any proxy, and lets the history endpoint read the tracker store
so a reloaded page shows the conversation again. See web/README.md.

Routes, under /webhooks/webchat/ (all but the page, its files and /session need the
`X-Shopcue-Session` header: a session from POST /session, bot/channels/session.py):
  GET  /                      the chat page (web/index.html)
  GET  /<asset>               the widget's static files (JS, CSS, SVG) from web/
  POST /session               {"session", "expires_at"}: a new conversation's session
  POST /webhook               {"message", "metadata"?} -> list of bot messages
  GET  /history               {"sender", "messages": [...]} from the tracker's latest session
  GET  /updates?after=        the handoff's state and agents' messages since `after` (ops/handoff_channel.py)
  POST /event                 {"type": "card_click", "product_id"} -> 202: a shopper's click on a
                              product card, for the learning log (learning/broker.py) and the
                              conversation's `viewed_products` slot (see `record_view`)

Who the shopper is comes from the verified session only: a `sender` in a body or query is refused (400),
so a client that believes it picks its conversation learns at once that it does not. A missing,
malformed, forged or expired session gets 401 with `{"error", "code"}` (the widget then asks for a new
session). Bodies, rates and slash payloads are checked by bot/channels/guard.py (413, 429, and a
"/intent{...}" text that is no offered button is read as words).

When the conversation store or its lock is unreachable the webhook answers 503 with Retry-After and an
apology (the message was not handled: the widget sends it again); when the action server is down, an
apology instead of silence (bot/channels/faults.py).

No Content-Security-Policy header is sent (the page and widget are meant to be embedded in a shop's own
page, whose policy applies there). Product images on cards come from the catalog's http(s) `image_url`
(actions/payloads.py re-checks the scheme): a page that sets a CSP must allow them, e.g.
`img-src 'self' https: http:` (or the image host), alongside `connect-src` for this bot's URL.
"""

from __future__ import annotations

import logging
import re
from asyncio import CancelledError
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.viewed import VIEWED_PRODUCTS, remember_viewed  # pure: no Rasa SDK, no catalog
from bot.channels.faults import (
    ActionServerProbe,
    answer_or_apology,
    failed_turn,
    prepare_action_calls,
    store_outage,
    stores_fail_loudly,
    unavailable,
)
from bot.channels.guard import (
    ChannelLimits,
    TokenBuckets,
    json_object,
    read_body,
    retry_after,
    screened,
    validate_message,
)
from bot.channels.session import SESSION_HEADER, SessionSigner, load_secret
from common.limits import MAX_MESSAGE_CHARS
from common.message_metadata import DISPLAY_TEXT_KEY, REDACTED_KEY
from learning.redaction import redact  # personal data is replaced before anything stores it
from ops.ab import routed
from ops.handoff_channel import agent_of, held_reply, parse_after, updates
from ops.metrics import observe_turn

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

# Static files the channel will serve, by extension; anything else in web/ (README, sources) is not served.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

# The widget's input stops at the same length: the channel writes the number into the script it serves.
WIDGET_SCRIPT = "shopcue-widget.js"
MAX_CHARS_TOKEN = "__SHOPCUE_MAX_MESSAGE_CHARS__"
# The widget sends the button title here so a reload shows what the shopper clicked, not the payload.
# A reload shows at most this many messages of the latest session.
MAX_HISTORY_MESSAGES = 200
# Widget events the learning log takes (POST /event), and their limits: the client is trusted for
# nothing but which card of the results it showed was clicked; the log checks that it was shown.
WIDGET_EVENT_TYPES = frozenset({"card_click"})
PRODUCT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_EVENT_BYTES = 1024


CLIENT_SENDER = "sender is set by the server from the session (X-Shopcue-Session); do not send one"


def _error(status: int, message: str, code: str = "", headers: Optional[Dict[str, str]] = None
           ) -> HTTPResponse:
    body = {"error": message, **({"code": code} if code else {})}
    return response.json(body, status=status, headers=headers)


def validate_widget_event(body: Any) -> Optional[str]:
    """The error text for a bad widget event, or None when it is usable."""
    if not isinstance(body, dict):
        return "expected a JSON object with type and product_id"
    if "sender" in body:
        return CLIENT_SENDER
    if body.get("type") not in WIDGET_EVENT_TYPES:
        return "type must be one of: " + ", ".join(sorted(WIDGET_EVENT_TYPES))
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not PRODUCT_ID_PATTERN.fullmatch(product_id):
        return "product_id must be 1-32 letters, digits, _ or -"
    return None


def validate_chat_message(body: Any) -> Optional[str]:
    """The error text for a bad webhook body, or None when it is usable."""
    if not isinstance(body, dict):
        return "expected a JSON object with a message"
    if "sender" in body:
        return CLIENT_SENDER
    problem = validate_message(body.get("message"))
    if problem:
        return problem
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata must be an object"
    return None


async def record_view(rasa_agent: Any, sender: str, product_id: str) -> bool:
    """A clicked card's product joins the conversation's viewed products (actions/viewed.py), so "compare
    it with the ones I looked at before" counts it: a `SlotSet` appended to the tracker under the
    conversation's lock (the lock Rasa's own HTTP API and the handoff take), no bot turn run. False when
    there is no conversation to add it to (no agent yet, a new sender, a model whose domain lacks the
    slot). The id is only pattern-checked here; the actions re-check it against the catalog."""
    tracker_store = getattr(rasa_agent, "tracker_store", None)
    lock_store = getattr(rasa_agent, "lock_store", None)
    if tracker_store is None or lock_store is None:
        return False
    async with lock_store.lock(sender):
        tracker = await tracker_store.retrieve(sender)
        if tracker is None or VIEWED_PRODUCTS not in tracker.slots:
            return False
        viewed = remember_viewed(tracker.get_slot(VIEWED_PRODUCTS), [product_id])
        tracker.update(SlotSet(VIEWED_PRODUCTS, viewed))
        await tracker_store.save(tracker)
    return True


def bot_event_messages(event: BotUttered, recipient_id: str) -> List[Dict[str, Any]]:
    """A stored bot utterance in the same shape the webhook returned it (text/buttons, then custom).

    Mirrors `OutputChannel.send_response`, which splits one utterance into a text message and a
    separate custom message, so the widget renders live and reloaded conversations identically.
    """
    data = event.data or {}
    messages: List[Dict[str, Any]] = []
    if data.get("buttons"):
        messages.append({"recipient_id": recipient_id, "text": event.text or "", "buttons": data["buttons"]})
    elif event.text:
        # CollectingOutputChannel.send_text_message sends each blank-line-separated part on its own.
        for part in event.text.strip().split("\n\n"):
            messages.append({"recipient_id": recipient_id, "text": part})
    if data.get("custom"):
        messages.append({"recipient_id": recipient_id, "custom": data["custom"]})
    if data.get("image"):
        messages.append({"recipient_id": recipient_id, "image": data["image"]})
    return messages


def history_messages(events: List[Any], sender: str) -> List[Dict[str, Any]]:
    """The shopper-visible part of a tracker: user texts and bot messages, oldest first."""
    messages: List[Dict[str, Any]] = []
    for event in events:
        if isinstance(event, UserUttered):
            if not event.text:
                continue
            shown = (event.metadata or {}).get(DISPLAY_TEXT_KEY)
            text = shown if isinstance(shown, str) and shown.strip() else event.text
            messages.append({"sender": "user", "text": text})
        elif isinstance(event, BotUttered):
            # A person wrote it (handoff): their name, and the time the widget's /updates poll goes on from.
            agent = {"agent": agent_of(event), "ts": event.timestamp} if agent_of(event) else {}
            for message in bot_event_messages(event, sender):
                messages.append({"sender": "bot", **message, **agent})
    return messages[-MAX_HISTORY_MESSAGES:]


def static_asset(name: str) -> Optional[Path]:
    """The file in web/ that `name` refers to, if it is one the channel serves."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = WEB_DIR / name
    if path.suffix not in CONTENT_TYPES or not path.is_file():
        return None
    return path


class WebChatInput(InputChannel):
    """The shopper web chat: sessions, a JSON message endpoint, history, handoff updates and the page."""

    def __init__(self, sessions: Optional[SessionSigner] = None, limits: Optional[ChannelLimits] = None,
                 probe: Optional[ActionServerProbe] = None) -> None:
        # Tests pass their own; the server reads the secret (bot/channels/session.py) and the limits
        # (bot/channels/guard.py) when the blueprint is built.
        self.sessions = sessions
        self.limits = limits
        self.probe = probe or ActionServerProbe()  # is the action server up? (bot/channels/faults.py)

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> WebChatInput:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        on_new_message = routed(on_new_message)  # to the agent of the shopper's A/B arm (ops/ab.py)
        prepare_action_calls()  # a hung action server costs SHOPCUE_ACTION_TIMEOUT_S, not 5 minutes
        sessions = self.sessions or SessionSigner(load_secret())
        limits = self.limits or ChannelLimits.from_env()
        # Messages, events and new sessions spend from one pair of buckets; the history and the handoff
        # poll (every 2 s while waiting) from another, so polling never eats a shopper's messages.
        sends = (TokenBuckets(limits.rate), TokenBuckets(limits.ip_rate))
        reads = (TokenBuckets(limits.rate), TokenBuckets(limits.ip_rate))
        webchat = Blueprint("webchat_webhook", __name__)

        def throttled(buckets: Tuple[TokenBuckets, TokenBuckets], request: Request,
                      sender: Optional[str]) -> Optional[HTTPResponse]:
            per_sender, per_ip = buckets
            client = f"ip:{request.remote_addr or request.ip}"
            # the conversation's own bucket first: what it refuses does not spend the address's budget
            wait = (per_sender.take(sender) if sender else 0.0) or per_ip.take(client)
            if not wait:
                return None
            return _error(429, "too many requests; slow down", "rate_limited",
                          headers={"Retry-After": retry_after(wait)})

        def shopper(request: Request) -> Tuple[Optional[str], Optional[HTTPResponse]]:
            """The verified session's sender id, or the response that refuses the request."""
            if any(key == "sender" for key, _ in request.get_query_args(keep_blank_values=True)):
                return None, _error(400, CLIENT_SENDER, "sender_not_allowed")
            check = sessions.verify(request.headers.get(SESSION_HEADER))
            if check.sender is None:
                return None, _error(401, check.reason, check.code)
            return check.sender, None

        async def body_of(request: Request, limit: int) -> Tuple[Any, Optional[HTTPResponse]]:
            body = await read_body(request, limit)
            if body is None:
                return None, _error(413, f"a request body is at most {limit} bytes", "too_large")
            return json_object(body), None

        @webchat.route("/", methods=["GET"], stream=True)
        async def page(request: Request) -> HTTPResponse:
            return await _serve("index.html")

        @webchat.route("/<asset_name:str>", methods=["GET"], stream=True)
        async def asset(request: Request, asset_name: str) -> HTTPResponse:
            # Sanic routes ".../webchat/" (trailing slash) here with an empty name: that is the page.
            return await _serve(asset_name or "index.html")

        @webchat.route("/session", methods=["POST"], stream=True)
        async def new_session(request: Request) -> HTTPResponse:
            refused = throttled(sends, request, None)
            if refused:
                return refused
            if await read_body(request, limits.max_body) is None:  # the body is not used
                return _error(413, f"a request body is at most {limits.max_body} bytes", "too_large")
            session = sessions.issue()
            return response.json({"session": session, "expires_at": sessions.expires_at(session)},
                                 headers={"Cache-Control": "no-store"})

        @webchat.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            sender, refused = shopper(request)
            refused = refused or throttled(sends, request, sender)
            if refused:
                return refused
            body, refused = await body_of(request, limits.max_body)
            if refused:
                return refused
            problem = validate_chat_message(body)
            if problem:
                return _error(400, problem)
            metadata = body.get("metadata")
            display = metadata.get(DISPLAY_TEXT_KEY) if metadata else None
            clean_metadata: Dict[str, Any] = {REDACTED_KEY: True}  # the text is redacted by `screened`
            if isinstance(display, str):
                # a button title as the widget shows it; a forged client could put anything here
                clean_metadata[DISPLAY_TEXT_KEY] = redact(display[:MAX_MESSAGE_CHARS]).text

            rasa_agent = getattr(request.app.ctx, "agent", None)
            stores_fail_loudly(request.app)  # a store outage is a 503, never a forgotten conversation
            collector = CollectingOutputChannel()
            try:
                text = await screened(rasa_agent, sender, body["message"], _redacted)
                if not text.strip():
                    return _error(400, "message must have words besides a leading '/'")
                # A person holds this conversation: the message is stored for them, the bot stays silent.
                held = rasa_agent and await held_reply(rasa_agent, sender, text, self.name(), clean_metadata)
                if held is not None:
                    return response.json(held)
                with observe_turn(self.name()):  # counted and timed; a failure counts as an error
                    await on_new_message(
                        UserMessage(
                            text, collector, sender,
                            input_channel=self.name(), metadata=clean_metadata,
                        )
                    )
            except CancelledError:
                logger.warning("webchat: turn cancelled: shopper gone or timed out (sender %s)", sender)
                return _error(504, "the assistant took too long to answer")
            except Exception as error:
                outage = failed_turn(self.name(), sender, error, collector.messages)
                if outage is not None:
                    return outage
                logger.exception("webchat: handling the message failed (sender %s)", sender)
                return _error(500, "the assistant failed to answer")
            # No answer at all: is the action server down? Then an apology, not silence.
            return response.json(
                await answer_or_apology(rasa_agent, self.probe, self.name(), sender, collector.messages)
            )

        @webchat.route("/event", methods=["POST"], stream=True)
        async def widget_event(request: Request) -> HTTPResponse:
            sender, refused = shopper(request)
            refused = refused or throttled(sends, request, sender)
            if refused:
                return refused
            raw = await read_body(request, MAX_EVENT_BYTES)
            if raw is None:
                return _error(413, f"an event is at most {MAX_EVENT_BYTES} bytes", "too_large")
            body = json_object(raw)
            problem = validate_widget_event(body)
            if problem:
                return _error(400, problem)
            from learning.broker import active_broker  # the learning log, when this server has one

            broker = active_broker()
            product_id = body["product_id"]
            if broker is not None:
                broker.record_card_click(sender, product_id)  # queued, never blocks
            stores_fail_loudly(request.app)
            try:
                await record_view(getattr(request.app.ctx, "agent", None), sender, product_id)
            except Exception as error:  # the tracker store failed: the click still counts for the log
                outage = store_outage(error)  # an outage is one line; anything else keeps its traceback
                logger.warning("webchat: recording a viewed product failed (%s)%s", sender,
                               f" store={outage}" if outage else "", exc_info=outage is None)
            return response.json({"logged": broker is not None}, status=202)

        @webchat.route("/updates", methods=["GET"], stream=True)
        async def handoff_updates(request: Request) -> HTTPResponse:
            sender, refused = shopper(request)
            refused = refused or throttled(reads, request, sender)
            if refused:
                return refused
            after = parse_after(request.args.get("after"))
            if after is None:
                return _error(400, "after must be a timestamp")
            rasa_agent = getattr(request.app.ctx, "agent", None)
            if rasa_agent is None or getattr(rasa_agent, "tracker_store", None) is None:
                return _error(503, "the assistant is not ready yet")
            stores_fail_loudly(request.app)
            try:
                return response.json(await updates(rasa_agent, sender, after))
            except Exception as error:
                if store_outage(error) is None:
                    raise
                return unavailable()  # the widget's next poll tries again

        @webchat.route("/history", methods=["GET"], stream=True)
        async def history(request: Request) -> HTTPResponse:
            sender, refused = shopper(request)
            refused = refused or throttled(reads, request, sender)
            if refused:
                return refused
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or getattr(agent, "tracker_store", None) is None:
                return _error(503, "the assistant is not ready yet")
            stores_fail_loudly(request.app)
            try:
                tracker = await agent.tracker_store.retrieve(sender)
            except Exception as error:
                if store_outage(error) is None:
                    raise
                return unavailable()  # not an empty history: the conversation is there, unreadable now
            events = list(tracker.events) if tracker is not None else []
            return response.json({"sender": sender, "messages": history_messages(events, sender)})

        return webchat


def _redacted(text: str) -> str:
    return redact(text).text


async def _serve(name: str) -> HTTPResponse:
    path = static_asset(name)
    if path is None:
        return _error(404, "not found")
    # no-cache: the browser revalidates, so a redeployed widget is picked up on the next page load.
    if name == WIDGET_SCRIPT:
        script = path.read_text(encoding="utf-8").replace(MAX_CHARS_TOKEN, str(MAX_MESSAGE_CHARS))
        return response.text(
            script, content_type=CONTENT_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
        )
    return await response.file(
        path, mime_type=CONTENT_TYPES[path.suffix], headers={"Cache-Control": "no-cache"}
    )
