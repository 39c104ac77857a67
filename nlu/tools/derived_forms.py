"""What the generators that rewrite hand-written examples share: a fixed order per example text, quotas
per intent, the texts to avoid and the command line (nlu/tools/placeholder_forms.py, terse_forms.py)."""

from __future__ import annotations

import argparse
import hashlib
import random
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from nlu.tools.generate_data import (
    DEFAULT_EXCLUDE,
    HAND_WRITTEN,
    Generated,
    existing_texts,
    generated_texts,
    plain_text,
)
from nlu.tools.validate_data import Example, normalise_for_dedup

# One example's rewrite: the example, its own seeded generator and the texts taken so far -> a form or None.
MakeForm = Callable[[Example, random.Random, Set[str]], Optional[Generated]]


def rank(seed: int, text: str) -> str:
    """An order and a random stream fixed per example text: editing one example elsewhere in data/nlu does
    not reshuffle the others."""
    return hashlib.sha256(f"{seed}:{normalise_for_dedup(text)}".encode()).hexdigest()


def forms_by_quota(
    sources: Sequence[Example], avoid: Set[str], seed: int, quotas: Mapping[str, int], make: MakeForm
) -> List[Generated]:
    """`quotas[intent]` forms per intent (intents in name order), from examples taken in `rank` order; a
    form's text is never one of `avoid` or an earlier form's (`make` checks `taken`)."""
    by_intent: Dict[str, List[Example]] = {}
    for example in sources:
        if example.intent in quotas:
            by_intent.setdefault(example.intent, []).append(example)
    taken = set(avoid)
    out: List[Generated] = []
    for intent in sorted(by_intent):
        made = 0
        for example in sorted(by_intent[intent], key=lambda example: rank(seed, example.text)):
            if made == quotas[intent]:
                break
            form = make(example, random.Random(rank(seed, example.text)), taken)
            if form is not None:
                taken.add(normalise_for_dedup(plain_text(form.annotated)))
                out.append(form)
                made += 1
    return out


def texts_to_avoid(out: Path) -> Set[str]:
    """Texts of the hand-written data, the held-out splits and every other generated file than `out`."""
    generated = HAND_WRITTEN / "generated"
    others = set().union(*(generated_texts(p) for p in sorted(generated.glob("*.yml")) if p != out))
    return existing_texts(DEFAULT_EXCLUDE) | others


def main(
    description: str,
    build: Callable[[int], Tuple[str, int]],
    seed: int,
    out: Path,
    argv: Optional[Sequence[str]] = None,
) -> int:
    """`--seed` and `--out`, then write what `build(seed)` makes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args(argv)
    text, count = build(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {count} examples to {args.out}")
    return 0
