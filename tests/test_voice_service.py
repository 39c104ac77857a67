"""The phone channel's service without a phone or a bot: Twilio's signed webhook, the media stream's door,
phone numbers kept out of the logs, and a call's turn-taking (greeting, a turn, barge-in, silence, audio
we cannot make out, a handoff) with small in-test fakes of the speech models, the bot and Twilio."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import signal
from starlette.websockets import WebSocketDisconnect

from voice import media_stream
from voice.app import create_app
from voice.audio import FRAME_SAMPLES, mulaw_frames, read_wav
from voice.call import (
    CHUNK_CHARS,
    LEAD_S,
    NO_TRANSFER,
    NOT_CAUGHT,
    SILENT_GOODBYE,
    STILL_THERE,
    UNCLEAR_GOODBYE,
    CallSession,
    Engines,
    TurnLatency,
    speech_chunks,
)
from voice.conversation import hints_for
from voice.logs import get_logger, log_event
from voice.media_stream import StreamStart
from voice.settings import VoiceSettings
from voice.spoken_text import for_the_ear
from voice.stt import Transcript
from voice.twilio_api import SIGNATURE_HEADER, sign
from voice.vad import EndpointerConfig

PUBLIC_URL = "https://shop.example.test"
AUTH_TOKEN = "test-auth-token"
ACCOUNT_SID = "AC" + "1" * 32
CALLER = "+15005550006"
SHOP = "+15005550001"
HANDOFF_NUMBER = "+15005550123"
SILENT_FRAME = b"\xff" * FRAME_SAMPLES


def voice_settings(**overrides: Any) -> VoiceSettings:
    values: Dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_account_sid": ACCOUNT_SID,
        "handoff_number": HANDOFF_NUMBER,
        "silence_timeout_s": 0.6,
        "greeting": "Hi, this is Shopcue.",
    }
    return VoiceSettings(**{**values, **overrides})


def incoming_form(call_sid: str = "CA" + "a" * 32, account_sid: str = ACCOUNT_SID) -> Dict[str, str]:
    return {
        "CallSid": call_sid,
        "AccountSid": account_sid,
        "From": CALLER,
        "To": SHOP,
        "Caller": CALLER,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def post_incoming(client: TestClient, form: Dict[str, str], signature: Optional[str]) -> Any:
    headers = {SIGNATURE_HEADER: signature} if signature is not None else {}
    return client.post("/voice/incoming", data=form, headers=headers)


def stream_token(twiml: str) -> Tuple[str, str]:
    """(stream URL, token) of a `<Connect><Stream>` answer."""
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None, twiml
    parameters = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
    return stream.get("url", ""), parameters.get("token", "")


# ---- the incoming-call webhook ----------------------------------------------------------------------------


def test_a_signed_incoming_call_is_answered_with_a_media_stream_and_a_token() -> None:
    client = TestClient(create_app(voice_settings()))
    form = incoming_form()
    response = post_incoming(client, form, sign(AUTH_TOKEN, f"{PUBLIC_URL}/voice/incoming", form))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    url, token = stream_token(response.text)
    assert url == "wss://shop.example.test/voice/stream"
    assert len(token) >= 24
    again = post_incoming(client, form, sign(AUTH_TOKEN, f"{PUBLIC_URL}/voice/incoming", form))
    assert stream_token(again.text)[1] != token, "every answer gets a fresh token"


@pytest.mark.parametrize(
    "how",
    ["unsigned", "signed with another token", "signed for another URL", "a field changed after signing",
     "from another account"],
)  # fmt: skip
def test_a_forged_or_unsigned_incoming_call_is_refused(how: str) -> None:
    client = TestClient(create_app(voice_settings()))
    form = incoming_form(account_sid="AC" + "2" * 32 if how == "from another account" else ACCOUNT_SID)
    url = f"{PUBLIC_URL}/voice/incoming"
    signature: Optional[str] = sign(AUTH_TOKEN, url, form)
    if how == "unsigned":
        signature = None
    elif how == "signed with another token":
        signature = sign("not-the-token", url, form)
    elif how == "signed for another URL":
        signature = sign(AUTH_TOKEN, "https://attacker.example.test/voice/incoming", form)
    elif how == "a field changed after signing":
        form = {**form, "CallSid": "CA" + "b" * 32}
    response = post_incoming(client, form, signature)
    assert response.status_code == 403
    assert "Stream" not in response.text


def test_a_signature_made_for_the_query_string_is_checked_with_it() -> None:
    client = TestClient(create_app(voice_settings()))
    form = incoming_form()
    url = f"{PUBLIC_URL}/voice/incoming?shop=main"
    response = client.post(
        "/voice/incoming?shop=main", data=form, headers={SIGNATURE_HEADER: sign(AUTH_TOKEN, url, form)}
    )
    assert response.status_code == 200
    unsigned_query = sign(AUTH_TOKEN, f"{PUBLIC_URL}/voice/incoming", form)
    response = client.post("/voice/incoming?shop=main", data=form, headers={SIGNATURE_HEADER: unsigned_query})
    assert response.status_code == 403


def test_a_call_beyond_the_line_limit_is_told_politely_and_hung_up() -> None:
    app = create_app(voice_settings(max_calls=0))
    form = incoming_form()
    response = post_incoming(TestClient(app), form, sign(AUTH_TOKEN, f"{PUBLIC_URL}/voice/incoming", form))
    assert response.status_code == 200
    root = ET.fromstring(response.text)
    assert root.find("Hangup") is not None and "busy" in root.findtext("Say", "")
    assert root.find("./Connect/Stream") is None


# ---- in-test fakes of the models, the bot and Twilio ----------------------------------------------------


class FakeSpeaker:
    """Says each chunk of speech as silence frames, 20 ms per 3 characters; remembers the chunks."""

    def __init__(self) -> None:
        self.said: List[str] = []
        self.said_at: List[float] = []

    def iter_phone_frames(self, text: str) -> Any:
        self.said.append(text)
        self.said_at.append(time.monotonic())
        for sentence in filter(None, (part.strip() for part in text.split(". "))):
            yield [SILENT_FRAME] * max(3, len(sentence) // 3)


class FakeTranscriber:
    """Hears the scripted texts in order; remembers the hints it was given."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.hints: List[Tuple[str, ...]] = []

    def transcribe(self, pcm: np.ndarray, rate: int = 8000, hints: Sequence[str] = ()) -> Transcript:
        self.hints.append(tuple(hints))
        text = self.texts.pop(0) if self.texts else ""
        return Transcript(text=text, seconds=0.01, no_speech_prob=0.01, avg_logprob=-0.2)


