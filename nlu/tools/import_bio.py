"""Import BIO-tagged query data (JSONL or CoNLL columns) as Rasa NLU YAML for Shopcue.

    python -m nlu.tools.import_bio ../shared/datasets/queryner/train.jsonl \\
        --out data/imported/queryner_train.yml
    python -m nlu.tools.import_bio queries.conll --format conll --mapping my_mapping.yml \\
        --out data/imported/x.yml

Input: JSONL lines `{"tokens": [...], "tags": ["B-color", "I-color", "O", ...]}`, or CoNLL: one token per
line with its tag in the last column, blank lines between queries. A mapping YAML (default:
data/lexicon/queryner_mapping.yml; the format nlu/tools/evaluate.py reads too) names the project entity
type of each source type; types listed under `attribute_evidence` (QueryNER's `department`: "womens", "boys",
"1 year old") become attribute labels read with the cue lexicon instead of entities; unmapped types are
dropped. Write the output to git-ignored data/imported/: imported data is never committed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import yaml

from common.schema import ENTITY_TYPES, INTENTS
from nlu import PROJECT_ROOT
from nlu.weak_labels import label_attributes

DEFAULT_MAPPING = PROJECT_ROOT / "data" / "lexicon" / "queryner_mapping.yml"
IMPORT_DIR = PROJECT_ROOT / "data" / "imported"
ATTRIBUTES_FROM_SPANS = ("gender", "age_group")
# Characters Rasa's inline annotation reads as markup; replaced inside tokens so spans stay literal.
_MARKUP = str.maketrans({"[": "(", "]": ")", "{": "(", "}": ")"})


class BioImportError(ValueError):
    """Bad input or mapping; the message names the file and line."""


@dataclass(frozen=True)
class TypeMapping:
    intent: str
    entities: Dict[str, str]
    attributes: Tuple[str, ...]


@dataclass
class Query:
    """One source query: its tokens and BIO tags, and where it came from."""

    tokens: List[str]
    tags: List[str]
    line: int


@dataclass
class Converted:
    text: str
    annotated: str
    entities: List[Tuple[int, int, str]]  # token start, token end (exclusive), project type
    attributes: Dict[str, str] = field(default_factory=dict)


def load_mapping(path: Path) -> TypeMapping:
    """The type mapping at `path`, checked against the project's entity types and intents."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise BioImportError(f"{path}:{mark.line + 1 if mark else 1}: malformed mapping YAML") from None
    if "attributes" in data:
        raise BioImportError(f"{path}: the key is 'attribute_evidence', not 'attributes'")
    entities = {str(k): str(v) for k, v in dict(data.get("entities", {})).items() if v}
    unknown = sorted(v for v in entities.values() if v not in ENTITY_TYPES)
    if unknown:
        raise BioImportError(f"{path}: unknown project entity type(s): {', '.join(unknown)}")
    intent = str(data.get("intent", "search_product"))
    if intent not in INTENTS:
        raise BioImportError(f"{path}: unknown intent '{intent}'")
    evidence = tuple(str(a) for a in data.get("attribute_evidence", []) or [])
    return TypeMapping(intent, entities, evidence)


def read_jsonl(path: Path) -> Iterator[Query]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                tokens, tags = list(record["tokens"]), list(record["tags"])
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise BioImportError(
                    f'{path}:{number}: not a {{"tokens", "tags"}} JSON object ({err})'
                ) from None
            yield _checked(Query([str(t) for t in tokens], [str(t) for t in tags], number), path)


def read_conll(path: Path) -> Iterator[Query]:
    tokens: List[str] = []
    tags: List[str] = []
    start = 1
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("-DOCSTART-"):
                if tokens:
                    yield _checked(Query(tokens, tags, start), path)
                tokens, tags = [], []
                continue
            if stripped.startswith("#") and not tokens:
                continue
            columns = stripped.split()
            if len(columns) < 2:
                raise BioImportError(f"{path}:{number}: expected 'token ... tag' columns, got '{stripped}'")
            if not tokens:
                start = number
            tokens.append(columns[0])
            tags.append(columns[-1])
    if tokens:
        yield _checked(Query(tokens, tags, start), path)


