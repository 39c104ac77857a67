"""Twilio Media Streams messages, both ways: what Twilio sends over the WebSocket and what we send back.

A bidirectional stream (`<Connect><Stream>`) carries JSON text messages:

- from Twilio: `connected`, then `start` (streamSid, callSid, accountSid, customParameters, mediaFormat),
  then `media` every 20 ms (base64 mu-law, 8 kHz, 160 bytes), `mark` when audio we sent up to a mark of
  ours has been played (or was cleared), `dtmf`, and `stop` when the call or stream ends;
- to Twilio: `media` (audio to play, queued in order), `mark` (tell me when playback gets here) and
  `clear` (drop everything queued; Twilio then returns our pending marks).

The service reads with `StreamStart.from_message` and `media_payload`, writes with `media`, `mark` and
`clear`; the simulator plays Twilio's side with the `twilio_*` builders.
"""

from __future__ import annotations

import base64
from typing import Any, Dict, Mapping, Optional

from pydantic import BaseModel, Field, ValidationError

PROTOCOL = "Call"
VERSION = "1.0.0"
MEDIA_FORMAT = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


class StreamStart(BaseModel):
    """The `start` message's facts about the stream."""

    stream_sid: str = Field(alias="streamSid", min_length=1)
    call_sid: str = Field(alias="callSid", min_length=1)
    account_sid: str = Field("", alias="accountSid")
    custom_parameters: Dict[str, str] = Field(default_factory=dict, alias="customParameters")

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Optional[StreamStart]:
        """The start facts of a `start` message; None for any other or a malformed message."""
        if message.get("event") != "start" or not isinstance(message.get("start"), dict):
            return None
        fields = {"streamSid": message.get("streamSid"), **message["start"]}
        try:
            return cls.parse_obj(fields)
        except ValidationError:
            return None


def media_payload(message: Mapping[str, Any]) -> bytes:
    """The mu-law bytes of a `media` message (b"" when it has none or they are not base64)."""
    media = message.get("media")
    payload = media.get("payload") if isinstance(media, dict) else None
    if not isinstance(payload, str):
        return b""
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError:
        return b""


def mark_name(message: Mapping[str, Any]) -> str:
    """The name of a `mark` message's mark ("" when it has none)."""
    mark = message.get("mark")
    name = mark.get("name") if isinstance(mark, dict) else None
    return name if isinstance(name, str) else ""


# ---- what we send to Twilio ------------------------------------------------------------------------


def media(stream_sid: str, frame: bytes) -> Dict[str, Any]:
    """Audio for Twilio to play (mu-law 8 kHz), queued after what it already has."""
    return {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(frame).decode()}}


def mark(stream_sid: str, name: str) -> Dict[str, Any]:
    """Ask Twilio to send `name` back once the audio queued before it has been played."""
    return {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}


def clear(stream_sid: str) -> Dict[str, Any]:
    """Drop the audio Twilio has queued (barge-in)."""
    return {"event": "clear", "streamSid": stream_sid}


# ---- what Twilio sends us (the simulator plays this side) ---------------------------------------------


def twilio_connected() -> Dict[str, Any]:
    return {"event": "connected", "protocol": PROTOCOL, "version": VERSION}


def twilio_start(
    sequence: int, stream_sid: str, call_sid: str, account_sid: str, parameters: Mapping[str, str]
) -> Dict[str, Any]:
    return {
        "event": "start",
        "sequenceNumber": str(sequence),
        "streamSid": stream_sid,
        "start": {
            "streamSid": stream_sid,
            "accountSid": account_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": dict(parameters),
            "mediaFormat": dict(MEDIA_FORMAT),
        },
    }


def twilio_media(
    sequence: int, stream_sid: str, chunk: int, timestamp_ms: int, frame: bytes
) -> Dict[str, Any]:
    return {
        "event": "media",
        "sequenceNumber": str(sequence),
        "streamSid": stream_sid,
        "media": {
            "track": "inbound",
            "chunk": str(chunk),
            "timestamp": str(timestamp_ms),
            "payload": base64.b64encode(frame).decode(),
        },
    }


def twilio_mark(sequence: int, stream_sid: str, name: str) -> Dict[str, Any]:
    return {"event": "mark", "sequenceNumber": str(sequence), "streamSid": stream_sid, "mark": {"name": name}}


def twilio_stop(sequence: int, stream_sid: str, call_sid: str, account_sid: str) -> Dict[str, Any]:
    return {
        "event": "stop",
        "sequenceNumber": str(sequence),
        "streamSid": stream_sid,
        "stop": {"accountSid": account_sid, "callSid": call_sid},
    }
