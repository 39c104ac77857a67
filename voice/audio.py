"""Phone audio: G.711 mu-law, resampling, 20 ms frames, WAV files and a simulated phone line."""

from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np
from scipy import signal
from scipy.io import wavfile

PHONE_RATE = 8000  # Twilio Media Streams: 8 kHz mono mu-law
FRAME_MS = 20  # one media message carries 20 ms
FRAME_SAMPLES = PHONE_RATE * FRAME_MS // 1000  # 160 samples (and 160 mu-law bytes) per frame
STT_RATE = 16000  # what Whisper's feature extractor expects

PHONE_BAND_HZ = (300.0, 3400.0)  # ITU-T G.712 pass band of a telephone channel
_PHONE_FILTER_ORDER = 4  # Butterworth order of the simulated line's band-pass

_MULAW_BIAS = 0x84 >> 2  # G.711's bias (132), on the 14-bit magnitude
_MULAW_CLIP = 8159  # largest 14-bit magnitude before the bias is added
_MULAW_SILENCE = 0xFF  # the code of a zero sample


def _build_decode_table() -> np.ndarray:
    """The 256 linear values of the mu-law codes (as audioop.ulaw2lin gives them)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((codes & 0x0F) << 3) + 0x84) << ((codes & 0x70) >> 4)
    return np.where(codes & 0x80, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _build_encode_table() -> np.ndarray:
    """The mu-law code of every int16 value, indexed by the value as uint16 (audioop.lin2ulaw)."""
    pcm = np.arange(65536, dtype=np.int32).astype(np.uint16).astype(np.int16).astype(np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _MULAW_CLIP) + _MULAW_BIAS
    # The segment is the position of the magnitude's highest bit above bit 5; 8 is out of range.
    segment = np.maximum(np.floor(np.log2(magnitude)).astype(np.int32) - 5, 0)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes -> int16 samples."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def mulaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> G.711 mu-law bytes (bias 0x84, clipped; bit-exact with audioop.lin2ulaw)."""
    samples = np.asarray(pcm)
    if samples.dtype != np.int16:
        raise TypeError(f"mulaw_encode takes int16 samples, got {samples.dtype}")
    return _ENCODE[samples.view(np.uint16)].tobytes()


def to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 -> float32 in [-1, 1)."""
    return np.asarray(pcm, dtype=np.float32) / 32768.0


def to_int16(x: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> int16, rounded and clipped (never wrapped)."""
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def level_db(pcm: np.ndarray) -> float:
    """RMS level in dB full scale (int16 or float audio); -200 for digital silence or no samples."""
    samples = to_float(pcm) if np.asarray(pcm).dtype == np.int16 else np.asarray(pcm, dtype=np.float64)
    power = float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
    return 10.0 * np.log10(power) if power > 1e-20 else -200.0


def resample(pcm: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling with scipy's Kaiser-windowed anti-aliasing filter: int16 in, int16 out;
    float in, the same float type out."""
    samples = np.asarray(pcm)
    if from_rate == to_rate:
        return samples.copy()
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    divisor = gcd(from_rate, to_rate)
    if samples.dtype == np.int16:
        return to_int16(signal.resample_poly(to_float(samples), to_rate // divisor, from_rate // divisor))
    if not np.issubdtype(samples.dtype, np.floating):
        raise TypeError(f"resample takes int16 or float audio, got {samples.dtype}")
    return signal.resample_poly(samples, to_rate // divisor, from_rate // divisor).astype(samples.dtype)


def mulaw_frames(pcm_8k: np.ndarray) -> List[bytes]:
    """8 kHz int16 audio -> 20 ms mu-law frames of 160 bytes; the last one padded with silence."""
    encoded = mulaw_encode(np.asarray(pcm_8k, dtype=np.int16))
    remainder = len(encoded) % FRAME_SAMPLES
    if remainder:
        encoded += bytes([_MULAW_SILENCE]) * (FRAME_SAMPLES - remainder)
    return [encoded[i : i + FRAME_SAMPLES] for i in range(0, len(encoded), FRAME_SAMPLES)]


def read_wav(path: Union[str, Path]) -> Tuple[np.ndarray, int]:
    """A PCM WAV file (8/16/24/32-bit integer or float) as mono int16 and its rate; stereo is mixed
    down. Raises ValueError for a file that is not such a WAV, OSError when it cannot be read."""
    try:
        rate, data = wavfile.read(str(path))
    except ValueError as error:
        raise ValueError(f"{path}: not a readable WAV file ({error})") from error
    if data.ndim > 1:
        data = data.astype(np.float64).mean(axis=1).astype(data.dtype)
    if data.dtype == np.uint8:
        pcm = ((data.astype(np.int16) - 128) << 8).astype(np.int16)
    elif data.dtype == np.int16:
        pcm = data
    elif data.dtype == np.int32:  # 24-bit arrives left-justified in int32, like 32-bit
        pcm = (data >> 16).astype(np.int16)
    elif np.issubdtype(data.dtype, np.floating):
        pcm = to_int16(data)
    else:
        raise ValueError(f"{path}: unsupported WAV sample type {data.dtype}")
    return np.ascontiguousarray(pcm, dtype=np.int16), int(rate)


def write_wav(path: Union[str, Path], pcm: np.ndarray, rate: int) -> None:
    """Mono 16-bit PCM WAV."""
    wavfile.write(str(path), rate, np.asarray(pcm, dtype=np.int16))


def phone_line(pcm: np.ndarray, rate: int) -> np.ndarray:
    """What an 8 kHz telephone call does to audio: the 300-3400 Hz channel band, 8 kHz sampling and
    mu-law quantisation. int16 in at any rate, int16 out at 8 kHz."""
    low, high = PHONE_BAND_HZ
    sos = signal.butter(_PHONE_FILTER_ORDER, [low, min(high, 0.45 * rate)], "bandpass", fs=rate, output="sos")
    banded = to_int16(signal.sosfilt(sos, to_float(np.asarray(pcm, dtype=np.int16))))
    return mulaw_decode(mulaw_encode(resample(banded, rate, PHONE_RATE)))
