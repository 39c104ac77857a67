"""A small stratified sample of the NLU training data, for the test suite's quick model.

    python -m nlu.tools.sample_data --out /tmp/sample         # data/ -> /tmp/sample
    python -m nlu.tools.sample_data --out /tmp/sample --per-intent 30 --seed 7

The end-to-end tests need a model that behaves like the shipped one, not the shipped one's accuracy, and
their training time must not grow with `data/`. Of every intent the sample keeps the larger of
`per_intent` examples and its share of `proportional` (the full data's intent mix), more only where
covering needs it, so its size is bounded by these numbers and the schema, not by the data. Per intent
it takes first examples that carry every entity type and every attribute value (resolved as the model
sees them: explicit metadata, else the cue lexicon, else neutral) the intent has in the full data, since
the model drops entity types an intent never carried in training; then examples drawn in turn from each
source file, so hand-written phrasings are not crowded out by generated ones; short examples only
(`max_words`) unless a label needs a longer one; and a few examples of each wording the caller names
(`keep_phrases`: the end-to-end tests' "do you sell ..."). Every file that holds no intent examples
(stories, rules, the lexicon) and every synonym / regex / lookup block is copied as is: the dialogue
stays whole. The same data and seed give the same sample, and data that grows by a few examples moves
only a few picks (candidates are ranked by a hash of their text, not by a shuffle of the whole list).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

from common.schema import METADATA_ATTRIBUTES_KEY
from nlu import PROJECT_ROOT
from nlu.pipeline_config import attribute_schema_of
from nlu.tools.validate_data import DataError, Example, load_examples
from nlu.weak_labels import attribute_labels
from nlu.words import pre_tokenize

DEFAULT_DATA = PROJECT_ROOT / "data"
# Enough for each intent's common phrasings; the covering step may add a few more.
DEFAULT_PER_INTENT = 20
# Examples shared among the intents in proportion to their size in the full data, on top of the floor of
# `per_intent`: the model learns the data's intent mix (a message of unknown words is as unsure as with the
# full data, rather than read as whichever small intent has one-word examples), and search_product, with
# every entity type, gets the most.
DEFAULT_PROPORTIONAL = 400
# Training pads every example to the longest one, so a few long texts make every step dearer; longer
# examples are taken only for a label no shorter one carries.
DEFAULT_MAX_WORDS = 10
DEFAULT_SEED = 42
# Examples kept for each phrase a caller asks for (`keep_phrases`).
PER_PHRASE = 3

Feature = Tuple[str, str]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class SampleSummary:
    """What a written sample holds, for the CLI and the training log."""

    examples: int
    full_examples: int
    intents: int
    nlu_files: int
    copied_files: int


def features(example: Example, schema: Mapping[str, Sequence[str]]) -> FrozenSet[Feature]:
    """The labels an example teaches that the sample must keep: its entity types and attribute values."""
    labels = attribute_labels(example.text, example.attributes, schema).values
    return frozenset(
        [("entity", e.entity) for e in example.entities]
        + [("attribute", f"{name}={value}") for name, value in labels.items()]
    )


def _covering(pool: List[Example], tags: Mapping[int, FrozenSet[Feature]], short: Set[int]) -> List[Example]:
    """Greedy cover: repeatedly the example carrying most still-missing labels, short ones first (then
    first in `pool` on ties)."""
    missing = set().union(*(tags[id(ex)] for ex in pool)) if pool else set()
    chosen: List[Example] = []
    while missing:
        best = max(pool, key=lambda ex: (id(ex) in short and bool(tags[id(ex)] & missing),
                                         len(tags[id(ex)] & missing)))
        chosen.append(best)
        missing -= tags[id(best)]
    return chosen


def _round_robin(pool: Sequence[Example]) -> List[Example]:
    """The pool reordered to take one example from each source file in turn (files in name order)."""
    by_file: Dict[str, List[Example]] = defaultdict(list)
    for example in pool:
        by_file[example.path].append(example)
    queues = [by_file[path] for path in sorted(by_file)]
    out: List[Example] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        out += [q[depth] for q in queues if depth < len(q)]
    return out


def sample_examples(
    examples: Sequence[Example],
    per_intent: int,
    schema: Mapping[str, Sequence[str]],
    seed: int = DEFAULT_SEED,
    max_words: int = DEFAULT_MAX_WORDS,
    proportional: int = DEFAULT_PROPORTIONAL,
    keep_phrases: Sequence[str] = (),
) -> List[Example]:
    """Of each intent, the larger of `per_intent` and its share of `proportional` examples (more only to
    cover its labels), in input order; none over `max_words` words unless it carries a label no
    shorter example of its intent has. Besides, up to `PER_PHRASE` short examples containing each of
    `keep_phrases` (words, case and punctuation aside), for wordings a caller must see handled."""
    if per_intent < 1:
        raise ValueError(f"per_intent must be at least 1, got {per_intent}")
    tags = {id(ex): features(ex, schema) for ex in examples}
    short = {id(ex) for ex in examples if len(pre_tokenize(ex.text)) <= max_words}
    by_intent: Dict[str, List[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    kept: set = set()
    for intent in sorted(by_intent):
        pool = sorted(by_intent[intent], key=lambda ex: _rank(ex, f"{seed}:{intent}"))
        chosen = _covering(pool, tags, short)
        taken = {id(ex) for ex in chosen}
        quota = max(per_intent, round(proportional * len(pool) / len(examples)))
        for example in _round_robin([ex for ex in pool if id(ex) in short]):
            if len(chosen) >= quota:
                break
            if id(example) not in taken:
                chosen.append(example)
                taken.add(id(example))
        kept |= taken
    for phrase in keep_phrases:
        kept |= {id(ex) for ex in _containing(examples, phrase, short, seed)[:PER_PHRASE]}
    return [ex for ex in examples if id(ex) in kept]


def _words(text: str) -> Tuple[str, ...]:
    return tuple(w.text.lower() for w in pre_tokenize(text) if w.text.isalnum())


def _containing(examples: Sequence[Example], phrase: str, short: Set[int], seed: int) -> List[Example]:
    """The short examples whose words contain `phrase`'s words in a row, in a seeded order."""
    wanted = _words(phrase)
    found = [ex for ex in examples if id(ex) in short and _has_run(_words(ex.text), wanted)]
    return sorted(found, key=lambda ex: _rank(ex, f"{seed}:{phrase}"))


