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

import random
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from common.schema import DEFAULT_ATTRIBUTES
from nlu.tools.derived_forms import forms_by_quota, main, texts_to_avoid
from nlu.tools.generate_data import HAND_WRITTEN, Generated, _nlu_yaml, hand_written_examples, plain_text
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
# What any other message may carry (a shopper pastes their details wherever they are in the chat).
GENERIC_ADDITIONS = (
    ", I'm <PERSON>",
    ", my number is <PHONE>",
    ", email me at <EMAIL>",
    ", my card is <CARD>",
    ", postcode <ADDRESS>",
    " - <PERSON>",
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
    **{
        intent: (INTRODUCTIONS, GENERIC_ADDITIONS)
        for intent in ("affirm", "deny", "help", "out_of_scope", "show_more", "compare_products",
                       "product_details", "similar_items")
    },
}
# How many examples of each intent get a placeholder form.
QUOTAS = {
    "search_product": 150,
    "refine_search": 60,
    "add_to_cart": 25,
    "human_handoff": 12,
    "greet": 12,
    "check_stock": 10,
    "thanks": 12,
    "goodbye": 12,
    **{intent: 12 for intent in ("affirm", "deny", "help", "out_of_scope", "show_more", "compare_products",
                                 "product_details", "similar_items")},
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
    def make(example: Example, rng: random.Random, taken: Set[str]) -> Optional[Generated]:
        return placeholder_form(example, rng, taken, schema)

    return forms_by_quota(sources, avoid, seed, QUOTAS, make)


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
    examples = placeholder_forms(hand_written_examples(), texts_to_avoid(DEFAULT_OUT), seed)
    return to_yaml(examples, seed), len(examples)


if __name__ == "__main__":
    sys.exit(main(__doc__.split("\n\n")[0], build, DEFAULT_SEED, DEFAULT_OUT))
