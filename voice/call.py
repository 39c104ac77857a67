"""One phone call: the caller's audio in, the bot's voice out, over a Twilio media stream.

Per call: the greeting, then turns. The caller's 20 ms frames feed the endpointer; an utterance it ends
goes to speech recognition (a worker thread), its text to the bot over REST, the bot's replies made for
the ear to the voice, sentence by sentence, paced in real time with a mark after each sentence. The
caller speaking over the bot stops playback (`clear`); silence, or speech we cannot make out, gets a
re-prompt, then a goodbye; a reply asking for a person transfers the call.

Everything here runs on the event loop except recognition and synthesis, which run in one thread each
(shared by all calls: the models are loaded once, and one of each at a time is what two cores afford).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence

import numpy as np
from pydantic import BaseModel

from voice import media_stream
from voice.audio import FRAME_MS, FRAME_SAMPLES, PHONE_RATE, mulaw_decode, write_wav
from voice.conversation import BotUnavailableError, hints_for, reply_text, wants_handoff
from voice.logs import get_logger, log_event
from voice.media_stream import StreamStart
from voice.settings import VoiceSettings
from voice.spoken_text import for_the_ear, normalise_transcript
from voice.stt import SttConfig, Transcriber, Transcript
from voice.tts import Speaker, TtsConfig
from voice.vad import Endpointer, EndpointerConfig, SpeechStarted, UtteranceEnded

logger = get_logger(__name__)

FRAME_S = FRAME_MS / 1000
# Audio is sent this far ahead of real time, so the event loop's jitter never leaves Twilio's player
# without a frame; a barge-in's `clear` drops it.
LEAD_S = 3 * FRAME_S
# Replies are synthesized in chunks of about this many characters, cut at a clause (",", ":" or ";")
# and never shorter than CHUNK_MIN_CHARS: the voice synthesizes a whole chunk before any of it plays,
# and a reply's first sentence is often one long list ("For trainers, I found five: ..., ..., and two
# more."): whole, 16 s of audio took 2.7 s to synthesize before the first frame; its first clause 0.2 s.
# The first chunk is kept shorter still; later chunks are synthesized while the earlier ones play.
CHUNK_CHARS = 60
FIRST_CHUNK_CHARS = 32
CHUNK_MIN_CHARS = 16
_CLAUSE_END = re.compile(r"[,;:](?=\s)")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
# How many synthesized chunks are kept for repeats (a 3 s chunk is 24 KB of mu-law).
RECENT_CHUNKS = 512
# Silence after a chunk: a comma's pause after a clause, a sentence's after a sentence (voice/tts.py
# puts the same between the sentences it splits itself).
CLAUSE_PAUSE = [b"\xff" * FRAME_SAMPLES] * 5
SENTENCE_PAUSE = [b"\xff" * FRAME_SAMPLES] * 10
# How long past its expected play-out to wait for a mark before ending or transferring the call anyway.
MARK_GRACE_S = 2.0

# What the call says by itself (the bot's own words come from the Rasa server).
STILL_THERE = "Are you still there? Tell me what you're looking for, or just hang up when you're done."
NOT_CAUGHT = "Sorry, I didn't catch that, could you say it again?"
SILENT_GOODBYE = "I'll end the call for now. Thanks for calling Shopcue, goodbye!"
UNCLEAR_GOODBYE = "Sorry, the line isn't clear enough for me to understand you. Please call again. Goodbye!"
NO_TRANSFER = (
    "Sorry, nobody can take calls on this line right now. I can keep helping you find things, though."
)
TRANSFER_FAILED = "Sorry, I couldn't put you through just now. I can keep helping you find things, though."
BOT_DOWN = "Sorry, I'm having trouble looking that up right now. Could you try again in a moment?"
NO_ANSWER = "Sorry, I have no answer to that right now. Could you put it another way?"
# The re-prompt and the goodbye, by reason.
REPROMPTS = {"silence": (STILL_THERE, SILENT_GOODBYE), "not caught": (NOT_CAUGHT, UNCLEAR_GOODBYE)}
# Said often and known in advance: synthesized once at startup, so they start at once.
FIXED_LINES = (
    STILL_THERE,
    NOT_CAUGHT,
    SILENT_GOODBYE,
    UNCLEAR_GOODBYE,
    NO_TRANSFER,
    TRANSFER_FAILED,
    BOT_DOWN,
)


class TurnLatency(BaseModel):
    """One caller turn, timed from the caller's last word to the first frame of our reply audio."""

    call: str  # the call's sender id
    turn: int  # 1 for the caller's first utterance
    outcome: str = "reply"  # reply, handoff, not caught, bot unavailable, dropped (the caller went on)
    speech_ms: float = 0.0  # how long the caller spoke
    vad_ms: float = 0.0  # the endpointer's silence window: last word -> end of turn decided
    queue_ms: float = 0.0  # waiting for the previous turn to finish
    stt_ms: float = 0.0  # speech recognition
    bot_ms: float = 0.0  # the Rasa server (NLU, dialogue, actions)
    tts_ms: float = 0.0  # the bot's text -> the first audio frame sent (the first chunk's synthesis)
    total_ms: Optional[float] = None  # last word -> first reply frame sent; None when nothing was said