APOLOGY = "Sorry, I didn't get that."


def chunks(*texts: str) -> List[str]:
    """The chunks the call synthesizes these lines in, one after the other."""
    return [chunk for text in texts for chunk in speech_chunks(text)]


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", text.lower()))


class FakeBot:
    """Answers the scripted texts (compared by their words), anything else with an apology."""

    def __init__(self, replies: Dict[str, List[Dict[str, Any]]]) -> None:
        self.replies = {words(text): reply for text, reply in replies.items()}
        self.messages: List[Tuple[str, str]] = []

    async def send(self, sender: str, text: str) -> List[Dict[str, Any]]:
        self.messages.append((sender, text))
        return self.replies.get(words(text), [{"text": APOLOGY}])


class FakePhone:
    def __init__(self) -> None:
        self.actions: List[Tuple[str, str, float]] = []

    async def transfer(self, call_sid: str) -> bool:
        self.actions.append(("transfer", call_sid, time.monotonic()))
        return True

    async def hang_up(self, call_sid: str) -> bool:
        self.actions.append(("hang up", call_sid, time.monotonic()))
        return True


def hum(seconds: float) -> List[bytes]:
    """A voiced, vowel-like sound (a 140 Hz pulse train through three formants) the real endpointer
    takes for speech."""
    rate = 8000
    t = np.arange(int(rate * seconds)) / rate
    source = (np.sin(2 * np.pi * 140 * t) > 0.95).astype(float)
    for formant, bandwidth in ((700, 110), (1200, 120), (2600, 160)):
        b, a = signal.iirpeak(formant, formant / bandwidth, fs=rate)
        source = signal.lfilter(b, a, source)
    wave = source / np.abs(source).max() * 0.5 * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return mulaw_frames((wave * 32767).astype(np.int16))


