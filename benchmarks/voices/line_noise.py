"""Phone-line noise for the benchmark's callers: hiss (white noise) and mains hum (60 Hz and its
harmonics), mixed into speech at a signal-to-noise ratio measured inside the telephone band."""

from __future__ import annotations

import numpy as np
from scipy import signal

from voice.audio import FRAME_MS, PHONE_BAND_HZ, to_float, to_int16

HUM_HZ = 60.0  # North American mains
HUM_TOP_HZ = 1000.0  # harmonics up to here (a buzz, not a pure tone: the band starts at 300 Hz)
HUM_SHARE = 0.3  # share of the noise's in-band power that is hum; the rest is hiss
ACTIVE_SPEECH_DB = 30.0  # frames within this of the loudest count as active speech for the SNR


def band_power(samples: np.ndarray, rate: int) -> np.ndarray:
    """The samples filtered to the telephone band (300-3400 Hz), as the line's band-pass would."""
    low, high = PHONE_BAND_HZ
    sos = signal.butter(4, [low, min(high, 0.45 * rate)], "bandpass", fs=rate, output="sos")
    return signal.sosfilt(sos, samples)


def active_power(samples: np.ndarray, rate: int) -> float:
    """Mean power of the 20 ms frames within ACTIVE_SPEECH_DB of the loudest (pauses left out)."""
    size = max(1, rate * FRAME_MS // 1000)
    frames = samples[: len(samples) // size * size].reshape(-1, size)
    if not len(frames):
        return 0.0
    powers = np.mean(np.square(frames, dtype=np.float64), axis=1)
    return float(np.mean(powers[powers >= powers.max() * 10 ** (-ACTIVE_SPEECH_DB / 10)]))


def line_noise(length: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Hiss plus hum, unit in-band power."""
    hiss = rng.standard_normal(length)
    t = np.arange(length) / rate
    hum = np.zeros(length)
    for harmonic in range(1, int(HUM_TOP_HZ // HUM_HZ) + 1):
        hum += np.sin(2 * np.pi * HUM_HZ * harmonic * t + rng.uniform(0, 2 * np.pi)) / harmonic
    parts = []
    for part, share in ((hiss, 1 - HUM_SHARE), (hum, HUM_SHARE)):
        power = np.mean(np.square(band_power(part, rate)))
        parts.append(part * np.sqrt(share / power) if power > 0 else part)
    return parts[0] + parts[1]


def add_line_noise(pcm: np.ndarray, rate: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """int16 speech with line noise at `snr_db` (active speech vs noise, both in the telephone band)."""
    speech = to_float(np.asarray(pcm, dtype=np.int16)).astype(np.float64)
    noise = line_noise(len(speech), rate, rng)
    speech_power = active_power(band_power(speech, rate), rate)
    noise *= np.sqrt(speech_power / 10 ** (snr_db / 10))
    return to_int16(speech + noise)