class Transport(Protocol):
    """The media-stream WebSocket, as the call uses it."""

    async def send(self, message: Dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class Bot(Protocol):
    """The Rasa server's REST channel."""

    async def send(self, sender: str, text: str) -> List[Dict[str, Any]]: ...


class Phone(Protocol):
    """Live-call updates (Twilio's REST API): put the call through to a person, or hang up."""

    async def transfer(self, call_sid: str) -> bool: ...

    async def hang_up(self, call_sid: str) -> bool: ...


@dataclasses.dataclass
class Engines:
    """The models every call shares: speech recognition, the voice, and the endpointer's settings."""

    transcriber: Transcriber
    speaker: Speaker
    endpointer: EndpointerConfig
    # Sentence frames of lines synthesized in advance (the greeting, FIXED_LINES), by text.
    prepared: Dict[str, List[List[bytes]]] = dataclasses.field(default_factory=dict)
    # The latest chunks synthesized, by text: the bot repeats itself ("Want details on one?", the
    # handoff line, "For trainers, I found five:"), and a repeat then starts at once.
    recent: OrderedDict[str, List[List[bytes]]] = dataclasses.field(default_factory=OrderedDict)
    stt_thread: ThreadPoolExecutor = dataclasses.field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="voice-stt")
    )
    tts_thread: ThreadPoolExecutor = dataclasses.field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="voice-tts")
    )

    @classmethod
    def load(cls, settings: VoiceSettings) -> Engines:
        """Load and warm up the models (a few seconds): the first call must not pay for it."""
        started = time.perf_counter()
        endpointer = EndpointerConfig()
        if settings.end_of_turn_silence_ms is not None:
            endpointer.silence_ms = settings.end_of_turn_silence_ms
        engines = cls(
            transcriber=Transcriber(SttConfig()), speaker=Speaker(TtsConfig()), endpointer=endpointer
        )
        engines.prepare([settings.greeting, *FIXED_LINES])
        frames = [frame for sentence in engines.prepared[settings.greeting] for frame in sentence]
        engines.transcriber.transcribe(mulaw_decode(b"".join(frames)), PHONE_RATE, hints_for(""))
        log_event(logger, "engines.ready", seconds=time.perf_counter() - started)
        return engines

    def prepare(self, texts: Sequence[str]) -> None:
        """Synthesize these lines now, so saying them later costs nothing."""
        for text in texts:
            self.prepared[text] = list(self._synthesize(text))

    def sentences(self, text: str) -> Iterator[List[bytes]]:
        """The text's frames a chunk (a sentence or a clause) at a time, each with its pause after it:
        prepared lines at once, others as synthesized."""
        if text in self.prepared:
            return iter(self.prepared[text])
        return self._synthesize(text)

    def _synthesize(self, text: str) -> Iterator[List[bytes]]:
        for chunk in speech_chunks(text):
            pause = SENTENCE_PAUSE if chunk[-1] in ".?!" else CLAUSE_PAUSE
            parts = self._chunk(chunk)
            for index, frames in enumerate(parts):
                yield [*frames, *pause] if index == len(parts) - 1 else frames

    def _chunk(self, chunk: str) -> List[List[bytes]]:
        """One chunk's frames (per sentence the voice made of it), from `recent` when said lately."""
        parts = self.recent.get(chunk)
        if parts is None:
            parts = self.recent[chunk] = list(self.speaker.iter_phone_frames(chunk))
            if len(self.recent) > RECENT_CHUNKS:
                self.recent.popitem(last=False)
        self.recent.move_to_end(chunk)
        return parts

    def new_endpointer(self) -> Endpointer:
        """A fresh endpointer for one call (it keeps the call's state)."""
        return Endpointer(dataclasses.replace(self.endpointer))

    def close(self) -> None:
        self.stt_thread.shutdown(wait=False, cancel_futures=True)
        self.tts_thread.shutdown(wait=False, cancel_futures=True)