class FakeTwilio:
    """Twilio's end of the stream, sped up 4x: the caller's frames in, our messages recorded with the
    time they arrived, each mark returned as soon as it arrives (played)."""

    FRAME_GAP_S = 0.005

    def __init__(self) -> None:
        self.inbound: asyncio.Queue = asyncio.Queue()
        self.sent: List[Tuple[float, Dict[str, Any]]] = []
        self.closed = False

    async def send(self, message: Dict[str, Any]) -> None:
        self.sent.append((time.monotonic(), message))
        if message["event"] == "mark":
            self.inbound.put_nowait(media_stream.twilio_mark(0, "MZ1", message["mark"]["name"]))

    async def close(self) -> None:
        self.closed = True
        self.inbound.put_nowait(None)

    async def messages(self) -> AsyncIterator[Dict[str, Any]]:
        while (message := await self.inbound.get()) is not None:
            yield message

    async def play(self, frames: Sequence[bytes]) -> None:
        for frame in frames:
            self.inbound.put_nowait(media_stream.twilio_media(0, "MZ1", 0, 0, frame))
            await asyncio.sleep(self.FRAME_GAP_S)

    async def say_something(self, seconds: float = 1.0) -> None:
        await self.play(hum(seconds) + [SILENT_FRAME] * 40)

    async def hang_up(self) -> None:
        self.inbound.put_nowait(media_stream.twilio_stop(0, "MZ1", "CA1", ACCOUNT_SID))

    def events(self) -> List[str]:
        return [message["event"] for _, message in self.sent]

    def times(self, event: str) -> List[float]:
        return [at for at, message in self.sent if message["event"] == event]


class Call:
    """A CallSession on fakes, run as a task; the test plays the caller."""

    def __init__(self, transcripts: Sequence[str], replies: Dict[str, List[Dict[str, Any]]], **settings: Any):
        self.settings = voice_settings(**settings)
        self.speaker = FakeSpeaker()
        self.transcriber = FakeTranscriber(transcripts)
        self.bot = FakeBot(replies)
        self.phone = FakePhone()
        self.twilio = FakeTwilio()
        self.turns: List[Any] = []
        self.session: Optional[CallSession] = None
        self.task: Optional[asyncio.Task] = None

    async def start(self) -> None:
        engines = Engines(transcriber=self.transcriber, speaker=self.speaker, endpointer=EndpointerConfig())
        start = StreamStart.from_message(
            media_stream.twilio_start(1, "MZ1", "CA" + "c" * 32, ACCOUNT_SID, {})
        )
        assert start is not None
        self.session = CallSession(
            start, self.settings, engines, self.twilio, self.bot, self.phone, on_turn=self.turns.append
        )
        self.task = asyncio.create_task(self.session.run(self.twilio.messages()))

    async def until(self, condition: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, (
                f"timed out; said {self.speaker.said}, sent {self.twilio.events()}"
            )
            await asyncio.sleep(0.01)

    async def end(self, timeout: float = 10.0) -> None:
        assert self.task is not None
        if not self.task.done():
            await self.twilio.hang_up()
        await asyncio.wait_for(self.task, timeout)


def run(scenario: Any) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), 30))


# ---- a call's turn-taking ---------------------------------------------------------------------------------


def test_a_turn_goes_from_the_callers_speech_to_the_bot_and_back_as_paced_audio() -> None:
    reply = [
        {"text": "I found 3 trainers: 1. Stridewell Runner, $24.99 2. Puma Dash, $30.00 3. Nike Go, $45.00"}
    ]
    call = Call(["I need running shoes for my son"], {"I need running shoes for my son": reply})

    async def scenario() -> None:
        await call.start()
        await call.until(lambda: "mark" in call.twilio.events())  # the greeting has been sent
        assert call.speaker.said == ["Hi, this is Shopcue."]
        greeted = len(call.twilio.sent)
        await call.twilio.say_something()
        await call.until(lambda: len(call.turns) == 1)  # the reply has been played
        await call.end()
        answer = [at for at, message in call.twilio.sent[greeted:] if message["event"] == "media"]
        assert len(answer) > 20
        expected = (len(answer) - 1) * 0.02 - LEAD_S  # the first frames go out ahead, the rest in real time
        assert answer[-1] - answer[0] >= expected - 0.02, "the reply is paced at 20 ms a frame, not dumped"

    run(scenario)
    sender, text = call.bot.messages[0]
    assert sender.startswith("call-") and "c" * 16 not in sender, "the sender id is derived, not the CallSid"
    assert "running shoes" in text.lower()
    assert call.speaker.said[1:] == chunks(for_the_ear(reply)), "the reply, in chunks"
    assert len(call.speaker.said) > 2, "a long reply is synthesized a clause at a time"
    assert "trainers" in call.transcriber.hints[0], "catalog words are hints to the recogniser"
    [turn] = call.turns
    assert turn.outcome == "reply" and turn.total_ms is not None
    assert turn.total_ms >= turn.vad_ms + turn.stt_ms + turn.bot_ms
    assert turn.vad_ms == EndpointerConfig().silence_ms


