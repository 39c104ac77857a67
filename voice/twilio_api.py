"""Twilio, the parts we use: request signatures, the TwiML we answer with, and the REST call update.

- Signatures: Twilio signs each webhook with HMAC-SHA1 of the URL it requested plus the sorted form
  fields, keyed with the account's auth token (`X-Twilio-Signature`); `twilio.request_validator`
  checks it. The URL is the public one (behind a proxy or tunnel, not the one uvicorn sees).
- TwiML: a bidirectional Media Stream (`<Connect><Stream>`) carrying a one-time token as a custom
  parameter; a polite hang-up; a transfer (`<Dial>`).
- REST: `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` with `Twiml=...`
  replaces what a live call is doing (a transfer, or hanging up), authenticated as SID:token.
"""

from __future__ import annotations

import logging
from typing import Mapping, Optional

import httpx
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from voice.logs import get_logger, log_event
from voice.settings import VoiceSettings

logger = get_logger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
# The custom <Parameter> of the stream that carries the one-time token back to us in the `start` event.
TOKEN_PARAMETER = "token"


class TwilioApiError(RuntimeError):
    """The Twilio REST API refused or failed a request."""


def signed_url(public_url: str, path: str, query: str = "") -> str:
    """The URL Twilio requested and signed: the public base URL, the path, and the query if any."""
    return f"{public_url}{path}" + (f"?{query}" if query else "")


def is_valid_signature(token: str, url: str, params: Mapping[str, str], signature: Optional[str]) -> bool:
    """Whether `signature` is Twilio's signature of this URL and these form fields with this token."""
    if not signature or not token:
        return False
    return bool(RequestValidator(token).validate(url, dict(params), signature))


def sign(token: str, url: str, params: Mapping[str, str]) -> str:
    """The signature Twilio would send for this request (for the simulator and tests)."""
    return RequestValidator(token).compute_signature(url, dict(params))


def _xml(response: VoiceResponse) -> str:
    return str(response.to_xml(xml_declaration=False))


def connect_stream_twiml(stream_url: str, token: str) -> str:
    """Answer a call with a bidirectional Media Stream to our WebSocket, the token as a parameter."""
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name=TOKEN_PARAMETER, value=token)
    response = VoiceResponse()
    response.append(connect)
    return _xml(response)


def hangup_twiml(message: str = "") -> str:
    """End the call, after saying `message` (in Twilio's own voice) when there is one."""
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    return _xml(response)


def dial_twiml(number: str) -> str:
    """Transfer the call to a phone number."""
    response = VoiceResponse()
    response.dial(number)
    return _xml(response)


async def update_call(settings: VoiceSettings, call_sid: str, twiml: str, timeout: float = 10.0) -> None:
    """Replace what a live call does with `twiml` (REST call update); raises TwilioApiError."""
    account = settings.twilio_account_sid
    url = f"{settings.twilio_api_base}/2010-04-01/Accounts/{account}/Calls/{call_sid}.json"
    auth = (account, settings.twilio_auth_token.get_secret_value())
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(url, data={"Twiml": twiml}, auth=auth)
    except httpx.HTTPError as error:
        raise TwilioApiError(f"call update failed: {type(error).__name__}") from error
    if response.status_code >= 300:
        raise TwilioApiError(f"call update answered {response.status_code}")


class TwilioCalls:
    """The call updates a conversation needs: put the call through to a person, or hang up."""

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings

    async def transfer(self, call_sid: str) -> bool:
        """Dial the handoff number on this call; False when it is not configured or Twilio refused."""
        if not self.settings.can_transfer:
            return False
        return await self._update(call_sid, dial_twiml(self.settings.handoff_number))

    async def hang_up(self, call_sid: str) -> bool:
        """End the call; False when the REST API is not configured (closing the stream ends it then)."""
        if not self.settings.rest_configured:
            return False
        return await self._update(call_sid, hangup_twiml())

    async def _update(self, call_sid: str, twiml: str) -> bool:
        try:
            await update_call(self.settings, call_sid, twiml)
        except TwilioApiError as error:
            log_event(logger, "twilio.update_failed", logging.WARNING, error=error)
            return False
        return True
