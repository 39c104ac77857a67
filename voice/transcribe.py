"""Transcribe WAV files with the phone channel's recogniser and settings: one JSON object per file.

    python -m voice.transcribe FILE.wav [FILE.wav ...] [--beam-size N] [--hints WORD,...] [--phone]

prints {"file": ..., "text": ..., "seconds": ...} per file (seconds: the time its transcription took, on
a loaded and warmed model).
--phone first passes the audio through a simulated 8 kHz phone line (voice.audio.phone_line), for
recordings made at full bandwidth. A missing or unreadable file stops the run before any transcription,
with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from voice.audio import PHONE_RATE, phone_line, read_wav
from voice.stt import SttConfig, Transcriber

EXIT_BAD_INPUT = 2


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m voice.transcribe", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.wav")
    parser.add_argument("--beam-size", type=int, default=None, help="decoder beam (default: the live path's)")
    parser.add_argument("--hints", default="", help="comma-separated words to bias recognition towards")
    parser.add_argument("--phone", action="store_true", help="pass the audio through a simulated phone line")
    return parser.parse_args(argv)


def read_all(paths: Sequence[Path]) -> Tuple[List[Tuple[Path, np.ndarray, int]], List[str]]:
    """Every file's audio, and a message per file that could not be read."""
    audio, problems = [], []
    for path in paths:
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        try:
            pcm, rate = read_wav(path)
        except ValueError as error:  # read_wav names the file
            problems.append(str(error))
            continue
        except OSError as error:
            problems.append(f"{path}: {error.strerror or error}")
            continue
        audio.append((path, pcm, rate))
    return audio, problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    audio, problems = read_all(args.files)
    if problems:
        for problem in problems:
            print(f"voice.transcribe: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    config = SttConfig() if args.beam_size is None else replace(SttConfig(), beam_size=args.beam_size)
    transcriber = Transcriber(config)
    hints = [word.strip() for word in args.hints.split(",") if word.strip()]
    if args.phone:
        audio = [(path, phone_line(pcm, rate), PHONE_RATE) for path, pcm, rate in audio]
    # Load and warm the model as the live path does before its first call, so "seconds" is per file.
    transcriber.transcribe(audio[0][1], audio[0][2], hints)
    for path, pcm, rate in audio:
        result = transcriber.transcribe(pcm, rate, hints)
        print(
            json.dumps({"file": str(path), "text": result.text, "seconds": round(result.seconds, 3)}),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