def test_speaking_over_the_bot_clears_playback_and_stops_sending() -> None:
    long_reply = [{"text": ". ".join(f"Product number {n} is a lovely pair of trainers" for n in range(12))}]
    call = Call(["show me trainers", "cheaper ones"], {"show me trainers": long_reply})

    async def scenario() -> None:
        await call.start()
        await call.until(lambda: "mark" in call.twilio.events())  # the greeting has been sent
        await call.twilio.say_something()
        await call.until(lambda: len(call.speaker.said) >= 2)
        await asyncio.sleep(0.5)  # the long reply is playing
        await call.twilio.play(hum(1.0))
        await call.until(lambda: "clear" in call.twilio.events())
        cleared = call.twilio.times("clear")[-1]
        await call.twilio.play([SILENT_FRAME] * 40)
        await call.until(lambda: APOLOGY in call.speaker.said)  # the answer to what the caller said
        await call.end()
        answered = call.speaker.said_at[call.speaker.said.index(APOLOGY)]
        late = [at for at in call.twilio.times("media") if cleared < at < answered]
        assert not late, "no audio of the interrupted reply after the clear"

    run(scenario)
    assert [words(text) for _, text in call.bot.messages] == ["show me trainers", "cheaper ones"]


def test_silence_gets_a_reprompt_then_a_goodbye_and_the_call_is_hung_up() -> None:
    call = Call([], {})

    async def scenario() -> None:
        await call.start()
        await call.until(lambda: call.twilio.closed)
        await call.end()

    run(scenario)
    assert call.speaker.said == chunks("Hi, this is Shopcue.", STILL_THERE, SILENT_GOODBYE)
    assert [action for action, _, _ in call.phone.actions] == ["hang up"]
    assert call.session is not None and call.session.outcome == "goodbye"


def test_audio_we_cannot_make_out_is_asked_again_then_the_call_ends_politely() -> None:
    call = Call(["", ""], {})

    async def scenario() -> None:
        await call.start()
        await call.twilio.say_something()
        await call.until(lambda: chunks(NOT_CAUGHT)[-1] in call.speaker.said)
        await call.twilio.say_something()
        await call.until(lambda: call.twilio.closed)
        await call.end()

    run(scenario)
    assert call.speaker.said == chunks("Hi, this is Shopcue.", NOT_CAUGHT, UNCLEAR_GOODBYE)
    assert call.bot.messages == [], "nothing the recogniser could not make out reaches the bot"
    assert [action for action, _, _ in call.phone.actions] == ["hang up"]
    assert [turn.outcome for turn in call.turns] == ["not caught", "not caught"]


def test_a_handoff_reply_is_said_then_the_call_is_put_through() -> None:
    handoff = [{"text": "I'll pass you to a member of our team."}, {"custom": {"type": "handoff"}}]
    call = Call(["talk to a person"], {"talk to a person": handoff})

    async def scenario() -> None:
        await call.start()
        await call.twilio.say_something()
        await call.until(lambda: call.twilio.closed)
        await call.end()

    run(scenario)
    assert call.speaker.said[-len(chunks(for_the_ear(handoff))) :] == chunks(for_the_ear(handoff))
    [(action, call_sid, at)] = call.phone.actions
    assert action == "transfer" and call_sid == "CA" + "c" * 32
    assert at >= call.twilio.times("mark")[-1], "put through only after the line was played"
    assert call.session is not None and call.session.outcome == "transferred"


def test_without_a_handoff_number_the_caller_is_told_and_the_call_goes_on() -> None:
    handoff = [{"text": "I'll pass you to a member of our team."}, {"custom": {"type": "handoff"}}]
    call = Call(["talk to a person"], {"talk to a person": handoff}, handoff_number="")

    async def scenario() -> None:
        await call.start()
        await call.twilio.say_something()
        await call.until(lambda: chunks(NO_TRANSFER)[-1] in call.speaker.said)
        await call.end()

    run(scenario)
    assert call.phone.actions == [] and not call.twilio.closed


