"""Phone audio and the endpointer: G.711 against audioop, resampling, frames, WAV files, the simulated
phone line, and turn ends on Piper speech."""

from __future__ import annotations

import warnings
import wave
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest

from voice.audio import (
    FRAME_SAMPLES,
    PHONE_RATE,
    STT_RATE,
    level_db,
    mulaw_decode,
    mulaw_encode,
    mulaw_frames,
    phone_line,
    read_wav,
    resample,
    to_float,
    to_int16,
    write_wav,
)
from voice.vad import Endpointer, EndpointerConfig, SpeechStarted, UtteranceEnded, VadEvent

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 (deprecated, gone in 3.13; voice.audio does not use it)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return to_int16(amplitude * np.sin(2 * np.pi * freq * t))


def peak_frequency(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(to_float(pcm) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / rate)[np.argmax(spectrum)])


# --- G.711 mu-law ------------------------------------------------------------------------------------


def test_mulaw_encode_is_bit_exact_with_audioop_for_every_sample_value() -> None:
    assert mulaw_encode(ALL_INT16) == audioop.lin2ulaw(ALL_INT16.tobytes(), 2)


def test_mulaw_decode_is_bit_exact_with_audioop_for_every_code() -> None:
    codes = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype=np.int16)
    np.testing.assert_array_equal(mulaw_decode(codes), expected)


def test_mulaw_round_trip_error_is_within_one_quantisation_step() -> None:
    """mu-law's steps double with each segment (8 at the bottom in 16-bit units): the error of a round
    trip stays within the step of the sample's segment, about 3% of the value for loud samples."""
    magnitude = np.abs(ALL_INT16.astype(np.int32))
    error = np.abs(mulaw_decode(mulaw_encode(ALL_INT16)).astype(np.int32) - ALL_INT16.astype(np.int32))
    segment = np.clip(np.floor(np.log2(((magnitude + 3) >> 2) + 33)).astype(np.int32) - 5, 0, 7)
    inside = magnitude <= 32124  # G.711's largest magnitude; louder samples clip to it
    assert np.all(error[inside] <= (8 << segment[inside]))
    assert np.all(error[~inside] <= magnitude[~inside] - 32124 + (8 << 7))
    assert mulaw_encode(np.zeros(4, dtype=np.int16)) == b"\xff" * 4  # silence is 0xFF on the wire


def test_mulaw_encode_refuses_float_audio() -> None:
    with pytest.raises(TypeError):
        mulaw_encode(np.zeros(10, dtype=np.float32))


# --- resampling --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_rate", "to_rate"), [(8000, 16000), (22050, 8000), (16000, 8000), (44100, 16000)]
)
def test_resample_keeps_a_1khz_tone_at_1khz_and_at_its_level(from_rate: int, to_rate: int) -> None:
    source = tone(1000, from_rate)
    out = resample(source, from_rate, to_rate)
    assert out.dtype == np.int16
    assert len(out) == to_rate  # one second stays one second
    assert abs(peak_frequency(out, to_rate) - 1000) <= 2
    assert abs(level_db(out[200:-200]) - level_db(source)) < 0.2


def test_resample_removes_what_the_new_rate_cannot_carry() -> None:
    """A 5 kHz tone cannot exist at 8 kHz: it must be filtered out, not folded back to 3 kHz."""
    out = resample(tone(5000, 22050), 22050, PHONE_RATE)
    assert level_db(out) < level_db(tone(5000, 22050)) - 40


def test_resample_keeps_float_audio_float_and_refuses_other_integers() -> None:
    out = resample(to_float(tone(440, PHONE_RATE)), PHONE_RATE, STT_RATE)
    assert out.dtype == np.float32
    assert np.max(np.abs(out)) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(TypeError):  # int32 samples have no agreed full scale
        resample(tone(440, PHONE_RATE).astype(np.int32), PHONE_RATE, STT_RATE)


def test_to_int16_clips_instead_of_wrapping() -> None:
    np.testing.assert_array_equal(to_int16(np.array([1.5, -1.5, 1.0, 0.0])), [32767, -32768, 32767, 0])


# --- frames and WAV files ----------------------------------------------------------------------------


def test_mulaw_frames_are_160_bytes_and_the_last_is_padded_with_silence() -> None:
    frames = mulaw_frames(tone(440, PHONE_RATE, seconds=0.05))  # 400 samples: 2.5 frames
    assert [len(frame) for frame in frames] == [FRAME_SAMPLES] * 3
    assert frames[-1][80:] == b"\xff" * 80
    assert mulaw_frames(np.zeros(0, dtype=np.int16)) == []


