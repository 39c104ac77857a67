"""Generate varied search-style NLU examples from templates, with every span and attribute computed.

Hand-written data in `data/nlu/*.yml` is the primary source; this adds variety (more products, brands,
sizes, ages and recipients in more combinations). Output is deterministic for a given seed, vocabulary
file and set of hand-written / held-out texts (texts already there are skipped so nothing is duplicated):

    python -m nlu.tools.generate_data            # writes the three files below
    python -m nlu.tools.generate_data --seed 7 --out /tmp/x.yml --spoken-out /tmp/s.yml \\
        --spoken-heldout-out /tmp/h.yml

It writes, in this order (each later one skips the texts of the earlier ones):
1. tests/data/heldout_nlu_spoken.yml: the held-out split as phone transcripts (nlu/tools/spoken_forms.py,
   its own seed), example for example, with the written example's labels;
2. data/nlu/generated/search_generated.yml: the template examples;
3. data/nlu/generated/spoken_variants.yml: spoken forms of a share of the hand-written examples, the
   same share of every intent, each with its source's attribute labels.

Every example carries explicit attribute labels computed from its parts (recipient, age, department
word, product type, gift template). A candidate whose labels the cue lexicon contradicts is dropped, so
the generated labels always agree with the annotation guideline's weak labels.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

from common.numbers import UNITS
from common.schema import DEFAULT_ATTRIBUTES, INTENTS, neutral_value
from nlu import PROJECT_ROOT
from nlu.tools.spoken_forms import speak
from nlu.tools.validate_data import (
    DEFAULT_HELDOUT,
    DEFAULT_SPOKEN_HELDOUT,
    Example,
    load_examples,
    normalise_for_dedup,
)
from nlu.weak_labels import attribute_labels

DEFAULT_VOCAB = PROJECT_ROOT / "data" / "lexicon" / "generator_vocab.yml"
HAND_WRITTEN = PROJECT_ROOT / "data" / "nlu"
DEFAULT_OUT = HAND_WRITTEN / "generated" / "search_generated.yml"
DEFAULT_EXCLUDE = (HAND_WRITTEN, DEFAULT_HELDOUT, DEFAULT_SPOKEN_HELDOUT)
DEFAULT_SEED = 20240601
DEFAULT_SPOKEN_OUT = HAND_WRITTEN / "generated" / "spoken_variants.yml"
# Spoken variants of this share of each intent's hand-written examples: enough for the model to see
# number words, fillers and missing punctuation, not so many that they outweigh the typed data.
SPOKEN_SHARE = 0.12
SPOKEN_SEED = 20240612
SPOKEN_HELDOUT_SEED = 4817  # not the training variants' seed: the held-out copy is worded independently
SPOKEN_ATTEMPTS = 12

# 1 -> "one" ... 19 -> "nineteen", for numbers the generator writes as words.
NUMBER_NAMES: Dict[int, str] = {value: word for word, value in UNITS.items()}
_SLOT_RE = re.compile(r"\{(\w+)\}")
_ANNOTATION_RE = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")

# Ages drawn per band: (low, high) in years, or months for baby ages written in months.
_AGE_YEARS = {"baby": (1, 2), "kid": (3, 12), "teen": (13, 17), "adult": (18, 75)}


@dataclass
class Piece:
    """A filled slot: its text, the entity type it is annotated as (if any), and what it implies."""

    text: str
    entity: Optional[str] = None
    attrs: Dict[str, str] = field(default_factory=dict)
    sizes: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Generated:
    intent: str
    annotated: str
    attributes: Tuple[Tuple[str, str], ...]


def plain_text(annotated: str) -> str:
    """The example's text without `[span](entity)` markup."""
    return _ANNOTATION_RE.sub(lambda m: m.group(1), annotated)


def load_vocab(path: Path) -> Mapping[str, object]:
    with open(path, encoding="utf-8") as handle:
        vocab = yaml.safe_load(handle)
    for key in ("families", "recipients", "departments", "templates", "counts"):
        if key not in vocab:
            raise ValueError(f"{path}: missing section '{key}'")
    for intent in vocab["templates"]:
        if intent not in INTENTS:
            raise ValueError(f"{path}: templates for unknown intent '{intent}'")
    return vocab


def _item(entry: object) -> Piece:
    if isinstance(entry, Mapping):
        attrs = {k: str(v) for k, v in dict(entry.get("attrs", {})).items()}
        return Piece(str(entry["text"]), attrs=attrs, sizes=tuple(str(x) for x in entry.get("sizes", [])))
    return Piece(str(entry))


