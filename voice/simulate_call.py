"""A phone call without a phone: plays a caller into the voice service exactly as Twilio would, and records
what the bot says back.

    python -m voice.simulate_call --say "I need running shoes for my son" --say "under fifty dollars" \
        [--wav caller.wav ...] [--url ws://localhost:5077/voice/stream] \
        [--incoming-url http://localhost:5077/voice/incoming] [--out DIR]

First it posts a signed incoming-call webhook (the signing token comes from the same SHOPCUE_VOICE_*
settings as the service's), which answers TwiML naming the stream URL and a one-time token. Then it
plays Twilio's side of the media stream: `connected`, `start` with the token, a 20 ms mu-law `media`
frame every 20 ms in real time (silence between lines, so the endpointer ends each turn), then `stop`.
The bot's audio goes through a simulated player: frames play one per 20 ms, a `mark` is sent back when
playback reaches it, and `clear` drops what is queued (returning its marks), as Twilio does.

Each caller line waits for the bot to finish its answer (or, for a barge-in line, starts a set time into
it). Afterwards every bot turn is transcribed (voice.stt) and printed; with --out each turn is also
saved as a WAV. `simulate_call(...)` does the same for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple, Union

import httpx
import numpy as np
import websockets

from voice import media_stream
from voice.audio import (
    FRAME_MS,
    FRAME_SAMPLES,
    PHONE_RATE,
    mulaw_decode,
    mulaw_frames,
    phone_line,
    read_wav,
    write_wav,
)
from voice.settings import VoiceSettings, get_settings
from voice.stt import SttConfig, Transcriber
from voice.tts import Speaker, TtsConfig
from voice.twilio_api import SIGNATURE_HEADER, TOKEN_PARAMETER, sign

FRAME_S = FRAME_MS / 1000
SILENCE_FRAME = b"\xff" * FRAME_SAMPLES  # mu-law code of a zero sample
# A bot turn is over once its player has been idle this long; a new one starts after such a gap.
QUIET_S = 1.0
# How long a caller line waits for the bot to start answering before going on anyway.
REPLY_TIMEOUT_S = 30.0
# A fictional caller (Twilio's test number), as Twilio would send it in the webhook.
CALLER_NUMBER = "+15005550006"
SHOP_NUMBER = "+15005550001"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32


@dataclass
class Line:
    """One thing the caller does: speak (a text in the Piper voice, a WAV file or 8 kHz audio), or stay
    silent for a while. `barge_in_s`: start that many seconds into the bot's answer instead of waiting
    for it to finish."""

    text: str = ""
    wav: Optional[Path] = None
    pcm: Optional[np.ndarray] = None  # 8 kHz int16
    silence_s: float = 0.0
    barge_in_s: Optional[float] = None

    @property
    def label(self) -> str:
        if self.text:
            return self.text
        if self.wav is not None:
            return f"[{self.wav.name}]"
        return "[audio]" if self.pcm is not None else f"[silent {self.silence_s:g} s]"


@dataclass
class BotTurn:
    """What the caller heard between two pauses: the bot's audio as played, and its transcript."""

    started_s: float  # call time the first frame played
    frames: List[bytes] = field(default_factory=list)
    ended_s: float = 0.0
    cleared: bool = False  # the service cut it short with `clear`
    text: str = ""  # filled in by transcribing the audio after the call

    @property
    def seconds(self) -> float:
        return len(self.frames) * FRAME_S

    def pcm(self) -> np.ndarray:
        return mulaw_decode(b"".join(self.frames)) if self.frames else np.zeros(0, dtype=np.int16)


@dataclass
class CallerTurn:
    line: Line
    started_s: float
    ended_s: float  # call time the last frame of the line was sent
    reply_s: Optional[float] = None  # end of the line -> the first reply frame played


@dataclass
class CallRecord:
    """The whole simulated call, in call time (seconds since `start`)."""

    call_sid: str
    bot_turns: List[BotTurn] = field(default_factory=list)
    caller_turns: List[CallerTurn] = field(default_factory=list)
    clears: List[float] = field(default_factory=list)  # call times a `clear` arrived
    frames_after_clear: int = 0  # media frames the service still sent within 0.5 s after a clear
    hung_up_by_service: bool = False
    twiml: str = ""
    # The service's own latency records of this call's turns (GET /voice/turns?call=...).
    service_turns: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def transcript(self) -> str:
        return "\n".join(turn.text for turn in self.bot_turns)