def speech_chunks(text: str) -> List[str]:
    """The text cut into sentences, and long sentences at clauses into chunks of about CHUNK_CHARS
    (the first one about FIRST_CHUNK_CHARS)."""
    chunks: List[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        while len(sentence) > (limit := CHUNK_CHARS if chunks else FIRST_CHUNK_CHARS):
            cuts = [m.end() for m in _CLAUSE_END.finditer(sentence) if m.end() >= CHUNK_MIN_CHARS]
            cut = max((c for c in cuts if c <= limit), default=min(cuts, default=0))
            if not cut or len(sentence) - cut < CHUNK_MIN_CHARS:
                break
            chunks.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            chunks.append(sentence)
    return chunks


@dataclasses.dataclass
class _Heard:
    utterance: UtteranceEnded
    at: float  # loop time the end of the utterance was decided


class CallSession:
    """The conversation on one media stream, from the greeting until someone hangs up."""

    def __init__(
        self,
        start: StreamStart,
        settings: VoiceSettings,
        engines: Engines,
        transport: Transport,
        bot: Bot,
        phone: Phone,
        on_turn: Optional[Callable[[TurnLatency], None]] = None,
    ) -> None:
        self.settings = settings
        self.engines = engines
        self.transport = transport
        self.bot = bot
        self.phone = phone
        self.on_turn = on_turn
        self.stream_sid = start.stream_sid
        self.call_sid = start.call_sid
        self.sender = settings.sender_id(start.call_sid)
        self.endpointer = engines.new_endpointer()
        self.turns: List[TurnLatency] = []
        self.outcome = ""  # how the call ended: caller hung up, goodbye, transferred
        self._loop = asyncio.get_running_loop()
        self._utterances: asyncio.Queue[_Heard] = asyncio.Queue()
        self._inbound = bytearray()
        self._playback: Optional[asyncio.Task] = None
        self._play_clock = 0.0  # loop time when the audio sent so far will have been played
        self._quiet_since = self._loop.time()  # start of the silence the re-prompt timer measures
        self._marks: Dict[str, asyncio.Future] = {}
        self._mark_count = 0
        self._last_mark = ""
        self._last_reply = ""  # the bot's latest text: what the caller is answering
        self._reprompts = 0  # re-prompts in a row (silence or not caught)

    # ---- the call's life ------------------------------------------------------------------------

    async def run(self, messages: AsyncIterator[Mapping[str, Any]]) -> None:
        """Converse until Twilio stops the stream or we end the call; never raises for a call's end."""
        started = self._loop.time()
        log_event(logger, "call.started", call=self.sender)
        reader = asyncio.create_task(self._read(messages), name=f"{self.sender}-read")
        talker = asyncio.create_task(self._converse(), name=f"{self.sender}-talk")
        try:
            await asyncio.wait({reader, talker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, talker, self._playback):
                if task is not None and not task.done():
                    task.cancel()
            await asyncio.gather(reader, talker, return_exceptions=True)
        for task in (reader, talker):
            error = None if task.cancelled() else task.exception()
            if error is not None:
                logger.error("call.failed call=%s", self.sender, exc_info=error)
                self.outcome = self.outcome or "failed"
        log_event(
            logger,
            "call.ended",
            call=self.sender,
            outcome=self.outcome or "caller hung up",
            turns=len(self.turns),
            seconds=self._loop.time() - started,
        )

    async def _read(self, messages: AsyncIterator[Mapping[str, Any]]) -> None:
        async for message in messages:
            event = message.get("event")
            if event == "media":
                await self._hear(media_stream.media_payload(message))
            elif event == "mark":
                self._mark_played(media_stream.mark_name(message))
            elif event == "stop":
                self.outcome = self.outcome or "caller hung up"
                return

    async def _hear(self, data: bytes) -> None:
        """Twilio's audio (any length; 160 bytes normally) through the endpointer, a frame at a time."""
        self._inbound += data
        while len(self._inbound) >= FRAME_SAMPLES:
            frame = mulaw_decode(bytes(self._inbound[:FRAME_SAMPLES]))
            del self._inbound[:FRAME_SAMPLES]
            for event in self.endpointer.feed(frame):
                if isinstance(event, SpeechStarted):
                    await self._caller_started()
                elif isinstance(event, UtteranceEnded):
                    self._utterances.put_nowait(_Heard(event, self._loop.time()))

    async def _caller_started(self) -> None:
        """Barge-in: the caller speaking over our audio stops it, here and in Twilio's queue."""
        self._quiet_since = self._loop.time()
        playing = self._playback is not None and not self._playback.done()
        if playing or self._play_clock > self._loop.time():
            if playing:
                self._playback.cancel()
            self._play_clock = self._loop.time()
            await self.transport.send(media_stream.clear(self.stream_sid))
            log_event(logger, "call.barge_in", call=self.sender)

    async def _converse(self) -> None:
        await self._say(self.settings.greeting)
        while True:
            heard = await self._next_utterance()
            if heard is None:
                if not await self._reprompt("silence"):
                    return
            elif not await self._take_turn(heard):
                return

    async def _next_utterance(self) -> Optional[_Heard]:
        """The caller's next utterance, or None after the silence timeout (never while they speak)."""
        timeout = self.settings.silence_timeout_s
        while True:
            if not self._utterances.empty():
                return self._utterances.get_nowait()
            if self.endpointer.in_speech:
                wait = timeout
            else:
                wait = self._quiet_since + timeout - self._loop.time()
                if wait <= 0:
                    return None
            try:
                return await asyncio.wait_for(self._utterances.get(), wait)
            except TimeoutError:
                continue

    # ---- one turn ---------------------------------------------------------------------------------

    async def _take_turn(self, heard: _Heard) -> bool:
        """Answer one utterance; False when the call is over."""
        utterance = heard.utterance
        record = TurnLatency(
            call=self.sender,
            turn=len(self.turns) + 1,
            speech_ms=utterance.speech_ms,
            vad_ms=max(0, utterance.detected_at_ms - utterance.ended_at_ms),
            queue_ms=(self._loop.time() - heard.at) * 1000,
        )
        self.turns.append(record)
        if self.settings.keep_audio:
            await self._keep_audio(utterance.pcm, record.turn)
        mark = time.perf_counter()
        transcript = await self._loop.run_in_executor(
            self.engines.stt_thread, self._transcribe, utterance.pcm, hints_for(self._last_reply)
        )
        record.stt_ms, mark = _elapsed_ms(mark), time.perf_counter()
        text = normalise_transcript(transcript.text) if self._caught(transcript) else ""
        if not text.strip():
            record.outcome = "not caught"
            return await self._reprompt("not caught", heard, record)
        self._reprompts = 0
        try:
            replies = await self.bot.send(self.sender, text)
        except BotUnavailableError as error:
            log_event(logger, "call.bot_unavailable", logging.WARNING, call=self.sender, error=error)
            record.outcome, record.bot_ms = "bot unavailable", _elapsed_ms(mark)
            await self._say(BOT_DOWN, heard, record)
            return True
        record.bot_ms = _elapsed_ms(mark)
        if self.endpointer.in_speech or not self._utterances.empty():
            record.outcome = "dropped"  # the caller went on talking: answer what they say next
            self._finish(record)
            return True
        self._last_reply = reply_text(replies)
        if wants_handoff(replies):
            record.outcome = "handoff"
            return not await self._transfer(for_the_ear(replies), heard, record)
        await self._say(for_the_ear(replies) or NO_ANSWER, heard, record)
        return True

    def _transcribe(self, pcm: np.ndarray, hints: tuple) -> Transcript:
        return self.engines.transcriber.transcribe(pcm, PHONE_RATE, hints)

    def _caught(self, transcript: Transcript) -> bool:
        """Whether the recogniser heard words it is reasonably sure of."""
        return bool(transcript.text.strip()) and transcript.avg_logprob >= self.settings.min_avg_logprob

    async def _reprompt(
        self, reason: str, heard: Optional[_Heard] = None, record: Optional[TurnLatency] = None
    ) -> bool:
        """A re-prompt while the budget lasts (True), else the goodbye and the end of the call (False)."""
        text, goodbye = REPROMPTS[reason]
        if self._reprompts >= self.settings.max_reprompts:
            log_event(logger, "call.goodbye", call=self.sender, reason=reason)
            await self._say(goodbye, heard, record)
            await self._end("goodbye")
            return False
        self._reprompts += 1
        log_event(logger, "call.reprompt", call=self.sender, reason=reason)
        await self._say(text, heard, record)
        return True

    async def _transfer(self, line: str, heard: _Heard, record: TurnLatency) -> bool:
        """Say the handoff line and put the call through to a person; False when that cannot be done."""
        if not self.settings.can_transfer:
            log_event(logger, "call.handoff", logging.WARNING, call=self.sender, result="not configured")
            await self._say(NO_TRANSFER, heard, record)
            return False
        await self._say(line, heard, record)
        await self._played_out()
        if not await self.phone.transfer(self.call_sid):
            log_event(logger, "call.handoff", logging.WARNING, call=self.sender, result="failed")
            await self._say(TRANSFER_FAILED)
            return False
        log_event(logger, "call.handoff", call=self.sender, result="transferred")
        self.outcome = "transferred"
        await self.transport.close()
        return True

    async def _end(self, outcome: str) -> None:
        """Hang up once the last words have been heard."""
        self.outcome = outcome
        await self._played_out()
        await self.phone.hang_up(self.call_sid)
        await self.transport.close()

    def _finish(self, record: TurnLatency) -> None:
        log_event(logger, "call.turn", logging.DEBUG, **record.dict())
        if self.on_turn is not None:
            self.on_turn(record)

    async def _keep_audio(self, pcm: np.ndarray, turn: int) -> None:
        folder = Path(self.settings.audio_dir) / self.sender
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"turn-{turn:03d}.wav"
        await self._loop.run_in_executor(None, write_wav, path, pcm, PHONE_RATE)

    # ---- speaking -----------------------------------------------------------------------------------

    async def _say(
        self, text: str, heard: Optional[_Heard] = None, record: Optional[TurnLatency] = None
    ) -> bool:
        """Speak `text` until it has been played; False when the caller interrupted. A turn's record
        gets its TTS and total times from the first frame sent."""
        playback = asyncio.create_task(self._play(text, heard, record), name=f"{self.sender}-play")
        self._playback = playback
        try:
            await asyncio.wait({playback})
        finally:
            if not playback.done():  # we were cancelled ourselves: the call is over
                playback.cancel()
            self._playback = None
            self._quiet_since = self._loop.time()
            if record is not None and heard is not None:
                self._finish(record)
        if playback.cancelled():
            return False
        playback.result()  # a synthesis error ends the call, logged by run()
        return True

    async def _play(self, text: str, heard: Optional[_Heard], record: Optional[TurnLatency]) -> None:
        """Synthesize sentence by sentence (the next while this one plays) and send the frames at the
        pace of playback, a mark after each sentence; returns once Twilio should have played it all."""
        said = time.perf_counter()
        sentences = self.engines.sentences(text)
        pending = self._loop.run_in_executor(self.engines.tts_thread, next, sentences, None)
        first = True
        while True:
            frames = await pending
            if frames is None:
                break
            pending = self._loop.run_in_executor(self.engines.tts_thread, next, sentences, None)
            for frame in frames:
                await self._send_frame(frame)
                if first and record is not None and heard is not None:
                    record.tts_ms = _elapsed_ms(said)
                    record.total_ms = record.vad_ms + (self._loop.time() - heard.at) * 1000
                first = False
            await self._send_mark()
        await asyncio.sleep(max(0.0, self._play_clock - self._loop.time()))

    async def _send_frame(self, frame: bytes) -> None:
        now = self._loop.time()
        if self._play_clock < now:  # Twilio's player ran dry: this frame plays at once
            self._play_clock = now
        await asyncio.sleep(max(0.0, self._play_clock - LEAD_S - now))
        await self.transport.send(media_stream.media(self.stream_sid, frame))
        self._play_clock += FRAME_S

    async def _send_mark(self) -> None:
        self._mark_count += 1
        name = f"sentence-{self._mark_count}"
        self._marks[name] = self._loop.create_future()
        self._last_mark = name
        await self.transport.send(media_stream.mark(self.stream_sid, name))

    def _mark_played(self, name: str) -> None:
        future = self._marks.pop(name, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def _played_out(self) -> None:
        """Wait until Twilio reports our last sentence played (or a grace period past its due time)."""
        future = self._marks.get(self._last_mark)
        if future is None:
            return
        timeout = max(0.0, self._play_clock - self._loop.time()) + MARK_GRACE_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout)


def _elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