@pytest.mark.parametrize("keep", [False, True])
def test_caller_audio_is_kept_only_when_the_setting_says_so(keep: bool, tmp_path: Path) -> None:
    call = Call(["show me trainers"], {}, keep_audio=keep, audio_dir=tmp_path / "audio")

    async def scenario() -> None:
        await call.start()
        await call.twilio.say_something()
        await call.until(lambda: len(call.turns) == 1 and APOLOGY in call.speaker.said)
        await call.end()

    run(scenario)
    kept = sorted((tmp_path / "audio").glob("*/*.wav")) if (tmp_path / "audio").exists() else []
    if keep:
        assert [path.name for path in kept] == ["turn-001.wav"] and kept[0].parent.name.startswith("call-")
        pcm, rate = read_wav(kept[0])
        assert rate == 8000 and len(pcm) >= 8000, "the whole utterance, at the phone's rate"
    else:
        assert kept == []


def test_a_long_reply_is_cut_at_clauses_so_its_first_words_come_quickly() -> None:
    reply = (
        "For trainers, I found five: Adidas Cloud Runner Trainers in pink for 44 dollars 99, Converse Boys' "
        "Running Trainers in gold for 61 dollars 99, and three more. Want details on one?"
    )
    parts = speech_chunks(reply)
    assert parts[0] == "For trainers, I found five:" and parts[-1] == "Want details on one?"
    assert " ".join(parts) == reply and all(len(part) <= CHUNK_CHARS + 15 for part in parts)
    assert speech_chunks("Hi, this is Shopcue.") == ["Hi, this is Shopcue."], "short sentences stay whole"


def test_a_chunk_the_bot_said_lately_is_not_synthesized_again() -> None:
    engines = fake_engines()
    first = list(engines.sentences("For trainers, I found five: A, B and C. Want details on one?"))
    again = list(engines.sentences("For boots, I found two: D and E. Want details on one?"))
    assert engines.speaker.said.count("Want details on one?") == 1
    assert first[-1] == again[-1], "the repeat sounds the same"


def test_after_a_size_question_sizes_are_the_first_hints() -> None:
    hints = hints_for("Which size would you like? In stock: 8, 9, 10.")
    assert hints[:3] == ("8", "9", "10") and "medium" in hints and "trainers" in hints
    assert hints_for("I found 3 trainers.")[0] != "8"


# ---- the media stream's door ------------------------------------------------------------------------------


def answered_call(client: TestClient, call_sid: str) -> str:
    form = incoming_form(call_sid)
    response = post_incoming(client, form, sign(AUTH_TOKEN, f"{PUBLIC_URL}/voice/incoming", form))
    return stream_token(response.text)[1]


def fake_engines() -> Engines:
    return Engines(transcriber=FakeTranscriber([]), speaker=FakeSpeaker(), endpointer=EndpointerConfig())


def open_stream(client: TestClient, call_sid: str, token: Optional[str]) -> Dict[str, Any]:
    """Start a stream as Twilio would; the first message the service sends back."""
    parameters = {"token": token} if token is not None else {}
    with client.websocket_connect("/voice/stream") as websocket:
        websocket.send_json(media_stream.twilio_connected())
        websocket.send_json(media_stream.twilio_start(1, "MZ1", call_sid, ACCOUNT_SID, parameters))
        message = websocket.receive_json()
        websocket.send_json(media_stream.twilio_stop(2, "MZ1", call_sid, ACCOUNT_SID))
        return message


@pytest.mark.parametrize("how", ["no token", "an unknown token", "the token of another call", "a used token"])
def test_the_stream_refuses_a_call_without_a_valid_token(how: str) -> None:
    client = TestClient(create_app(voice_settings(), engines=fake_engines()))
    call_sid = "CA" + "d" * 32
    token: Optional[str] = answered_call(client, call_sid)
    if how == "no token":
        token = None
    elif how == "an unknown token":
        token = "x" * 32
    elif how == "the token of another call":
        call_sid = "CA" + "e" * 32
    elif how == "a used token":
        assert open_stream(client, call_sid, token)["event"] == "media", "the first use is served"
    with pytest.raises(WebSocketDisconnect) as refused:
        open_stream(client, call_sid, token)
    assert refused.value.code == 1008


