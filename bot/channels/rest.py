"""Rasa's REST channel with redaction at the door: POST /webhooks/rest/webhook {"sender", "message"}.

The text is passed through `learning.redaction.redact` before the `UserMessage` is built, so the tracker
store, Rasa's own log lines and the learning log only ever hold placeholders ("<PHONE>") where the
shopper typed personal data. The voice service posts its transcripts here, so calls are covered too.

Client metadata is dropped: Rasa would store it on the tracker verbatim, nothing in Shopcue reads it,
and it is exactly where a client would put a name, a number or an address. The input channel name is
this channel's own, so a client cannot make its message look as if it came from another channel.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.request import Request

from common.limits import MAX_MESSAGE_CHARS
from learning.redaction import redact, warm_up
from ops.ab import routed
from ops.metrics import observed_handler

logger = logging.getLogger(__name__)


class RedactingRestInput(RestInput):
    """The REST webhook, unchanged for clients, that stores no personal data."""

    @classmethod
    def name(cls) -> Text:
        return "rest"  # the URL stays /webhooks/rest/webhook

    def _extract_message(self, req: Request) -> Optional[Text]:
        text = super()._extract_message(req)
        if not isinstance(text, str):
            return text
        # The web chat refuses longer messages; here Rasa answers whatever it gets, so keep the first
        # MAX_MESSAGE_CHARS (redacting and parsing 10,000 characters would hold the server for a second).
        redaction = redact(text[:MAX_MESSAGE_CHARS])
        if redaction.counts:
            logger.debug("rest: redacted %s", redaction.counts)  # the kinds and counts, never the values
        return redaction.text

    def _extract_input_channel(self, req: Request) -> Text:
        return self.name()

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        on_new_message = routed(on_new_message)  # to the agent of the shopper's A/B arm (ops/ab.py)
        # Load the redactor (spaCy, word lists: a few seconds) while the server starts, not on the first
        # shopper's message; the web chat channel shares it.
        warm_up()
        # Each turn is counted and timed, failures too (Rasa answers them with an empty list).
        return super().blueprint(observed_handler(self.name(), on_new_message))
