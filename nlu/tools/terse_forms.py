"""Training examples typed the way shoppers type into a search box: keyword forms of hand-written requests.

"I'm looking for some red running shoes for my son, size 5 please" becomes "red running shoes boys size
5": the request words, articles and courtesy go, a recipient becomes the department word a search box
gets ("boys", "womens"), apostrophes and punctuation go, everything is lower case, and a share of the forms
get one typing slip in a longer word ("runnign", "shoess"). Entity spans keep their words (a misspelt word
stays in its span); the attribute labels are the source example's, and a form is kept only when the cue
lexicon reads the same gender / age group / gift evidence in it as in the source, so no label is left
without its evidence. Deterministic for a seed:

    python -m nlu.tools.terse_forms [--seed 20261130] [--out data/nlu/generated/terse_forms.yml]

Real queries (QueryNER) are terse, misspelt and apostrophe-free where the hand-written data is chatty and
clean; docs/nlu-results.md measures what these forms add on QueryNER validation.
"""

from __future__ import annotations

import random
import re
import sys
from typing import List, Mapping, Optional, Sequence, Set, Tuple

from common.schema import DEFAULT_ATTRIBUTES
from nlu.tools.derived_forms import forms_by_quota, main, texts_to_avoid
from nlu.tools.generate_data import HAND_WRITTEN, Generated, _nlu_yaml, hand_written_examples, plain_text
from nlu.tools.spoken_forms import parse
from nlu.tools.validate_data import Example, normalise_for_dedup
from nlu.weak_labels import attribute_labels, label_attributes

DEFAULT_OUT = HAND_WRITTEN / "generated" / "terse_forms.yml"
DEFAULT_SEED = 20261130
# Terse forms per intent (search requests are what a search box gets).
QUOTAS = {"search_product": 700, "refine_search": 60}
# The share of forms that get one typing slip.
TYPO_SHARE = 0.3
# Only words this long get a slip (short words misspelt become other words: "red" -> "rd").
TYPO_MIN_LENGTH = 5

# Request and courtesy words a search box never gets, removed outside entity spans (longest first).
_DROP_PHRASES = (
    "i'm looking for", "im looking for", "i am looking for", "looking for", "i'm after", "im after",
    "i want to buy", "i want", "i need", "i'd like", "id like", "i would like", "can you find me",
    "can you find", "can i get", "could you find", "do you have", "do you sell", "have you got", "got any",
    "show me", "find me", "search for", "please", "thanks", "thank you", "hi", "hey", "hello", "some",
    "any", "a", "an", "the",
)
# Recipients as the department word of a search box; "for my" before them goes with them.
_DEPARTMENTS = {
    "son": "boys", "grandson": "boys", "nephew": "boys", "boy": "boys",
    "daughter": "girls", "granddaughter": "girls", "niece": "girls", "girl": "girls",
    "husband": "mens", "dad": "mens", "father": "mens", "boyfriend": "mens", "brother": "mens",
    "wife": "womens", "mum": "womens", "mom": "womens", "mother": "womens", "girlfriend": "womens",
    "sister": "womens",
    "baby": "baby", "toddler": "toddler",
}
_RECIPIENT_LEAD = re.compile(r"\b(?:for|4)\s+(?:my|our|his|her)\s*$")
_PUNCTUATION = re.compile(r"[,.!?;:()\"]+(?=\s|$)|^[,.!?;:()\"]+")
_KEYBOARD_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo",
    "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et",
    "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "x",
}
_DROP_RE = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in sorted(_DROP_PHRASES, key=len, reverse=True))
                      + r")\b")


def typo(word: str, rng: random.Random) -> str:
    """One typing slip in a word: a letter dropped, doubled, swapped with the next, or a neighbour key.

    The first letter stays (people rarely miss it, and a search box's prefix matching relies on it).
    """
    letters = [i for i in range(1, len(word)) if word[i].isalpha()]
    if len(word) < TYPO_MIN_LENGTH or not letters:
        return word
    i = rng.choice(letters)
    kind = rng.choice(("drop", "double", "swap", "neighbour"))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[: i + 1] + word[i] + word[i + 1 :]
    if kind == "swap" and i + 1 < len(word) and word[i + 1].isalpha() and word[i + 1] != word[i]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    neighbours = _KEYBOARD_NEIGHBOURS.get(word[i].lower(), "")
    return word[:i] + rng.choice(neighbours) + word[i + 1 :] if neighbours else word[:i] + word[i + 1 :]