def test_the_stream_of_an_answered_call_is_greeted() -> None:
    client = TestClient(create_app(voice_settings(), engines=fake_engines()))
    call_sid = "CA" + "f" * 32
    message = open_stream(client, call_sid, answered_call(client, call_sid))
    assert message["event"] == "media" and message["streamSid"] == "MZ1"


def test_a_stream_that_does_not_start_is_closed() -> None:
    client = TestClient(create_app(voice_settings(), engines=fake_engines()))
    with client.websocket_connect("/voice/stream") as websocket:
        websocket.send_json(media_stream.twilio_media(1, "MZ1", 1, 0, SILENT_FRAME))
        with pytest.raises(WebSocketDisconnect) as refused:
            websocket.receive_json()
    assert refused.value.code == 1008


def test_turn_latencies_are_served_per_call_with_percentiles_of_the_answered_turns() -> None:
    settings = voice_settings()
    app = create_app(settings, engines=fake_engines())
    mine, other = settings.sender_id("CA" + "1" * 32), settings.sender_id("CA" + "2" * 32)
    for turn, total in enumerate((900.0, 1100.0, 1300.0, 2000.0), 1):
        app.state.voice.turns.append(TurnLatency(call=mine, turn=turn, vad_ms=600, total_ms=total))
    app.state.voice.turns.append(TurnLatency(call=mine, turn=5, outcome="not caught", total_ms=650.0))
    app.state.voice.turns.append(TurnLatency(call=other, turn=1, total_ms=5000.0))
    report = TestClient(app).get("/voice/turns", params={"call": "CA" + "1" * 32}).json()
    assert [turn["turn"] for turn in report["turns"]] == [1, 2, 3, 4, 5]
    summary = report["summary"]
    assert summary["turns"] == 4 and summary["p50_ms"] == 1200.0 and summary["vad_p50_ms"] == 600.0
    assert 1300.0 < summary["p95_ms"] < 2000.0


# ---- privacy ----------------------------------------------------------------------------------------------


def test_a_phone_number_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = TestClient(create_app(voice_settings(), engines=fake_engines()))
    for signature in (sign(AUTH_TOKEN, f"{PUBLIC_URL}/voice/incoming", incoming_form()), "forged", None):
        post_incoming(client, incoming_form(), signature)
    call_sid = "CA" + "9" * 32
    open_stream(client, call_sid, answered_call(client, call_sid))
    log_event(get_logger("voice.test"), "careless.line", caller=CALLER, spoken="call me on 07700 900123")
    assert "incoming.answered" in caplog.text and "incoming.refused" in caplog.text, "the calls were logged"
    assert "careless.line" in caplog.text
    digits = CALLER.lstrip("+")
    for record in caplog.records:
        message = record.getMessage()
        assert digits not in message and "900123" not in message and "5005550" not in message, message


def test_sender_ids_are_stable_per_call_and_reveal_nothing() -> None:
    settings = voice_settings(sender_secret="s3cret")
    first = settings.sender_id("CA" + "1" * 32)
    assert first == settings.sender_id("CA" + "1" * 32) != settings.sender_id("CA" + "2" * 32)
    assert first.startswith("call-") and len(first) == 21 and "1111" not in first
    assert voice_settings(sender_secret="other").sender_id("CA" + "1" * 32) != first


def test_the_voice_service_sends_the_rest_token_when_one_is_set_and_its_sender_for_the_balancer() -> None:
    """Off the Rasa server's machine the REST channel needs SHOPCUE_REST_TOKEN; the voice service sends it,
    and the call's sender id in the header nginx hashes on."""
    import asyncio
    import http.server
    import threading

    from voice.conversation import RasaRest

    seen, senders = [], []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            seen.append(self.headers.get("Authorization"))
            senders.append(self.headers.get("X-Shopcue-Sender"))
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'[{"text": "hello"}]'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks/rest/webhook"

    async def one_turn(token: str) -> list:
        bot = RasaRest(url, 5.0, token)
        try:
            return await bot.send("call-1", "hi")
        finally:
            await bot.aclose()

    try:
        assert asyncio.run(one_turn("s3cret")) == [{"text": "hello"}]
        asyncio.run(one_turn(""))
    finally:
        server.shutdown()
    assert seen == ["Bearer s3cret", None]
    assert senders == ["call-1", "call-1"], "the load balancer keeps a call on one instance by this header"