class Filler:
    """Fills one template's slots from the vocabulary with a seeded RNG."""

    def __init__(self, vocab: Mapping[str, object], rng: random.Random) -> None:
        self.vocab = vocab
        self.rng = rng
        self.audience: Tuple[str, ...] = ()
        self.product_sizes: Tuple[str, ...] = ()

    def choice(self, seq: Sequence[object]) -> object:
        return seq[self.rng.randrange(len(seq))]

    def number(self, n: int, allow_words: bool) -> str:
        if allow_words and 0 < n <= int(self.vocab.get("number_words_up_to", 0)) and self.rng.random() < 0.25:
            return NUMBER_NAMES[n]
        return str(n)

    def age(self) -> Piece:
        weights = {"baby": 1, "kid": 3, "teen": 2, "adult": 1}
        bands = [b for b in ("baby", "kid", "teen", "adult") if b in self.audience for _ in range(weights[b])]
        band = str(self.choice(bands))
        forms = self.vocab["age_forms"]
        if band == "baby" and self.rng.random() < 0.6:
            months = self.rng.randrange(2, 24)
            form = str(self.choice(forms["months"]))
            return Piece(form.format(n=months), "age", {"age_group": "baby"})
        low, high = _AGE_YEARS[band]
        n = self.rng.randrange(low, high + 1)
        form = str(self.choice(forms["years"]))
        spaced = form.startswith("{n} ") or form.startswith("{n}-")
        return Piece(form.format(n=self.number(n, spaced)), "age", {"age_group": band})

    def price(self) -> Piece:
        form = str(self.choice(self.vocab["price_forms"]))
        a = self.rng.choice([10, 15, 20, 25, 30, 40, 50, 60, 75, 80, 100, 150, 200, 250, 300, 500])
        b = a + self.rng.choice([10, 20, 25, 50, 100])
        return Piece(form.format(n=a, a=a, b=b), "price")

    def recipient(self, ageable: Optional[bool] = None) -> Tuple[Piece, Mapping[str, object]]:
        pool = [
            r
            for r in self.vocab["recipients"]
            if (ageable is None or bool(r.get("ageable")) == ageable)
            and r.get("age_group", self.audience[0]) in self.audience
        ]
        entry = self.choice(pool)
        attrs = {k: str(entry[k]) for k in ("gender", "age_group") if k in entry}
        return Piece(str(entry["text"]), "recipient", attrs), entry


def _fill(template: str, family: Mapping[str, object], filler: Filler) -> Optional[List[Piece]]:
    """The template as a list of pieces (literal text and filled slots); None if a slot can't be filled."""
    filler.audience = tuple(str(a) for a in family.get("audience", ()))
    filler.product_sizes = ()
    people_slots = {"rcp", "rcp_pos", "age", "agerc", "dept", "pron"}
    if not filler.audience and people_slots & set(_SLOT_RE.findall(template)):
        return None
    pieces: List[Piece] = []
    pos = 0
    for match in _SLOT_RE.finditer(template):
        if match.start() > pos:
            pieces.append(Piece(template[pos : match.start()]))
        slot = match.group(1)
        filled = _slot(slot, family, filler)
        if filled is None:
            return None
        pieces.extend(filled)
        pos = match.end()
    if pos < len(template):
        pieces.append(Piece(template[pos:]))
    return pieces