def _rank(example: Example, salt: str) -> Tuple[str, str, int]:
    """A seeded order that does not depend on the other examples: a hash of the salt and the example's
    text, then where it is. A shuffle of the whole list would move every pick when one example is added,
    and with it the test suite's model; ranked by hash, the others keep their order around it."""
    digest = hashlib.sha256(f"{salt}\n{example.annotated}".encode()).hexdigest()
    return digest, example.path, example.line


def _has_run(words: Tuple[str, ...], run: Tuple[str, ...]) -> bool:
    return bool(run) and any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


def _example_item(example: Example) -> Dict[str, object]:
    item: Dict[str, object] = {"text": example.annotated}
    if example.attributes is not None:
        item["metadata"] = {METADATA_ATTRIBUTES_KEY: dict(example.attributes)}
    return item


def _sampled_file(raw: Mapping[str, object], kept: Sequence[Example]) -> Dict[str, object]:
    """The file's YAML with its intent blocks replaced by the kept examples (other blocks as they were)."""
    out = {key: value for key, value in raw.items() if key != "nlu"}
    blocks = [b for b in raw.get("nlu") or [] if not (isinstance(b, Mapping) and "intent" in b)]
    by_intent: Dict[str, List[Example]] = defaultdict(list)
    for example in kept:
        by_intent[example.intent].append(example)
    blocks += [{"intent": i, "examples": [_example_item(ex) for ex in exs]} for i, exs in by_intent.items()]
    out["nlu"] = blocks
    return out


def write_sample(
    data_dir: Path,
    out_dir: Path,
    per_intent: int = DEFAULT_PER_INTENT,
    seed: int = DEFAULT_SEED,
    schema: Optional[Mapping[str, Sequence[str]]] = None,
    max_words: int = DEFAULT_MAX_WORDS,
    proportional: int = DEFAULT_PROPORTIONAL,
    keep_phrases: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> SampleSummary:
    """Write a copy of `data_dir` into `out_dir` whose intent examples are `sample_examples`' choice.

    Folders named in `exclude` (relative to `data_dir`, e.g. "imported": data a machine may or may not
    hold) are left out entirely, so the sample is the same wherever it is drawn.
    """
    schema = attribute_schema_of() if schema is None else schema
    skipped = [data_dir / name for name in exclude]
    files = sorted(
        p for p in data_dir.rglob("*") if p.is_file() and not any(p.is_relative_to(s) for s in skipped)
    )
    loaded = {p: load_examples(p, str(p.relative_to(data_dir))) if p.suffix in (".yml", ".yaml") else []
              for p in files}
    everything = [ex for exs in loaded.values() for ex in exs]
    kept = sample_examples(everything, per_intent, schema, seed, max_words, proportional, keep_phrases)
    kept_by_file: Dict[str, List[Example]] = defaultdict(list)
    for example in kept:
        kept_by_file[example.path].append(example)
    out_dir.mkdir(parents=True, exist_ok=True)
    nlu_files = 0
    for path in files:
        relative = path.relative_to(data_dir)
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not loaded[path]:
            shutil.copyfile(path, target)
            continue
        nlu_files += 1
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        sampled = _sampled_file(raw, kept_by_file.get(str(relative), []))
        target.write_text(yaml.safe_dump(sampled, sort_keys=False, allow_unicode=True, width=1000),
                          encoding="utf-8")
    return SampleSummary(
        examples=len(kept),
        full_examples=len(everything),
        intents=len({ex.intent for ex in kept}),
        nlu_files=nlu_files,
        copied_files=len(files) - nlu_files,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the training data folder")
    parser.add_argument("--out", type=Path, required=True, help="where the sampled copy is written")
    parser.add_argument("--per-intent", type=int, default=DEFAULT_PER_INTENT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--proportional", type=int, default=DEFAULT_PROPORTIONAL)
    parser.add_argument("--max-words", type=int, default=DEFAULT_MAX_WORDS)
    parser.add_argument("--keep-phrase", action="append", default=[], help="keep examples with these words")
    parser.add_argument("--exclude", action="append", default=[], help="a folder of --data to leave out")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: {args.data} is not a folder", file=sys.stderr)
        return 2
    if args.out.resolve() == args.data.resolve():
        print("error: --out must differ from --data", file=sys.stderr)
        return 2
    try:
        summary = write_sample(args.data, args.out, args.per_intent, args.seed, max_words=args.max_words,
                               proportional=args.proportional, keep_phrases=args.keep_phrase,
                               exclude=args.exclude)
    except (DataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{summary.examples} of {summary.full_examples} examples, {summary.intents} intents, "
          f"{summary.nlu_files} NLU files sampled, {summary.copied_files} other files copied -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
