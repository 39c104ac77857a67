"""Whole phone calls against the running bot: the simulator plays Twilio's side of the media stream into
the voice service (the real endpointer, Whisper and Piper), the bot's audio is transcribed back, and a
local fake of Twilio's REST API records the transfer and the hang-ups.

Each call's bot turns are saved under artifacts/voice/calls/<call>/ (WAV + call.json), and the service's
turn latencies of the whole module under artifacts/voice/e2e-turns.json.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qs

import numpy as np
import pytest

from bot.launcher import PROJECT_ROOT, BotProcesses
from voice.app import summarise
from voice.call import NOT_CAUGHT, TurnLatency
from voice.settings import VoiceSettings
from voice.simulate_call import CallRecord, Line, bot_ears, caller_voice, report, simulate_call
from voice.stt import Transcriber
from voice.tts import Speaker

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / "artifacts" / "voice"
AUTH_TOKEN = "e2e-auth-token"
ACCOUNT_SID = "AC" + "e" * 32
HANDOFF_NUMBER = "+15005550123"
SILENCE_TIMEOUT_S = 3.0


class FakeTwilioApi:
    """Twilio's REST API on localhost: records each call update (which call, the TwiML, the basic-auth
    user and password) and answers 200 with the call's JSON, as Twilio does."""

    def __init__(self) -> None:
        self.updates: List[Dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                match = re.fullmatch(r"/2010-04-01/Accounts/(\w+)/Calls/(\w+)\.json", self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                scheme, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
                user, _, password = base64.b64decode(credentials).decode().partition(":")
                if not match:
                    self.send_error(404)
                    return
                form = {key: values[0] for key, values in parse_qs(body).items()}
                api.updates.append(
                    {"account": match.group(1), "call": match.group(2), "twiml": form.get("Twiml", ""),
                     "auth": (scheme, user, password)}
                )  # fmt: skip
                answer = json.dumps({"sid": match.group(2), "status": "in-progress"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def updates_for(self, call_sid: str) -> List[Dict[str, Any]]:
        return [update for update in self.updates if update["call"] == call_sid]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def twilio_api() -> Iterator[FakeTwilioApi]:
    api = FakeTwilioApi()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="module")
def voice_env(bot: BotProcesses, twilio_api: FakeTwilioApi) -> Dict[str, str]:
    """The voice service's settings for this module (overrides conftest's): our token and account, the
    fake REST API, a handoff number, a short silence timeout."""
    return {
        "SHOPCUE_VOICE_PUBLIC_URL": bot.voice_url,
        "SHOPCUE_VOICE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SHOPCUE_VOICE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SHOPCUE_VOICE_TWILIO_API_BASE": twilio_api.url,
        "SHOPCUE_VOICE_HANDOFF_NUMBER": HANDOFF_NUMBER,
        "SHOPCUE_VOICE_SILENCE_TIMEOUT_S": str(SILENCE_TIMEOUT_S),
    }


@pytest.fixture(scope="module")
def caller_settings(voice: BotProcesses, voice_env: Dict[str, str]) -> VoiceSettings:
    """What the simulated Twilio knows: the same public URL, auth token and account as the service."""
    return VoiceSettings(
        **{name.removeprefix("SHOPCUE_VOICE_").lower(): value for name, value in voice_env.items()}
    )


@pytest.fixture(scope="module")
def ears() -> Tuple[Speaker, Transcriber]:
    """The caller's voice and the ears that transcribe the bot's audio, loaded once."""
    speaker, transcriber = caller_voice(), bot_ears()
    speaker.load()
    transcriber.load()
    return speaker, transcriber


@pytest.fixture(scope="module")
def latencies() -> Iterator[List[Dict[str, Any]]]:
    """The service's turn records of every call in this module, written out at the end."""
    turns: List[Dict[str, Any]] = []
    yield turns
    summary = summarise([TurnLatency(**turn) for turn in turns]).dict()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "e2e-turns.json").write_text(json.dumps({"summary": summary, "turns": turns}, indent=2))


def place_call(
    name: str, lines: List[Line], settings: VoiceSettings, ears: Tuple[Speaker, Transcriber], latencies: List
) -> CallRecord:
    speaker, transcriber = ears
    record = asyncio.run(
        simulate_call(
            lines,
            settings=settings,
            speaker=speaker,
            transcriber=transcriber,
            out_dir=ARTIFACTS / "calls" / name,
        )
    )
    print(report(record))
    latencies.extend(record.service_turns)
    return record


def heard(record: CallRecord) -> List[str]:
    """What the caller heard, turn by turn, lower case."""
    return [turn.text.lower() for turn in record.bot_turns]


def spoken_amounts(text: str) -> List[float]:
    """Dollar amounts in a transcript: "$24.99", "24 dollars 99", "30 dollars"."""
    amounts = [float(value) for value in re.findall(r"\$(\d+(?:\.\d+)?)", text)]
    amounts += [float(value) for value in re.findall(r"(\d+(?:\.\d+)?) dollars?", text)]
    return amounts


def test_a_whole_call_finds_products_narrows_them_and_reaches_a_person(
    caller_settings: VoiceSettings, ears: Any, latencies: List, twilio_api: FakeTwilioApi
) -> None:
    lines = [
        Line(text="I need trainers for my son"),
        Line(text="under fifty dollars"),
        Line(text="talk to a person"),
    ]
    record = place_call("whole-call", lines, caller_settings, ears, latencies)
    said = heard(record)
    assert len(said) == 4, said
    greeting, products, narrowed, handoff = said
    assert "find" in greeting, greeting
    assert "trainer" in products and spoken_amounts(products), products
    assert "trainer" in narrowed and spoken_amounts(narrowed), narrowed
    assert all(amount <= 50 for amount in spoken_amounts(narrowed)), narrowed
    assert "team" in handoff, handoff
    [update] = twilio_api.updates_for(record.call_sid)
    assert update["twiml"] == f"<Response><Dial>{HANDOFF_NUMBER}</Dial></Response>"
    assert update["account"] == ACCOUNT_SID and update["auth"] == ("Basic", ACCOUNT_SID, AUTH_TOKEN)
    assert record.hung_up_by_service, "the stream ends once the call is put through"
    assert [turn["outcome"] for turn in record.service_turns] == ["reply", "reply", "handoff"]


def test_speaking_over_a_long_reply_stops_it(
    caller_settings: VoiceSettings, ears: Any, latencies: List
) -> None:
    lines = [Line(text="show me bluetooth speakers"), Line(text="under fifty dollars", barge_in_s=2.0)]
    record = place_call("barge-in", lines, caller_settings, ears, latencies)
    interrupted = record.bot_turns[1]
    barge_in = record.caller_turns[1]
    assert interrupted.cleared, report(record)
    [cleared_at] = record.clears
    assert barge_in.started_s < cleared_at < barge_in.started_s + 1.0, (
        "playback stops soon after speech starts"
    )
    assert interrupted.ended_s <= cleared_at + 0.1, (
        "nothing of the interrupted reply is played after the clear"
    )
    assert record.frames_after_clear == 0, "the service stops sending the interrupted reply"
    answer = record.bot_turns[-1]
    assert answer.started_s > barge_in.ended_s and answer.text, "then it listens, and answers"


def test_silence_gets_a_reprompt_then_a_goodbye(
    caller_settings: VoiceSettings, ears: Any, latencies: List, twilio_api: FakeTwilioApi
) -> None:
    record = place_call("silence", [Line(silence_s=40)], caller_settings, ears, latencies)
    said = heard(record)
    assert len(said) == 3 and "still there" in said[1] and "goodbye" in said[2], said
    greeting, reprompt = record.bot_turns[:2]
    assert SILENCE_TIMEOUT_S - 0.5 < reprompt.started_s - greeting.ended_s < SILENCE_TIMEOUT_S + 2.0
    assert record.hung_up_by_service
    [update] = twilio_api.updates_for(record.call_sid)
    assert update["twiml"] == "<Response><Hangup /></Response>"


def test_noise_is_asked_for_again_then_the_call_ends_politely(
    caller_settings: VoiceSettings, ears: Any, latencies: List
) -> None:
    noise = np.random.default_rng(7).normal(0, 3000, 12000).astype(np.int16)  # 1.5 s of line static
    record = place_call("noise", [Line(pcm=noise), Line(pcm=noise)], caller_settings, ears, latencies)
    said = heard(record)
    assert len(said) == 3, said
    assert "catch" in said[1] and "again" in said[1], f"{said[1]!r} should be {NOT_CAUGHT!r}"
    assert "goodbye" in said[2], said
    assert record.hung_up_by_service
    assert [turn["outcome"] for turn in record.service_turns] == ["not caught", "not caught"]
