"""Training examples with redaction placeholders: hand-written examples with a personal-data phrase added,
already replaced as learning/redaction.py replaces it ("I'm <PERSON>, ...", "... send it to <ADDRESS>").

Every message the bot reads has passed through the redaction at the door, so the model should have
seen "<PERSON>", "<PHONE>", "<EMAIL>", "<ADDRESS>", "<CARD>" and "<ID>" in training rather than meet
them first in production. The phrase is added before or after the example, so its entity spans (and
its attribute labels, carried over explicitly) stay exactly as written. Deterministic for a seed:

    python -m nlu.tools.placeholder_forms [--seed 20261129] [--out data/nlu/generated/redacted_forms.yml]

A candidate whose text is already in data/ or the held-out splits, or whose cue words would contradict
its labels, is skipped for the next phrase.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from common.schema import DEFAULT_ATTRIBUTES
from nlu.tools.generate_data import (
    DEFAULT_EXCLUDE,
    HAND_WRITTEN,
    Generated,
    _nlu_yaml,
    existing_texts,
    generated_texts,
    hand_written_examples,
    plain_text,
)
from nlu.tools.validate_data import Example, normalise_for_dedup
from nlu.weak_labels import attribute_labels

DEFAULT_OUT = HAND_WRITTEN / "generated" / "redacted_forms.yml"
DEFAULT_SEED = 20261129

# How a shopper adds personal data to each kind of message: (before the example, after it).
INTRODUCTIONS = ("I'm <PERSON>, ", "hi, <PERSON> here, ", "my name is <PERSON>, ", "this is <PERSON>: ")
# The share of examples that get an introduction rather than a phrase after them (where both exist).
INTRODUCTION_SHARE = 0.3
SEARCH_ADDITIONS = (
    ", my email is <EMAIL>",
    ", send it to <ADDRESS>",
    " - deliver to <ADDRESS>",
    ", call me on <PHONE>",
    ". text me on <PHONE> if you have it",
    ", my postcode is <ADDRESS>",
    " (email <EMAIL>)",
    ", thanks, <PERSON>",
)
PHRASES: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "search_product": (INTRODUCTIONS, SEARCH_ADDITIONS),
    "refine_search": (INTRODUCTIONS, SEARCH_ADDITIONS),
    "add_to_cart": (
        INTRODUCTIONS,
        (", charge it to <CARD>", ", pay with <CARD>", ", ship to <ADDRESS>", ", my card is <CARD>",
         " and send it to <ADDRESS>"),
    ),
    "check_stock": ((), (", email <EMAIL> when it's back", ", text <PHONE> when it's in", ", I'm <PERSON>")),
    "human_handoff": (
        INTRODUCTIONS,
        (", my number is <PHONE>", ", call me on <PHONE>", ", email me at <EMAIL>",
         ", my passport number is <ID>"),
    ),
    "greet": ((), (", I'm <PERSON>", ", this is <PERSON>", ", <PERSON> here", ", my name's <PERSON>")),
    "thanks": ((), (", <PERSON>", " - <PERSON>", ", from <PERSON>")),
    "goodbye": ((), (", <PERSON>", " - <PERSON>", ", from <PERSON>")),
}
# How many examples of each intent get a placeholder form.
QUOTAS = {
    "search_product": 150,
    "refine_search": 30,
    "add_to_cart": 25,
    "human_handoff": 12,
    "greet": 12,
    "check_stock": 10,
    "thanks": 8,
    "goodbye": 8,
}


def attach(annotated: str, before: str, after: str) -> str:
    """The example with a phrase before it (its first word lower-cased, unless "I") or after it."""
    text = annotated.strip()
    if before:
        first = text.split(" ", 1)[0]
        if first[:1].isupper() and first[1:2].islower() and not first.startswith("I'"):
            text = text[0].lower() + text[1:]
        return before + text
    if text[-1:] in ".?!":
        return f"{text} {after.lstrip(',.- ').strip()}"
    return text + after


def placeholder_form(
    example: Example, rng: random.Random, avoid: Set[str], schema: Mapping[str, Sequence[str]]
) -> Optional[Generated]:
    """One form of the example with a phrase added, or None when every phrase is taken or contradicts."""
    befores, afters = PHRASES[example.intent]
    first = [(b, "") for b in befores]
    second = [("", a) for a in afters]
    rng.shuffle(first)
    rng.shuffle(second)
    candidates = first + second if rng.random() < INTRODUCTION_SHARE else second + first
    labels = attribute_labels(example.text, example.attributes, schema).values
    for before, after in candidates:
        annotated = attach(example.annotated, before, after)
        plain = plain_text(annotated)
        if normalise_for_dedup(plain) in avoid or attribute_labels(plain, labels, schema).conflicts:
            continue
        return Generated(example.intent, annotated, tuple(labels.items()))
    return None


def placeholder_forms(
    sources: Sequence[Example],
    avoid: Set[str],
    seed: int = DEFAULT_SEED,
    schema: Mapping[str, Sequence[str]] = DEFAULT_ATTRIBUTES,
) -> List[Generated]:
    """`QUOTAS[intent]` placeholder forms per intent, from examples taken in a seeded order."""
    by_intent: Dict[str, List[Example]] = {}
    for example in sources:
        if example.intent in QUOTAS:
            by_intent.setdefault(example.intent, []).append(example)
    seen = set(avoid)
    out: List[Generated] = []
    for intent in sorted(by_intent):
        # An order and a phrase fixed per example text: editing one example elsewhere in data/nlu does not
        # reshuffle the others.
        pool = sorted(by_intent[intent], key=lambda example: _rank(seed, example.text))
        made = 0
        for example in pool:
            if made == QUOTAS[intent]:
                break
            rng = random.Random(_rank(seed, example.text))
            form = placeholder_form(example, rng, seen, schema)
            if form is not None:
                seen.add(normalise_for_dedup(plain_text(form.annotated)))
                out.append(form)
                made += 1
    return out


def _rank(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{normalise_for_dedup(text)}".encode()).hexdigest()


def to_yaml(examples: Sequence[Generated], seed: int) -> str:
    header = [
        "# GENERATED FILE - do not edit by hand. Hand-written examples from data/nlu/ with a personal-data",
        "# phrase added and already redacted into placeholders, as learning/redaction.py does at the door",
        "# (<PERSON>, <PHONE>, <EMAIL>, <ADDRESS>, <CARD>, <ID>). Made by",
        f"# `python -m nlu.tools.placeholder_forms` (seed {seed}); entity spans and attribute labels are",
        "# the source example's. Regenerate after changing the hand-written data; tests/test_redaction.py",
        "# checks it is up to date.",
    ]
    return _nlu_yaml(header, examples)


def build(seed: int = DEFAULT_SEED) -> Tuple[str, int]:
    """The file's text and its number of examples, from the hand-written data as it is now."""
    generated = HAND_WRITTEN / "generated"
    others = set().union(*(generated_texts(p) for p in sorted(generated.glob("*.yml")) if p != DEFAULT_OUT))
    examples = placeholder_forms(hand_written_examples(), existing_texts(DEFAULT_EXCLUDE) | others, seed)
    return to_yaml(examples, seed), len(examples)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    text, count = build(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {count} examples to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