def _slot(slot: str, family: Mapping[str, object], filler: Filler) -> Optional[List[Piece]]:
    vocab = filler.vocab
    simple = {"brand": "brands", "model": "models", "color": "colors", "size": "sizes",
              "material": "materials", "feature": "features"}  # fmt: skip
    entity_of = {"brand": "brand", "model": "model", "color": "color", "size": "size",
                 "material": "material", "feature": "feature"}  # fmt: skip
    if slot == "open":
        return [Piece(str(filler.choice(vocab["openers"])))]
    if slot == "close":
        return [Piece(str(filler.choice(vocab["closers"])))]
    if slot == "pt":
        piece = _item(filler.choice(family["product_types"]))
        piece.entity = "product_type"
        filler.product_sizes = piece.sizes
        return [piece]
    if slot in simple:
        options = (
            filler.product_sizes if slot == "size" and filler.product_sizes else family.get(simple[slot])
        )
        if not options:
            return None
        return [Piece(str(filler.choice(options)), entity_of[slot])]
    if slot == "price":
        return [filler.price()]
    if slot in ("qty", "count"):
        forms = [str(form) for form in vocab["quantity_forms"]]
        if slot == "count":  # nothing follows: "ill take 2", never "ill take a pair of"
            forms = [form for form in forms if not form.endswith(" of")]
        form = str(filler.choice(forms))
        # "a pair of socks": the trailing "of" is filler, outside the span (annotation guide).
        if form.endswith(" of"):
            return [Piece(form[: -len(" of")], "quantity"), Piece(" of")]
        return [Piece(form, "quantity")]
    if slot == "occ":
        return [Piece(str(filler.choice(vocab["occasions"])), "occasion")]
    if slot == "gift":
        return [Piece(str(filler.choice(vocab["gift_words"])))]
    if slot == "pron":
        gender = str(filler.choice(["female", "male"]))
        return [Piece("her" if gender == "female" else "him", None, {"gender": gender})]
    if slot == "dept":
        depts = [d for d in vocab["departments"] if d.get("age_group", filler.audience[0]) in filler.audience]
        if not depts:
            return None
        entry = filler.choice(depts)
        return [
            Piece(str(entry["text"]), None, {k: str(entry[k]) for k in ("gender", "age_group") if k in entry})
        ]
    if slot == "rcp":
        return [filler.recipient()[0]]
    if slot == "rcp_pos":
        piece, entry = filler.recipient(ageable=None)
        if piece.text in ("kids",):
            return None
        piece.text += "'s"
        return [piece]
    if slot == "age":
        return [filler.age()]
    if slot == "agerc":
        return _aged_recipient(filler)
    raise ValueError(f"unknown template slot '{{{slot}}}'")


def _aged_recipient(filler: Filler) -> List[Piece]:
    """'10yo [son]', '[son] turning [10]', '[daughter], shes [7]' with the age's band as its age group."""
    person, entry = filler.recipient(ageable=True)
    age = filler.age()
    person.attrs.pop("age_group", None)
    style = filler.rng.random()
    digits = re.match(r"^(\d+|[a-z]+)[ -](?:year|yr|yo|y/o|yrs)", age.text)
    if style < 0.6 or not digits or age.attrs["age_group"] == "baby":
        return [age, Piece(" "), person]
    number = Piece(digits.group(1), "age", age.attrs)
    if style < 0.8 or "gender" not in person.attrs:
        return [person, Piece(" turning "), number]
    pronoun = "shes" if person.attrs["gender"] == "female" else "hes"
    return [person, Piece(f", {pronoun} "), number]


def _labels(
    pieces: Sequence[Piece], gift: bool, schema: Mapping[str, Sequence[str]]
) -> Optional[Dict[str, str]]:
    """Attribute labels from the pieces: age > recipient > pronoun/department > product; None on a clash."""
    ranked = {
        "age_group": ["age", "recipient", None, "product_type"],
        "gender": ["recipient", None, "product_type"],
    }
    labels: Dict[str, str] = {}
    for attribute, order in ranked.items():
        for source in order:
            values = {p.attrs[attribute] for p in pieces if p.entity == source and attribute in p.attrs}
            if len(values) > 1:
                return None
            if values:
                labels[attribute] = values.pop()
                break
        # a product type that implies another value than the person does makes an odd example: skip it
        product = {p.attrs[attribute] for p in pieces if p.entity == "product_type" and attribute in p.attrs}
        if product and attribute in labels and product != {labels[attribute]}:
            return None
    labels["gift"] = "true" if gift else "false"
    return {a: labels.get(a, neutral_value(a, list(v))) for a, v in schema.items()}


def _annotate(pieces: Sequence[Piece]) -> str:
    out = []
    for p in pieces:
        out.append(f"[{p.text}]({p.entity})" if p.entity else p.text)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def existing_texts(paths: Iterable[Path]) -> Set[str]:
    """Texts (normalised) of the examples already in the hand-written data and the held-out split."""
    texts: Set[str] = set()
    for path in paths:
        files = sorted(path.rglob("*.yml")) if path.is_dir() else ([path] if path.exists() else [])
        for file in files:
            if "generated" not in file.parts:
                texts.update(normalise_for_dedup(example.text) for example in load_examples(file))
    return texts


