"""Rasa's REST channel, for trusted server-side callers, with redaction at the door:
POST /webhooks/rest/webhook {"sender", "message"} -> the bot's messages.

Who may call it: the voice service (voice/ posts each call's transcripts here) and the test and
benchmark clients (`BotProcesses.send`), i.e. servers that choose the conversation (`sender`) themselves.
So the caller must be trusted: with SHOPCUE_REST_TOKEN set it sends `Authorization: Bearer <token>`
(else 401), without it only loopback clients are answered (else 403), the rule /metrics uses
(`bot.channels.metrics.allowed`). Shoppers' browsers use the web chat channel, whose sessions the
server issues. Sender ids starting with "web-" belong to the web chat and are refused here.

The text is passed through `learning.redaction.redact` before the `UserMessage` is built, so the tracker
store, Rasa's own log lines and the learning log only ever hold placeholders ("<PHONE>") where the
shopper typed personal data. A "/intent{...}" text is read as an intent only when it is a button the
bot offered in the conversation's latest turn (bot/channels/guard.py); bodies over
SHOPCUE_CHANNEL_MAX_BODY get 413, a conversation over SHOPCUE_CHANNEL_RATE gets 429 with Retry-After,
malformed bodies get 400 with the reason. Rasa's `?stream=true` is not offered (400). When the
conversation store or its lock is unreachable the caller gets 503 with Retry-After and the apology in
`error`; when the action server is down, the apology as the bot's message, so a phone caller hears it
(bot/channels/faults.py).

Client metadata is dropped: Rasa would store it on the tracker verbatim, nothing in Shopcue reads it,
and it is exactly where a client would put a name, a number or an address. The input channel name is
this channel's own, so a client cannot make its message look as if it came from another channel.
"""

from __future__ import annotations

import logging
import os
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.faults import (
    ActionServerProbe,
    answer_or_apology,
    failed_turn,
    prepare_action_calls,
    stores_fail_loudly,
)
from bot.channels.guard import (
    ChannelLimits,
    TokenBuckets,
    json_object,
    read_body,
    retry_after,
    screened,
    validate_message,
    validate_sender,
)
from bot.channels.metrics import allowed
from bot.channels.session import SENDER_PREFIX
from common.limits import MAX_MESSAGE_CHARS
from common.message_metadata import REDACTED_KEY
from common.trust import REST_TOKEN_ENV
from learning.redaction import redact, warm_up
from ops.ab import routed
from ops.metrics import observed_handler

logger = logging.getLogger(__name__)


def _error(status: int, message: str, headers: Optional[Dict[str, str]] = None) -> HTTPResponse:
    return response.json({"error": message}, status=status, headers=headers)


def validate_rest_message(body: Any) -> Optional[str]:
    """The error text for a bad webhook body, or None when it is usable (long texts are cut, not refused:
    a transcript is not the caller's to shorten)."""
    if not isinstance(body, dict):
        return "expected a JSON object with sender and message"
    sender = body.get("sender")
    problem = validate_sender(sender) or validate_message(body.get("message"), max_chars=None)
    if problem:
        return problem
    if sender.startswith(SENDER_PREFIX):
        return f"sender ids starting with {SENDER_PREFIX!r} belong to the web chat"
    return None


def incoming_text(text: str) -> str:
    """What Rasa may read of a caller's text: its first MAX_MESSAGE_CHARS, redacted (redacting and
    parsing 10,000 characters would hold the server for a second)."""
    redaction = redact(text[:MAX_MESSAGE_CHARS])
    if redaction.counts:
        logger.debug("rest: redacted %s", redaction.counts)  # the kinds and counts, never the values
    return redaction.text


class RedactingRestInput(RestInput):
    """The REST webhook for trusted callers, that stores no personal data."""

    def __init__(self, limits: Optional[ChannelLimits] = None, probe: Optional[ActionServerProbe] = None
                 ) -> None:
        self.limits = limits  # None: read from the environment when the blueprint is built
        self.probe = probe or ActionServerProbe()  # is the action server up? (bot/channels/faults.py)

    @classmethod
    def name(cls) -> Text:
        return "rest"  # the URL stays /webhooks/rest/webhook

    def _extract_message(self, req: Request) -> Optional[Text]:
        text = super()._extract_message(req)
        return incoming_text(text) if isinstance(text, str) else text

    def _extract_input_channel(self, req: Request) -> Text:
        return self.name()

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        # to the agent of the caller's A/B arm (ops/ab.py); each turn counted and timed, failures too
        on_new_message = observed_handler(self.name(), routed(on_new_message))
        prepare_action_calls()  # a hung action server costs SHOPCUE_ACTION_TIMEOUT_S, not 5 minutes
        # Load the redactor (spaCy, word lists: a few seconds) while the server starts, not on the first
        # shopper's message; the web chat channel shares it.
        warm_up(background=True)
        limits = self.limits or ChannelLimits.from_env()
        conversations = TokenBuckets(limits.rate)
        rest = Blueprint("custom_webhook_RedactingRestInput", __name__)

        @rest.route("/", methods=["GET"], stream=True)
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            token = os.environ.get(REST_TOKEN_ENV, "").strip() or None
            if not allowed(request.headers.get("authorization"), request.ip, token, request.remote_addr):
                return _error(401 if token else 403, "the REST webhook is for trusted callers only")
            if "stream" in request.args:
                return _error(400, "streaming replies are not offered")
            raw = await read_body(request, limits.max_body)
            if raw is None:
                return _error(413, f"a request body is at most {limits.max_body} bytes")
            body = json_object(raw)
            problem = validate_rest_message(body)
            if problem:
                return _error(400, problem)
            sender = body["sender"]
            wait = conversations.take(sender)
            if wait:
                return _error(429, "too many messages in this conversation; slow down",
                              headers={"Retry-After": retry_after(wait)})
            rasa_agent = getattr(request.app.ctx, "agent", None)
            stores_fail_loudly(request.app)  # a store outage is a 503, never a forgotten conversation
            collector = CollectingOutputChannel()
            try:
                text = await screened(rasa_agent, sender, body["message"], incoming_text)
                if not text.strip():
                    return _error(400, "message must have words besides a leading '/'")
                await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                                 metadata={REDACTED_KEY: True}))
            except CancelledError:  # as Rasa's REST channel: whatever was said so far
                logger.warning("rest: turn cancelled: caller gone or timed out (sender %s)", sender)
                return response.json(collector.messages)
            except Exception as error:
                outage = failed_turn(self.name(), sender, error, collector.messages)
                if outage is not None:
                    return outage
                logger.exception("rest: handling the message failed (sender %s)", sender)
                return response.json(collector.messages)
            # No answer at all: is the action server down? Then an apology the caller hears, not silence.
            return response.json(
                await answer_or_apology(rasa_agent, self.probe, self.name(), sender, collector.messages)
            )

        return rest