def _checked(query: Query, path: Path) -> Query:
    if len(query.tokens) != len(query.tags):
        raise BioImportError(f"{path}:{query.line}: {len(query.tokens)} tokens but {len(query.tags)} tags")
    for tag in query.tags:
        if tag != "O" and (len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES"):
            raise BioImportError(f"{path}:{query.line}: tag '{tag}' is not BIO (O, B-type, I-type)")
    return query


def bio_spans(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """(start, end, type) token spans of BIO/BIOES tags; an I- that does not continue a span starts one."""
    spans: List[Tuple[int, int, str]] = []
    current: Optional[List] = None
    for i, tag in enumerate(tags):
        prefix, kind = (tag[0], tag[2:]) if tag != "O" else ("O", "")
        continues = current is not None and prefix in "IE" and current[2] == kind
        if continues:
            current[1] = i + 1
        else:
            if current is not None:
                spans.append(tuple(current))
            current = [i, i + 1, kind] if prefix != "O" else None
        if current is not None and prefix in "ES":
            spans.append(tuple(current))
            current = None
    if current is not None:
        spans.append(tuple(current))
    return spans


def convert(query: Query, mapping: TypeMapping) -> Converted:
    """The query as annotated text, with mapped entities and attribute labels from attribute spans."""
    tokens = [t.translate(_MARKUP) for t in query.tokens]
    entities: List[Tuple[int, int, str]] = []
    attribute_texts: List[str] = []
    for start, end, kind in bio_spans(query.tags):
        if kind in mapping.attributes:
            attribute_texts.append(" ".join(tokens[start:end]))
        elif kind in mapping.entities:
            entities.append((start, end, mapping.entities[kind]))
    parts: List[str] = []
    i = 0
    for start, end, kind in entities:
        parts += tokens[i:start]
        parts.append(f"[{' '.join(tokens[start:end])}]({kind})")
        i = end
    parts += tokens[i:]
    attributes: Dict[str, str] = {}
    if attribute_texts:
        cues = label_attributes(" ; ".join(attribute_texts))
        attributes = {k: v for k, v in cues.items() if k in ATTRIBUTES_FROM_SPANS}
    return Converted(" ".join(tokens), " ".join(parts), entities, attributes)


def character_spans(converted: Converted) -> List[Tuple[int, int, str]]:
    """The entities as character offsets into `converted.text` (its tokens joined by single spaces)."""
    offsets, position = [], 0
    for token in converted.text.split(" "):
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return [(offsets[start][0], offsets[end - 1][1], kind) for start, end, kind in converted.entities]


def licence_note(source: Path) -> List[str]:
    """The licence beside the source data (its LICENSE's title and copyright lines), as header comments.

    Imported data carries its attribution wherever it goes (a training run's data folder, a model
    built from it), so whoever finds the file knows whose labels it holds and on what terms.
    """
    licence = source.parent / "LICENSE"
    if not licence.is_file():
        return []
    wanted = [
        line.strip()
        for line in licence.read_text(encoding="utf-8", errors="replace").splitlines()[:8]
        if line.strip() and (line.strip().lower().endswith("license") or "copyright" in line.lower())
    ]
    return [f"# Licence: {licence} ({'; '.join(wanted)})"] if wanted else [f"# Licence: {licence}"]


def to_yaml(converted: Sequence[Converted], intent: str, source: str, header: Sequence[str] = ()) -> str:
    lines = [
        f"# Imported by `python -m nlu.tools.import_bio` from {source}. Not hand-written; do not commit.",
        *header,
        'version: "3.1"',
        "nlu:",
        f"- intent: {intent}",
        "  examples:",
    ]
    for example in converted:
        lines += ["  - text: |", f"      {example.annotated}"]
        if example.attributes:
            attrs = ", ".join(f"{k}: {v}" for k, v in example.attributes.items())
            lines += ["    metadata:", f"      attributes: {{{attrs}}}"]
    return "\n".join(lines) + "\n"


def import_file(
    source: Path, mapping: TypeMapping, fmt: str, skip_texts: Set[str] = frozenset()
) -> Tuple[List[Converted], Counter]:
    """Converted queries (duplicates and `skip_texts` left out) and counts of what was kept or dropped."""
    reader = read_jsonl if fmt == "jsonl" else read_conll
    stats: Counter = Counter()
    seen: Set[str] = set()
    out: List[Converted] = []
    for query in reader(source):
        stats["queries"] += 1
        if not any(t.strip() for t in query.tokens):
            stats["empty"] += 1
            continue
        example = convert(query, mapping)
        key = " ".join(example.text.lower().split())
        if key in seen or key in skip_texts:
            stats["duplicates_or_known"] += 1
            continue
        seen.add(key)
        out.append(example)
        stats["examples"] += 1
        for _, _, kind in example.entities:
            stats[f"entity:{kind}"] += 1
        for name, value in example.attributes.items():
            stats[f"attribute:{name}={value}"] += 1
    return out, stats


def _known_texts() -> Set[str]:
    """Texts already in the shipped training data or the held-out split: importing them adds nothing."""
    from nlu.tools.validate_data import DEFAULT_HELDOUT, load_examples, normalise_for_dedup

    files = sorted((PROJECT_ROOT / "data" / "nlu").rglob("*.yml"))
    files += [DEFAULT_HELDOUT] if DEFAULT_HELDOUT.exists() else []
    return {normalise_for_dedup(ex.text) for f in files for ex in load_examples(f)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Convert BIO JSONL / CoNLL query data to Rasa NLU YAML.")
    parser.add_argument("input", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="output YAML (e.g. data/imported/x.yml)")
    parser.add_argument("--mapping", type=Path, default=DEFAULT_MAPPING)
    parser.add_argument("--format", choices=("jsonl", "conll"), default=None, help="default: from the suffix")
    args = parser.parse_args(argv)
    fmt = args.format or ("jsonl" if args.input.suffix in (".jsonl", ".json") else "conll")
    try:
        mapping = load_mapping(args.mapping)
        converted, stats = import_file(args.input, mapping, fmt, _known_texts())
    except (BioImportError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    if out.is_relative_to(PROJECT_ROOT) and not out.is_relative_to(IMPORT_DIR):
        print(f"warning: {args.out} is inside the repository but not in data/imported/ (git-ignored)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        to_yaml(converted, mapping.intent, str(args.input), licence_note(args.input)), encoding="utf-8"
    )
    print(f"{stats['queries']} queries -> {stats['examples']} examples in {args.out}")
    for key in sorted(k for k in stats if ":" in k):
        print(f"  {key}: {stats[key]}")
    skipped = stats["duplicates_or_known"] + stats["empty"]
    if skipped:
        print(f"  skipped (duplicate, already in data/nlu or held-out, or empty): {skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