def generate(
    vocab: Mapping[str, object],
    seed: int = DEFAULT_SEED,
    exclude: Optional[Set[str]] = None,
    schema: Mapping[str, Sequence[str]] = DEFAULT_ATTRIBUTES,
) -> List[Generated]:
    """The generated examples, in a fixed order, for this vocabulary and seed."""
    rng = random.Random(seed)
    filler = Filler(vocab, rng)
    families = [vocab["families"][name] for name in sorted(vocab["families"])]
    seen: Set[str] = set(exclude or ())
    out: List[Generated] = []
    for intent in sorted(vocab["counts"]):
        wanted = int(vocab["counts"][intent])
        templates = vocab["templates"][intent]
        made, attempts = 0, 0
        while made < wanted and attempts < wanted * 50:
            attempts += 1
            template = filler.choice(templates)
            family = filler.choice(families)
            pieces = _fill(str(template["t"]), family, filler)
            if pieces is None:
                continue
            labels = _labels(pieces, bool(template.get("gift", False)), schema)
            if labels is None:
                continue
            annotated = _annotate(pieces)
            plain = plain_text(annotated)
            key = normalise_for_dedup(plain)
            if key in seen:
                continue
            if attribute_labels(plain, labels, schema).conflicts:
                continue
            seen.add(key)
            out.append(Generated(intent, annotated, tuple(labels.items())))
            made += 1
        if made < wanted:
            raise ValueError(
                f"could only generate {made} of {wanted} '{intent}' examples; widen the vocabulary"
            )
    return out


def to_yaml(examples: Sequence[Generated], seed: int, vocab_path: str) -> str:
    """Rasa 3 NLU YAML for the examples, with a header that says how to regenerate it."""
    header = [
        "# GENERATED FILE - do not edit by hand.",
        f"# Made by `python -m nlu.tools.generate_data --seed {seed}` from {vocab_path}",
        "# (templates and vocabularies written for this project). Regenerate after changing the vocabulary,",
        "# the cue lexicon or the hand-written data; tests/test_data_validation.py checks it is up to date.",
    ]
    by_intent: Dict[str, List[Generated]] = {}
    for ex in examples:
        by_intent.setdefault(ex.intent, []).append(ex)
    return _nlu_yaml(header, [ex for intent in sorted(by_intent) for ex in by_intent[intent]])