class SimulatedTwilio:
    """Twilio's side of one media stream: the caller's audio out, the bot's audio through a player."""

    def __init__(self, websocket: Any, stream_sid: str, call_sid: str, account_sid: str) -> None:
        self.websocket = websocket
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.record = CallRecord(call_sid=call_sid)
        self.closed = asyncio.Event()
        self._sending = asyncio.Lock()
        self._sequence = 0
        self._outbound: Deque[bytes] = deque()  # the caller's frames still to send
        self._queue: Deque[Union[bytes, str]] = deque()  # the bot's frames and marks, not yet played
        self._idle_since = 0.0  # call time the player last ran out of audio
        self._lines_done = 0  # caller lines finished (a bot turn after one is a new answer)
        self._turn_line = -1
        self._start = 0.0

    @property
    def now(self) -> float:
        return asyncio.get_running_loop().time() - self._start

    def _next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    async def _send(self, message: Dict[str, Any]) -> None:
        async with self._sending:
            if self.closed.is_set():
                return
            try:
                await self.websocket.send(json.dumps(message))
            except websockets.ConnectionClosed:
                self._closed_by_service()

    def _closed_by_service(self) -> None:
        if not self.closed.is_set():
            self.record.hung_up_by_service = True
            self.closed.set()

    async def begin(self, token: str) -> None:
        self._start = asyncio.get_running_loop().time()
        await self._send(media_stream.twilio_connected())
        await self._send(
            media_stream.twilio_start(
                self._next_sequence(),
                self.stream_sid,
                self.call_sid,
                self.account_sid,
                {TOKEN_PARAMETER: token},
            )
        )

    async def finish(self) -> None:
        if not self.closed.is_set():
            await self._send(
                media_stream.twilio_stop(
                    self._next_sequence(), self.stream_sid, self.call_sid, self.account_sid
                )
            )
            self.closed.set()
            await self.websocket.close()

    # ---- the caller's microphone ---------------------------------------------------------------------

    async def microphone(self) -> None:
        """A frame every 20 ms, in real time: the caller's queued audio, else line silence."""
        loop = asyncio.get_running_loop()
        chunk = 0
        due = loop.time()
        while not self.closed.is_set():
            frame = self._outbound.popleft() if self._outbound else SILENCE_FRAME
            chunk += 1
            await self._send(
                media_stream.twilio_media(
                    self._next_sequence(), self.stream_sid, chunk, chunk * FRAME_MS, frame
                )
            )
            due += FRAME_S
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def speak(self, frames: Sequence[bytes]) -> Tuple[float, float]:
        """Queue the frames on the microphone; returns (start, end) call times once all were sent."""
        started = self.now
        self._outbound.extend(frames)
        while self._outbound and not self.closed.is_set():
            await asyncio.sleep(FRAME_S)
        return started, self.now

    # ---- the phone's speaker ---------------------------------------------------------------------------

    async def listen(self) -> None:
        """The service's messages: audio and marks into the player's queue; `clear` empties it."""
        try:
            async for raw in self.websocket:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    self._queue.append(media_stream.media_payload(message))
                    if self.record.clears and self.now - self.record.clears[-1] < 0.5:
                        self.record.frames_after_clear += 1
                elif event == "mark":
                    self._queue.append(media_stream.mark_name(message))
                elif event == "clear":
                    self.record.clears.append(self.now)
                    await self._clear()
        except websockets.ConnectionClosed:
            pass
        self._closed_by_service()

    async def _clear(self) -> None:
        if self.record.bot_turns and self._queue:
            self.record.bot_turns[-1].cleared = True
        pending = [item for item in self._queue if isinstance(item, str)]
        self._queue.clear()
        for name in pending:  # Twilio returns the marks of cleared audio
            await self._send(media_stream.twilio_mark(self._next_sequence(), self.stream_sid, name))

    async def player(self) -> None:
        """Plays one frame per 20 ms; a mark is sent back when playback reaches it."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not self.closed.is_set():
            while self._queue and isinstance(self._queue[0], str):
                name = self._queue.popleft()
                await self._send(media_stream.twilio_mark(self._next_sequence(), self.stream_sid, name))
            if self._queue:
                self._play(self._queue.popleft())
            due += FRAME_S
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = max(due, loop.time() - FRAME_S)

    def _play(self, frame: bytes) -> None:
        now = self.now
        turns = self.record.bot_turns
        if not turns or now - turns[-1].ended_s > QUIET_S or self._turn_line != self._lines_done:
            turns.append(BotTurn(started_s=now))
            self._turn_line = self._lines_done
            for caller in self.record.caller_turns:
                if caller.reply_s is None and not caller.line.silence_s:
                    caller.reply_s = now - caller.ended_s
        turns[-1].frames.append(frame)
        turns[-1].ended_s = now + FRAME_S
        self._idle_since = now + FRAME_S

    @property
    def bot_speaking(self) -> bool:
        return bool(self._queue) or self.now - self._idle_since < QUIET_S

    # ---- the caller's script -----------------------------------------------------------------------------

    async def wait_for_answer(self, barge_in_s: Optional[float] = None) -> None:
        """Until the bot has answered the last line and gone quiet (or, barging in, has spoken that
        long); gives up after REPLY_TIMEOUT_S without an answer."""
        deadline = self.now + REPLY_TIMEOUT_S
        while not self.closed.is_set() and self.now < deadline:
            if self.record.bot_turns and self._turn_line == self._lines_done:  # an answer to the last line
                turn = self.record.bot_turns[-1]
                if barge_in_s is not None and self.now - turn.started_s >= barge_in_s:
                    return
                if barge_in_s is None and not self.bot_speaking:
                    return
            await asyncio.sleep(FRAME_S)

    async def run_line(self, line: Line, frames: Sequence[bytes]) -> None:
        if line.silence_s:
            started = self.now
            deadline = started + line.silence_s
            while not self.closed.is_set() and self.now < deadline:
                await asyncio.sleep(FRAME_S)
            ended = self.now
        else:
            started, ended = await self.speak(frames)
        self.record.caller_turns.append(CallerTurn(line, started, ended))
        self._lines_done += 1


def caller_voice() -> Speaker:
    """The Piper voice without its random variation: the same text is the same audio every run, so a
    simulated call can be repeated (the bot's own voice keeps its variation)."""
    return Speaker(TtsConfig(noise_scale=0.0, noise_w_scale=0.0))


def caller_frames(line: Line, speaker: Optional[Speaker]) -> List[bytes]:
    """The line as 20 ms mu-law frames, as a phone line would carry it."""
    if line.text:
        return list(speaker.phone_frames(line.text))
    if line.wav is not None:
        pcm, rate = read_wav(line.wav)
        return mulaw_frames(phone_line(pcm, rate))
    if line.pcm is not None:
        return mulaw_frames(np.asarray(line.pcm, dtype=np.int16))
    return []


async def answer_incoming(
    settings: VoiceSettings, incoming_url: str, call_sid: str, account_sid: str
) -> Tuple[str, str, str]:
    """Post the signed incoming-call webhook; (TwiML, stream URL, token) from the answer."""
    form = {
        "CallSid": call_sid,
        "AccountSid": account_sid,
        "From": CALLER_NUMBER,
        "To": SHOP_NUMBER,
        "Caller": CALLER_NUMBER,
        "Called": SHOP_NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    # Twilio signs the public URL it called: the one the service checks against.
    signature = sign(settings.signing_token(), settings.incoming_url, form)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(incoming_url, data=form, headers={SIGNATURE_HEADER: signature})
    response.raise_for_status()
    twiml = response.text
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    if stream is None:
        raise RuntimeError(f"the service did not connect a media stream: {twiml}")
    token = next(
        (p.get("value", "") for p in stream.iter("Parameter") if p.get("name") == TOKEN_PARAMETER), ""
    )
    return twiml, stream.get("url", ""), token


async def simulate_call(
    lines: Sequence[Line],
    settings: Optional[VoiceSettings] = None,
    incoming_url: Optional[str] = None,
    stream_url: Optional[str] = None,
    out_dir: Optional[Path] = None,
    speaker: Optional[Speaker] = None,
    transcriber: Optional[Transcriber] = None,
    transcribe: bool = True,
) -> CallRecord:
    """One whole call: the incoming webhook, the stream, the lines in order, then `stop` (unless the
    service hung up first). Bot turns are transcribed when `transcribe` (with `transcriber`, or a new
    `bot_ears()`); caller texts are spoken by `speaker` (or `caller_voice()`)."""
    settings = settings or get_settings()
    incoming_url = incoming_url or settings.incoming_url
    if speaker is None and any(line.text for line in lines):
        speaker = caller_voice()
    prepared = [caller_frames(line, speaker) for line in lines]  # before the call: no CPU taken during it
    call_sid = "CA" + uuid.uuid4().hex
    account_sid = settings.twilio_account_sid or DEFAULT_ACCOUNT_SID
    twiml, twiml_stream_url, token = await answer_incoming(settings, incoming_url, call_sid, account_sid)
    async with websockets.connect(stream_url or twiml_stream_url, max_size=2**20) as websocket:
        twilio = SimulatedTwilio(websocket, "MZ" + uuid.uuid4().hex, call_sid, account_sid)
        twilio.record.twiml = twiml
        await twilio.begin(token)
        tasks = [asyncio.create_task(job()) for job in (twilio.microphone, twilio.listen, twilio.player)]
        try:
            # The greeting, then each line and its answer; a barge-in line starts during the answer before it.
            await twilio.wait_for_answer(lines[0].barge_in_s if lines else None)
            for index, (line, frames) in enumerate(zip(lines, prepared, strict=True)):
                if twilio.closed.is_set():
                    break
                await twilio.run_line(line, frames)
                await twilio.wait_for_answer(lines[index + 1].barge_in_s if index + 1 < len(lines) else None)
            await twilio.finish()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    record = twilio.record
    record.service_turns = await service_turns(incoming_url, call_sid)
    if transcribe:
        await asyncio.to_thread(_transcribe_turns, record, transcriber)
    if out_dir is not None:
        save(record, out_dir)
    return record


async def service_turns(incoming_url: str, call_sid: str) -> List[Dict[str, Any]]:
    """The service's latency records of one call (its /voice/turns beside the incoming webhook)."""
    base = incoming_url.rsplit("/voice/incoming", 1)[0]
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{base}/voice/turns", params={"call": call_sid})
    response.raise_for_status()
    return list(response.json()["turns"])


def bot_ears() -> Transcriber:
    """A recogniser for the bot's turns: the live settings, but room for a long reply's words (the live
    path caps an utterance at a few dozen tokens)."""
    return Transcriber(SttConfig(max_new_tokens=220))


def _transcribe_turns(record: CallRecord, transcriber: Optional[Transcriber]) -> None:
    transcriber = transcriber or bot_ears()
    for turn in record.bot_turns:
        turn.text = transcriber.transcribe(turn.pcm(), PHONE_RATE).text


def save(record: CallRecord, out_dir: Path) -> None:
    """Each bot turn as turn-NN.wav (8 kHz) and the call as call.json (replacing an earlier call's)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("turn-*.wav"):
        old.unlink()
    for number, turn in enumerate(record.bot_turns, 1):
        write_wav(out_dir / f"turn-{number:02d}.wav", turn.pcm(), PHONE_RATE)
    summary = {
        "call_sid": record.call_sid,
        "hung_up_by_service": record.hung_up_by_service,
        "clears": record.clears,
        "caller": [
            {"line": t.line.label, "start_s": t.started_s, "end_s": t.ended_s, "reply_s": t.reply_s}
            for t in record.caller_turns
        ],
        "bot": [
            {"text": t.text, "start_s": t.started_s, "seconds": t.seconds, "cleared": t.cleared}
            for t in record.bot_turns
        ],
        "service_turns": record.service_turns,
    }
    (out_dir / "call.json").write_text(json.dumps(summary, indent=2))


def report(record: CallRecord) -> str:
    """The call as a readable timeline."""
    events = [
        (
            t.started_s,
            f"bot    {t.text or '(no words)'}  [{t.seconds:.1f} s{', cut short' if t.cleared else ''}]",
        )
        for t in record.bot_turns
    ]
    for t in record.caller_turns:
        reply = f"  (answer after {t.reply_s:.2f} s)" if t.reply_s is not None else ""
        events.append((t.started_s, f"caller {t.line.label}{reply}"))
    events += [(at, "       <clear: playback stopped>") for at in record.clears]
    lines = [f"{at:7.2f}s  {text}" for at, text in sorted(events, key=lambda e: e[0])]
    lines.append("call ended by the service" if record.hung_up_by_service else "call ended by the caller")
    for turn in record.service_turns:
        if turn.get("total_ms") is not None:
            lines.append(
                f"turn {turn['turn']} ({turn['outcome']}): last word -> first reply frame "
                f"{turn['total_ms']:.0f} ms: VAD {turn['vad_ms']:.0f}, STT {turn['stt_ms']:.0f}, "
                f"bot {turn['bot_ms']:.0f}, TTS {turn['tts_ms']:.0f}"
            )
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Simulate one phone call against a running voice service and print what the bot said."""
    parser = argparse.ArgumentParser(prog="python -m voice.simulate_call", description=main.__doc__)
    parser.add_argument("--url", help="the media-stream WebSocket (default: the one the TwiML names)")
    parser.add_argument("--incoming-url", help="the incoming-call webhook (default: from the settings)")
    parser.add_argument(
        "--say",
        action="append",
        dest="lines",
        type=lambda t: Line(text=t),
        default=[],
        help="a line the caller says (Piper voice); repeat, in order",
    )
    parser.add_argument(
        "--wav",
        action="append",
        dest="lines",
        type=lambda p: Line(wav=Path(p)),
        help="a WAV file the caller plays; mixes with --say, in order",
    )
    parser.add_argument("--out", type=Path, help="save each bot turn as a WAV and the call as JSON here")
    args = parser.parse_args(argv)
    try:
        record = asyncio.run(
            simulate_call(args.lines, incoming_url=args.incoming_url, stream_url=args.url, out_dir=args.out)
        )
    except (httpx.HTTPError, OSError, websockets.WebSocketException, RuntimeError) as error:
        print(f"simulate_call: {error}", file=sys.stderr)
        return 1
    print(report(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
