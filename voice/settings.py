"""The phone channel's settings: one object read from SHOPCUE_VOICE_* environment variables.

Every field is an environment variable named `SHOPCUE_VOICE_` + the field name in capitals, e.g.
`SHOPCUE_VOICE_PUBLIC_URL=https://shop.example.com`. The FastAPI app reads them through `get_settings`
(a dependency; tests override it), the simulator through the same function.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import BaseSettings, Field, SecretStr, validator

from common.trust import REST_TOKEN_ENV

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Where a development machine keeps its local signing token when no Twilio auth token is configured.
LOCAL_TOKEN_FILE = PROJECT_ROOT / "artifacts" / "voice" / "local-auth-token"


class VoiceSettings(BaseSettings):
    """What the voice service needs to know; defaults suit `make run` on a developer's machine."""

    # The public base URL Twilio calls, as the caller's side sees it (https://shop.example.com, or a
    # tunnel's URL), with any path prefix a proxy strips. Twilio signs this URL + the request's path +
    # its query, so X-Twilio-Signature is checked against exactly that; the media-stream URL handed to
    # Twilio is derived from it too (https -> wss).
    public_url: str = "http://localhost:5077"
    # The Twilio account's auth token: the secret X-Twilio-Signature is made with, and the REST API's
    # password. Unset: a random token kept in artifacts/voice/local-auth-token, which only this machine's
    # simulator knows, so real Twilio requests get 403 until it is set.
    twilio_auth_token: SecretStr = SecretStr("")
    # The Twilio account SID (AC...): the REST API's user name; incoming calls from another account get 403.
    twilio_account_sid: str = ""
    # The Twilio REST API's base URL; tests point it at a local fake.
    twilio_api_base: str = "https://api.twilio.com"
    # The number a "talk to a person" call is transferred to (E.164, e.g. +441632960000); unset: the
    # caller is told nobody can take the call on this line.
    handoff_number: str = ""
    # The Rasa server's REST channel webhook; one conversation per call.
    rasa_webhook_url: str = "http://localhost:5005/webhooks/rest/webhook"
    # How long the Rasa server may take to answer one message, in seconds.
    rasa_timeout_s: float = 30.0
    # The REST channel's bearer token (bot/channels/rest.py reads the same SHOPCUE_REST_TOKEN): needed when
    # the voice service is not on the Rasa server's machine; unset, the REST channel answers loopback only.
    rest_token: SecretStr = Field(SecretStr(""), env=REST_TOKEN_ENV)
    # Seconds of caller silence after our turn before a re-prompt ("Are you still there?").
    silence_timeout_s: float = 6.0
    # How many re-prompts (for silence or audio we could not understand) in a row before a goodbye.
    max_reprompts: int = 1
    # Keep the caller's audio: one WAV per utterance under audio_dir/<sender id>/. Off by default.
    keep_audio: bool = False
    # Where kept audio goes when keep_audio is on.
    audio_dir: Path = PROJECT_ROOT / "artifacts" / "voice" / "audio"
    # What the caller hears first.
    greeting: str = "Hi, this is Shopcue, the shop assistant. What can I find for you today?"
    # The secret that turns a CallSid into the conversation's sender id (call- + HMAC-SHA256 prefix), so
    # neither the phone number nor the CallSid reaches the tracker store. Unset: a new random secret each
    # start (a call never outlives the process).
    sender_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_hex(32)))
    # How long the one-time stream token from the incoming-call answer stays valid, in seconds.
    stream_token_ttl_s: float = 30.0
    # The endpointer's silence window: this much quiet after speech ends the caller's turn, in ms.
    # Unset: the endpointer's own tuned default (voice/vad.py).
    end_of_turn_silence_ms: Optional[int] = None
    # A transcript is "not caught" (the caller is asked to say it again) when it is empty (voice/stt.py
    # drops silence, noise and Whisper's made-up phrases) or its mean token log-probability is below
    # this. Clear phone speech can score -1.1 ("show me Bluetooth speakers"); the NLU's own
    # low-confidence clarification handles an unsure reading better than asking again.
    min_avg_logprob: float = -1.5
    # Calls served at once; a further caller hears a polite "try again later" (each call's recognition
    # and voice share the CPU).
    max_calls: int = 4
    # How many turn-latency records the service keeps in memory (GET /voice/turns).
    latency_records: int = 1000
    # Log level of the voice service's own loggers (DEBUG adds one line per turn with its latency).
    log_level: str = "INFO"

    class Config:
        env_prefix = "SHOPCUE_VOICE_"

    @validator("public_url", "twilio_api_base")
    def _no_trailing_slash(cls, value: str) -> str:  # noqa: N805 (pydantic validators take cls)
        return value.rstrip("/")

    def signing_token(self) -> str:
        """The secret Twilio signs requests with: the auth token, else this machine's local token."""
        token = self.twilio_auth_token.get_secret_value()
        return token or local_auth_token()

    def sender_id(self, call_sid: str) -> str:
        """The conversation's sender id for a call: never the phone number, never the CallSid itself."""
        key = self.sender_secret.get_secret_value().encode("utf-8")
        digest = hmac.new(key, call_sid.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"call-{digest[:16]}"

    @property
    def stream_url(self) -> str:
        """The media-stream WebSocket URL Twilio connects to (wss:// for an https public URL)."""
        scheme, _, rest = self.public_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/voice/stream"

    @property
    def incoming_url(self) -> str:
        """The voice webhook to give Twilio ("A call comes in" on the phone number's page)."""
        return f"{self.public_url}/voice/incoming"

    @property
    def rest_configured(self) -> bool:
        """Whether live calls can be updated through Twilio's REST API (an account SID and its token)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token.get_secret_value())

    @property
    def can_transfer(self) -> bool:
        """Whether a handoff can go through: a number to dial and the REST API's credentials."""
        return bool(self.handoff_number) and self.rest_configured


def local_auth_token(path: Path = LOCAL_TOKEN_FILE) -> str:
    """This machine's local signing token, made (readable by this user only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(16))
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> VoiceSettings:
    """The settings from the environment, read once (a FastAPI dependency; tests override it)."""
    return VoiceSettings()