def _nlu_yaml(header: Sequence[str], examples: Sequence[Generated]) -> str:
    """Rasa 3 NLU YAML, one intent block per run of examples with the same intent, in the given order."""
    lines = [*header, 'version: "3.1"', "nlu:"]
    intent = None
    for ex in examples:
        if ex.intent != intent:
            intent = ex.intent
            lines += [f"- intent: {intent}", "  examples:"]
        attrs = ", ".join(f"{k}: {v}" for k, v in ex.attributes)
        lines += ["  - text: |", f"      {ex.annotated}", "    metadata:", f"      attributes: {{{attrs}}}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------
# Spoken forms


def hand_written_examples(folder: Path = HAND_WRITTEN) -> List[Example]:
    """The hand-written examples (every file under `folder` outside generated/), in file order."""
    files = sorted(f for f in folder.rglob("*.yml") if "generated" not in f.relative_to(folder).parts)
    return [example for file in files for example in load_examples(file)]


def spoken_example(
    example: Example,
    seed: int,
    avoid: Set[str],
    schema: Mapping[str, Sequence[str]] = DEFAULT_ATTRIBUTES,
) -> Optional[Generated]:
    """A spoken form of the example whose text is not in `avoid` and whose cue words do not contradict
    the written example's labels (carried over explicitly); None if no attempt gives one."""
    labels = attribute_labels(example.text, example.attributes, schema).values
    for attempt in range(SPOKEN_ATTEMPTS):
        annotated = speak(example.annotated, seed, attempt)
        if annotated is None:
            continue
        plain = plain_text(annotated)
        if normalise_for_dedup(plain) in avoid or attribute_labels(plain, labels, schema).conflicts:
            continue
        return Generated(example.intent, annotated, tuple(labels.items()))
    return None


def spoken_heldout(
    written: Sequence[Example],
    training_texts: Set[str],
    seed: int = SPOKEN_HELDOUT_SEED,
    schema: Mapping[str, Sequence[str]] = DEFAULT_ATTRIBUTES,
) -> List[Generated]:
    """The held-out split as transcripts, example for example: same intent, entity types and labels.

    A spoken text may read like its own written example, never like training data, another held-out
    example or an earlier spoken one."""
    written_texts = [normalise_for_dedup(example.text) for example in written]
    out: List[Generated] = []
    made: Set[str] = set()
    for index, example in enumerate(written):
        others = set(written_texts[:index] + written_texts[index + 1 :])
        spoken = spoken_example(example, seed, training_texts | others | made, schema)
        if spoken is None:
            raise ValueError(f"{example.path}:{example.line}: no spoken form of '{example.text}'")
        made.add(normalise_for_dedup(plain_text(spoken.annotated)))
        out.append(spoken)
    return out


def _rank(seed: int, text: str) -> str:
    """A fixed pseudo-random order that does not move when other examples are added or removed."""
    return hashlib.sha256(f"{seed}:{normalise_for_dedup(text)}".encode()).hexdigest()


def spoken_variants(
    sources: Sequence[Example],
    avoid: Set[str],
    seed: int = SPOKEN_SEED,
    share: float = SPOKEN_SHARE,
    schema: Mapping[str, Sequence[str]] = DEFAULT_ATTRIBUTES,
) -> List[Generated]:
    """Spoken forms of `share` of each intent's examples (at least one), none of them in `avoid`."""
    by_intent: Dict[str, List[Example]] = {}
    for example in sources:
        by_intent.setdefault(example.intent, []).append(example)
    seen = set(avoid)
    out: List[Generated] = []
    for intent in sorted(by_intent):
        pool = sorted(by_intent[intent], key=lambda example: _rank(seed, example.text))
        wanted = max(1, round(share * len(pool)))
        made = 0
        for example in pool:
            if made == wanted:
                break
            spoken = spoken_example(example, seed, seen, schema)
            if spoken is not None:
                seen.add(normalise_for_dedup(plain_text(spoken.annotated)))
                out.append(spoken)
                made += 1
    return out


def spoken_heldout_yaml(examples: Sequence[Generated], seed: int) -> str:
    header = [
        "# GENERATED FILE - do not edit by hand. The spoken-form copy of tests/data/heldout_nlu.yml: each",
        "# example as phone ASR (Whisper tiny.en) would write it when a caller says it (numbers in words,",
        "# no punctuation, fillers, repeated words; nlu/tools/spoken_forms.py), in the same order, with the",
        "# same intent, entity types and attribute labels (written out here). Made by",
        f"# `python -m nlu.tools.generate_data` with spoken seed {seed}, not the training variants' seed.",
        "# Training never reads it; python -m nlu.tools.validate_data checks none of its texts is in data/.",
    ]
    return _nlu_yaml(header, examples)


def spoken_variants_yaml(examples: Sequence[Generated], seed: int, share: float) -> str:
    header = [
        "# GENERATED FILE - do not edit by hand. Spoken forms (what phone ASR writes: number words, no",
        f"# punctuation, fillers) of {share:.0%} of each intent's hand-written examples in data/nlu/,",
        "# with their attribute labels, made by `python -m nlu.tools.generate_data`",
        f"# (nlu/tools/spoken_forms.py, spoken seed {seed}). Regenerate after changing the hand-written",
        "# data; tests/test_data_validation.py checks it is up to date.",
    ]
    return _nlu_yaml(header, examples)


def generated_texts(path: Path) -> Set[str]:
    return {normalise_for_dedup(example.text) for example in load_examples(path)} if path.exists() else set()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--vocab", type=Path, default=DEFAULT_VOCAB)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--spoken-out", type=Path, default=DEFAULT_SPOKEN_OUT)
    parser.add_argument("--spoken-heldout-out", type=Path, default=DEFAULT_SPOKEN_HELDOUT)
    args = parser.parse_args(argv)
    try:
        vocab = load_vocab(args.vocab)
        sources = hand_written_examples()
        heldout = spoken_heldout(load_examples(DEFAULT_HELDOUT), existing_texts([HAND_WRITTEN]))
        _write(args.spoken_heldout_out, spoken_heldout_yaml(heldout, SPOKEN_HELDOUT_SEED), len(heldout))
        examples = generate(vocab, args.seed, existing_texts(DEFAULT_EXCLUDE))
    except (ValueError, yaml.YAMLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        shown = args.vocab.resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        shown = args.vocab
    _write(args.out, to_yaml(examples, args.seed, str(shown)), len(examples))
    variants = spoken_variants(sources, existing_texts(DEFAULT_EXCLUDE) | generated_texts(args.out))
    _write(args.spoken_out, spoken_variants_yaml(variants, SPOKEN_SEED, SPOKEN_SHARE), len(variants))
    return 0


def _write(path: Path, text: str, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {count} examples to {path}")


if __name__ == "__main__":
    sys.exit(main())