def _squash(text: str) -> str:
    """Lower case, no apostrophes, no punctuation between words, single spaces."""
    text = text.lower().replace("\u2019", "'").replace("'", "")
    text = " ".join(_PUNCTUATION.sub("", word) for word in text.split())
    return " ".join(text.split())


def terse_segments(segments: Sequence[Tuple[str, Optional[str]]]) -> List[Tuple[str, Optional[str]]]:
    """The example's segments as a search box gets them (module docstring); empty segments dropped."""
    out: List[Tuple[str, Optional[str]]] = []
    for text, entity in segments:
        if entity == "recipient":
            words = _squash(text).split()
            department = _DEPARTMENTS.get(words[-1]) if words else None
            if department is None:
                out.append((_squash(text), entity))
                continue
            if out and out[-1][1] is None:  # "for my" before the recipient goes with it
                out[-1] = (_RECIPIENT_LEAD.sub("", out[-1][0]), None)
            out.append((department, None))
            continue
        if entity is not None:
            out.append((_squash(text), entity))
            continue
        plain = _DROP_RE.sub(" ", _squash(text))
        out.append((" ".join(plain.split()), None))
    return [(text.strip(), entity) for text, entity in out if text.strip()]


def render_segments(segments: Sequence[Tuple[str, Optional[str]]]) -> str:
    return " ".join(f"[{text}]({entity})" if entity else text for text, entity in segments)


def terse_form(
    example: Example, rng: random.Random, avoid: Set[str], schema: Mapping[str, Sequence[str]]
) -> Optional[Generated]:
    """The example's terse form, or None when it is already terse, taken, or its cue evidence changed."""
    segments = terse_segments(parse(example.annotated))
    if not any(entity for _, entity in segments):
        return None
    if normalise_for_dedup(plain_text(render_segments(segments))) == normalise_for_dedup(example.text):
        return None  # already terse: a slip alone would make the file mostly misspellings
    if rng.random() < TYPO_SHARE:
        candidates = [(i, w) for i, (text, _) in enumerate(segments) for w, word in enumerate(text.split())
                      if len(word) >= TYPO_MIN_LENGTH and word.isalpha()]
        if candidates:
            index, position = rng.choice(candidates)
            text, entity = segments[index]
            words = text.split()
            words[position] = typo(words[position], rng)
            segments[index] = (" ".join(words), entity)
    annotated = render_segments(segments)
    plain = plain_text(annotated)
    if normalise_for_dedup(plain) in avoid:
        return None
    labels = attribute_labels(example.text, example.attributes, schema)
    # The same cue reading as the source's, whose labels the cues do not contradict: nor can they here.
    if labels.conflicts or label_attributes(plain) != label_attributes(example.text):
        return None
    return Generated(example.intent, annotated, tuple(labels.values.items()))


def terse_forms(
    sources: Sequence[Example],
    avoid: Set[str],
    seed: int = DEFAULT_SEED,
    schema: Mapping[str, Sequence[str]] = DEFAULT_ATTRIBUTES,
) -> List[Generated]:
    """`QUOTAS[intent]` terse forms per intent, from examples taken in a seeded order."""
    return forms_by_quota(
        sources, avoid, seed, QUOTAS, lambda example, rng, taken: terse_form(example, rng, taken, schema)
    )


def to_yaml(examples: Sequence[Generated], seed: int) -> str:
    header = [
        "# GENERATED FILE - do not edit by hand. Hand-written search requests from data/nlu/ as a search box",
        "# gets them: request words, articles and punctuation dropped, recipients as department words, lower",
        f"# case, some with one typing slip. Made by `python -m nlu.tools.terse_forms` (seed {seed}); spans",
        "# and attribute labels are the source example's. Regenerate after changing the hand-written data.",
    ]
    return _nlu_yaml(header, examples)


def build(seed: int = DEFAULT_SEED) -> Tuple[str, int]:
    """The file's text and its number of examples, from the hand-written data as it is now."""
    examples = terse_forms(hand_written_examples(), texts_to_avoid(DEFAULT_OUT), seed)
    return to_yaml(examples, seed), len(examples)


if __name__ == "__main__":
    sys.exit(main(__doc__.split("\n\n")[0], build, DEFAULT_SEED, DEFAULT_OUT))