def _write_pcm_wav(path: Path, frames: bytes, width: int, channels: int, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(frames)


def _as_width(pcm: np.ndarray, width: int) -> bytes:
    """int16 samples written at another PCM width (8-bit is unsigned)."""
    if width == 1:
        return ((pcm.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
    wide = pcm.astype(np.int32) << 16
    if width == 4:
        return wide.astype("<i4").tobytes()
    return b"".join(int(v).to_bytes(4, "little", signed=True)[1:] for v in wide)  # 24-bit: top 3 bytes


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_read_wav_reads_every_pcm_width_as_int16(tmp_path: Path, width: int) -> None:
    pcm = tone(440, 16000, seconds=0.1)
    path = tmp_path / f"tone{width}.wav"
    _write_pcm_wav(path, pcm.tobytes() if width == 2 else _as_width(pcm, width), width, 1, 16000)
    read, rate = read_wav(path)
    assert rate == 16000 and read.dtype == np.int16
    tolerance = 256 if width == 1 else 1
    assert np.max(np.abs(read.astype(np.int32) - pcm.astype(np.int32))) <= tolerance


def test_read_wav_mixes_stereo_down(tmp_path: Path) -> None:
    left = tone(440, 8000, seconds=0.1, amplitude=0.4)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    _write_pcm_wav(tmp_path / "s.wav", stereo.tobytes(), 2, 2, 8000)
    mono, _ = read_wav(tmp_path / "s.wav")
    assert mono.shape == left.shape
    assert np.max(np.abs(mono)) == pytest.approx(np.max(np.abs(left)) / 2, abs=2)


def test_write_wav_then_read_wav_round_trips(tmp_path: Path) -> None:
    pcm = tone(300, 8000, seconds=0.2)
    write_wav(tmp_path / "t.wav", pcm, 8000)
    read, rate = read_wav(tmp_path / "t.wav")
    assert rate == 8000
    np.testing.assert_array_equal(read, pcm)


def test_read_wav_says_which_file_is_not_a_wav(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    with pytest.raises(ValueError, match="notes.wav"):
        read_wav(bogus)


# --- the simulated phone line ------------------------------------------------------------------------


def test_phone_line_keeps_the_voice_band_and_cuts_what_a_phone_cannot_carry() -> None:
    rate = 22050
    voice_band = phone_line(tone(1000, rate), rate)
    assert len(voice_band) == PHONE_RATE  # 8 kHz out
    assert abs(level_db(voice_band[800:]) - level_db(tone(1000, rate))) < 1.0
    assert level_db(phone_line(tone(100, rate), rate)[800:]) < level_db(voice_band) - 20  # mains hum
    assert level_db(phone_line(tone(6000, rate), rate)[800:]) < level_db(voice_band) - 40  # sibilance
    line = phone_line(tone(1000, rate), rate)
    assert mulaw_encode(line) == mulaw_encode(mulaw_decode(mulaw_encode(line)))  # already mu-law values


# --- the endpointer ----------------------------------------------------------------------------------

CONFIG = EndpointerConfig()
SENTENCES = ("I need running shoes for my son.", "Size ten, please.", "Do you have it in blue, or in black?")


def feed_all(endpointer: Endpointer, pcm: np.ndarray) -> List[Tuple[int, VadEvent]]:
    """Every event with the stream time (ms) at which it came out."""
    events = []
    for start in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        for event in endpointer.feed(pcm[start : start + FRAME_SAMPLES]):
            events.append((endpointer.position_ms, event))
    return events


def line_noise(samples: int, seed: int = 0) -> np.ndarray:
    """A quiet line's hiss (about -55 dBFS)."""
    return np.random.default_rng(seed).normal(0, 60, samples).astype(np.int16)


@pytest.fixture(scope="module")
def spoken() -> List[np.ndarray]:
    """The sentences spoken by Piper, through the phone line, at 8 kHz; without Piper's noise, so the
    audio is the same on every run."""
    from voice.tts import Speaker, TtsConfig

    speaker = Speaker(TtsConfig(noise_scale=0.0, noise_w_scale=0.0))
    return [phone_line(*speaker.synthesize(text)) for text in SENTENCES]


def speech_end_ms(pcm: np.ndarray) -> float:
    """Where the voice stops: the last sample above 1% of the sentence's peak (-40 dB)."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 0.01 * np.max(np.abs(pcm.astype(np.int32))))
    return (loud[-1] + 1) * 1000 / PHONE_RATE


def test_endpointer_finds_each_utterance_and_ends_it_within_the_silence_window(
    spoken: List[np.ndarray],
) -> None:
    gap = np.zeros(PHONE_RATE, dtype=np.int16)  # 1 s between sentences: longer than silence_ms
    stream, starts, ends = [gap], [], []
    offset = len(gap)
    for pcm in spoken:
        starts.append(offset * 1000 / PHONE_RATE)
        ends.append(offset * 1000 / PHONE_RATE + speech_end_ms(pcm))
        stream += [pcm, gap]
        offset += len(pcm) + len(gap)
    audio = np.concatenate(stream)
    audio = (audio.astype(np.int32) + line_noise(len(audio))).clip(-32768, 32767).astype(np.int16)

    events = feed_all(Endpointer(CONFIG), audio)
    kinds = [type(event).__name__ for _, event in events]
    assert kinds == ["SpeechStarted", "UtteranceEnded"] * len(SENTENCES)
    utterances = [(at, event) for at, event in events if isinstance(event, UtteranceEnded)]
    for (at_ms, utterance), start_ms, end_ms, pcm in zip(utterances, starts, ends, spoken, strict=True):
        assert end_ms <= at_ms <= end_ms + CONFIG.silence_ms + 20  # the turn ends within the window + 1 frame
        assert utterance.detected_at_ms == at_ms
        assert utterance.ended_at_ms == at_ms - CONFIG.silence_ms
        # The audio holds the preroll, the whole sentence and the postroll, not the rest of the silence.
        begins_ms = utterance.ended_at_ms + CONFIG.postroll_ms - len(utterance.pcm) * 1000 / PHONE_RATE
        assert begins_ms <= start_ms - CONFIG.preroll_ms + 60
        assert utterance.ended_at_ms >= end_ms - 100
        assert utterance.speech_ms <= len(pcm) * 1000 / PHONE_RATE


def test_endpointer_ignores_a_60ms_burst_of_voice(spoken: List[np.ndarray]) -> None:
    """A 60 ms scrap of voice (a click, a bump, a word from the next room) is not a turn: no barge-in."""
    audio = line_noise(2 * PHONE_RATE)
    burst = spoken[0][int(0.3 * PHONE_RATE) : int(0.36 * PHONE_RATE)]
    audio[PHONE_RATE : PHONE_RATE + len(burst)] = burst
    endpointer = Endpointer(CONFIG)
    assert feed_all(endpointer, audio) == []
    assert not endpointer.in_speech
    # The same scrap, long enough, is speech.
    longer = spoken[0][int(0.3 * PHONE_RATE) : int(0.6 * PHONE_RATE)]
    audio[PHONE_RATE : PHONE_RATE + len(longer)] = longer
    assert [type(e) for _, e in feed_all(Endpointer(CONFIG), audio)] == [SpeechStarted, UtteranceEnded]


def test_endpointer_does_not_take_line_hiss_for_speech() -> None:
    """Hiss that starts after digital silence (a VoIP caller unmuting) fools the bare VAD: no turn."""
    audio = np.concatenate([np.zeros(PHONE_RATE, dtype=np.int16), line_noise(3 * PHONE_RATE)])
    assert feed_all(Endpointer(CONFIG), audio) == []


def test_endpointer_cuts_a_caller_who_never_pauses(spoken: List[np.ndarray]) -> None:
    config = EndpointerConfig(max_utterance_ms=3000)
    talk = np.concatenate([spoken[0]] * 8)  # ~14 s of speech, no pause as long as silence_ms
    endpointer = Endpointer(config)
    events = feed_all(endpointer, talk)
    cuts = [(at, event) for at, event in events if isinstance(event, UtteranceEnded)]
    assert len(cuts) >= 3
    for _, cut in cuts:
        assert cut.speech_ms <= config.max_utterance_ms
        assert len(cut.pcm) <= (config.max_utterance_ms + config.preroll_ms) * PHONE_RATE // 1000
    assert cuts[0][0] <= config.max_utterance_ms + 1000  # cut while still talking, not at the end
    assert endpointer.in_speech or len(cuts) > 3  # the talk goes on as a new utterance


def test_endpointer_is_deterministic_and_reset_forgets_a_started_utterance(spoken: List[np.ndarray]) -> None:
    audio = np.concatenate([line_noise(4000), spoken[1], line_noise(8000, seed=1)])
    first = feed_all(Endpointer(CONFIG), audio)
    second = feed_all(Endpointer(CONFIG), audio)
    assert [(at, type(e)) for at, e in first] == [(at, type(e)) for at, e in second]
    np.testing.assert_array_equal(first[-1][1].pcm, second[-1][1].pcm)

    endpointer = Endpointer(CONFIG)
    half = 4000 + len(spoken[1]) // 2
    feed_all(endpointer, audio[:half])
    assert endpointer.in_speech
    endpointer.reset()
    assert not endpointer.in_speech and endpointer.position_ms == 0
    assert feed_all(endpointer, np.zeros(PHONE_RATE, dtype=np.int16)) == []


def test_endpointer_refuses_a_frame_of_the_wrong_size() -> None:
    with pytest.raises(ValueError):
        Endpointer().feed(np.zeros(80, dtype=np.int16))
