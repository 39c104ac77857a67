"""Project checks on NLU training data that `rasa data validate` does not make.

    python -m nlu.tools.validate_data                       # data/ and the held-out splits (tests/data/)
    python -m nlu.tools.validate_data data/nlu/toys.yml     # some files or folders

Reports, each as `path:line: message` (exit code 1 when there is any):
- unknown intents, entity types, attribute names or attribute values (names from common/schema.py; the
  attribute set from the JointShoppingNLU step of config.yml when it declares one),
- entity spans that cut a word, bracketed text with no entity type, empty examples,
- duplicate examples, and contradictory ones (same text, different intent / entities / attributes),
  including across training data and the held-out splits (a held-out text must not be in training;
  the spoken split repeats the written one's examples, so the same text with the same labels in both is
  fine),
- explicit attribute labels that the cue lexicon's weak labels contradict,
- in the review console's files (learning/export.py writes a `nlu/reviewed/` folder and
  heldout_reviewed.yml): every example labels every attribute explicitly; a person read the text, so
  cue words that disagree are not reported. The review-derived held-out slice
  (tests/data/heldout_reviewed.yml) counts as held out once it exists.
Malformed YAML is reported with its file and line, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import yaml

from common.schema import ENTITY_TYPES, INTENTS, METADATA_ATTRIBUTES_KEY
from nlu import PROJECT_ROOT
from nlu.pipeline_config import DEFAULT_CONFIG_PATH, attribute_schema_of
from nlu.weak_labels import attribute_labels

DEFAULT_HELDOUT = PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml"
# The spoken-form copy of the held-out split (what phone ASR writes), made by nlu.tools.generate_data.
DEFAULT_SPOKEN_HELDOUT = PROJECT_ROOT / "tests" / "data" / "heldout_nlu_spoken.yml"
DEFAULT_HELDOUTS = (DEFAULT_HELDOUT, DEFAULT_SPOKEN_HELDOUT)
DEFAULT_PATHS = (PROJECT_ROOT / "data", *DEFAULT_HELDOUTS)
# The held-out slice of reviewed live messages (learning/export.py); there only after a console export.
DEFAULT_REVIEWED_HELDOUT = PROJECT_ROOT / "tests" / "data" / "heldout_reviewed.yml"
# The folder (under data/) of the review console's training file.
REVIEWED_FOLDER = ("nlu", "reviewed")

# Rasa's entity annotation: [text](type), [text](type:value), or [text]{"entity": "type", ...}.
_ANNOTATION_RE = re.compile(r"\[(?P<text>[^\]]+?)\](?:\((?P<paren>[^)]*)\)|\{(?P<brace>[^}]*)\})")
_BARE_BRACKET_RE = re.compile(r"\[[^\]]*\](?![({])")


class DataError(ValueError):
    """A file that cannot be read as NLU YAML; the message names the file and line."""


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    entity: str
    value: str


@dataclass
class Example:
    """One NLU example, with where it was written."""

    path: str
    line: int
    intent: str
    annotated: str
    text: str
    entities: List[Entity]
    attributes: Optional[Mapping[str, object]]
    problems: List[str] = field(default_factory=list)


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def parse_annotated(annotated: str) -> Tuple[str, List[Entity], List[str]]:
    """Plain text, entity spans (character offsets into it) and annotation problems of one example."""
    problems: List[str] = []
    entities: List[Entity] = []
    parts: List[str] = []
    pos = 0
    length = 0
    for match in _ANNOTATION_RE.finditer(annotated):
        before = annotated[pos : match.start()]
        parts.append(before)
        length += len(before)
        span = match.group("text")
        entity, value = "", span
        if match.group("paren") is not None:
            entity, _, synonym = match.group("paren").partition(":")
            value = synonym or span
        else:
            try:
                spec = json.loads("{" + match.group("brace") + "}")
                entity = str(spec.get("entity", ""))
                value = str(spec.get("value", span))
            except json.JSONDecodeError:
                problems.append(f"malformed entity annotation '{match.group(0)}'")
        entities.append(Entity(length, length + len(span), entity.strip(), value))
        parts.append(span)
        length += len(span)
        pos = match.end()
    parts.append(annotated[pos:])
    text = "".join(parts)
    for bare in _BARE_BRACKET_RE.finditer(text):
        problems.append(f"bracketed text '{bare.group(0)}' has no (entity_type)")
    return text, entities, problems


def _line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping_get(node: yaml.Node, key: str) -> Optional[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None


def load_examples(path: Path, display: Optional[str] = None) -> List[Example]:
    """The intent examples of one Rasa NLU YAML file, each with its line; [] for non-NLU YAML files."""
    shown = display or str(path)
    raw = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(err, "problem", None) or str(err)
        raise DataError(f"{shown}:{line}: malformed YAML: {problem}") from None
    nlu = _mapping_get(root, "nlu") if root is not None else None
    if nlu is None:
        return []
    if not isinstance(nlu, yaml.SequenceNode):
        raise DataError(f"{shown}:{_line_of(nlu)}: 'nlu' must be a list of blocks")
    lines = raw.splitlines()
    values = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["nlu"]
    examples: List[Example] = []
    for block, block_value in zip(nlu.value, values, strict=True):
        intent_node = _mapping_get(block, "intent")
        if intent_node is None:
            continue  # synonym / regex / lookup blocks
        intent = str(intent_node.value).strip()
        examples_node = _mapping_get(block, "examples")
        if examples_node is None:
            raise DataError(f"{shown}:{_line_of(block)}: intent '{intent}' has no examples")
        if isinstance(examples_node, yaml.ScalarNode):
            examples += _block_examples(shown, intent, examples_node, lines)
        elif isinstance(examples_node, yaml.SequenceNode):
            examples += _list_examples(shown, intent, examples_node, block_value["examples"])
        else:
            raise DataError(f"{shown}:{_line_of(examples_node)}: examples must be a string or a list")
    return examples


def _block_examples(shown: str, intent: str, node: yaml.ScalarNode, lines: Sequence[str]) -> List[Example]:
    out: List[Example] = []
    if node.style in ("|", ">"):
        first, last = node.start_mark.line + 1, node.end_mark.line
        numbered = [(i + 1, lines[i]) for i in range(first, min(last + 1, len(lines)))]
    else:
        numbered = [(_line_of(node), line) for line in node.value.splitlines()]
    indents = [len(line) - len(line.lstrip()) for _, line in numbered if line.strip()]
    content_indent = indents[0] if indents else 0
    for number, line in numbered:
        stripped = line.strip()
        if stripped and len(line) - len(line.lstrip()) < content_indent:
            break  # the block scalar ended; this line belongs to the next YAML node
        if not stripped.startswith("-"):
            continue
        out.append(_example(shown, number, intent, stripped[1:].strip(), None))
    return out


def _list_examples(
    shown: str, intent: str, node: yaml.SequenceNode, values: Sequence[object]
) -> List[Example]:
    out: List[Example] = []
    for item, value in zip(node.value, values, strict=True):
        text_node = _mapping_get(item, "text")
        if text_node is None or not isinstance(text_node, yaml.ScalarNode):
            raise DataError(f"{shown}:{_line_of(item)}: a list example needs a 'text'")
        metadata = value.get("metadata") if isinstance(value, Mapping) else None
        example = _example(shown, _line_of(item), intent, text_node.value.strip(), None)
        if metadata is not None and not isinstance(metadata, Mapping):
            example.problems.append("metadata must be a mapping")
        elif metadata is not None and METADATA_ATTRIBUTES_KEY in metadata:
            attributes = metadata[METADATA_ATTRIBUTES_KEY]
            if not isinstance(attributes, Mapping):
                example.problems.append(f"metadata.{METADATA_ATTRIBUTES_KEY} must be a mapping")
            else:
                example.attributes = attributes
        out.append(example)
    return out


def _example(shown: str, line: int, intent: str, annotated: str, attributes) -> Example:
    text, entities, problems = parse_annotated(annotated)
    return Example(shown, line, intent, annotated, text, entities, attributes, problems)


def normalise_for_dedup(text: str) -> str:
    """Texts compared for duplicates: lower-case, single spaces."""
    return re.sub(r"\s+", " ", text.strip().lower())


def check_example(
    example: Example, schema: Mapping[str, Sequence[str]], reviewed: bool = False
) -> Tuple[List[str], Dict[str, str]]:
    """Problems of one example on its own, and its resolved attribute labels.

    `reviewed`: the example comes from the review console, so it must label every attribute, and a
    person's label standing against the cue words is not a problem.
    """
    problems = list(example.problems)
    if reviewed:
        missing = [name for name in schema if name not in (example.attributes or {})]
        if missing:
            problems.append(f"reviewed example without attribute label(s): {', '.join(missing)}")
    if not example.text.strip():
        problems.append("empty example")
    if example.intent not in INTENTS:
        problems.append(f"unknown intent '{example.intent}'")
    for ent in example.entities:
        if ent.entity not in ENTITY_TYPES:
            problems.append(f"unknown entity type '{ent.entity}' on '{example.text[ent.start : ent.end]}'")
        span = example.text[ent.start : ent.end]
        if span != span.strip():
            problems.append(f"entity span '{span}' ({ent.entity}) starts or ends with white space")
        cuts_before = ent.start > 0 and example.text[ent.start - 1].isalnum() and span[:1].isalnum()
        cuts_after = ent.end < len(example.text) and example.text[ent.end].isalnum() and span[-1:].isalnum()
        if cuts_before or cuts_after:
            problems.append(f"entity span '{span}' ({ent.entity}) cuts a word in '{example.text}'")
    explicit: Dict[str, object] = {}
    for name, value in dict(example.attributes or {}).items():
        if name not in schema:
            problems.append(f"unknown attribute '{name}' (known: {', '.join(schema)})")
        else:
            explicit[name] = value
    try:
        labels = attribute_labels(example.text, explicit, schema)
    except ValueError as err:
        problems.append(str(err))
        labels = attribute_labels(example.text, None, schema)
    for conflict in [] if reviewed else labels.conflicts:
        problems.append(f"weak label contradicts explicit label: {conflict}")
    return problems, labels.values


def validate(
    paths: Iterable[Path],
    schema: Mapping[str, Sequence[str]],
    heldout: Union[Path, Sequence[Path], None] = DEFAULT_HELDOUT,
    base: Optional[Path] = None,
) -> Tuple[List[Problem], int]:
    """All problems in the NLU files under `paths`, and how many examples were checked.

    `heldout` is the held-out file, or several (the written split and its spoken copy).
    """
    files: List[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.yml") if p.is_file())
            files += sorted(p for p in path.rglob("*.yaml") if p.is_file())
        elif path.exists():
            files.append(path)
        else:
            return [Problem(str(path), 0, "no such file or folder")], 0
    heldout_files = [heldout] if isinstance(heldout, Path) else list(heldout or ())
    heldout_resolved = {path.resolve() for path in heldout_files}
    problems: List[Problem] = []
    seen: Dict[str, Tuple[Example, Optional[Path], tuple]] = {}
    count = 0
    for file in dict.fromkeys(f.resolve() for f in files):
        shown = _display(file, base)
        try:
            examples = load_examples(file, shown)
        except DataError as err:
            path_line, _, message = str(err).partition(": ")
            where, _, line = path_line.rpartition(":")
            problems.append(Problem(where, int(line) if line.isdigit() else 0, message))
            continue
        except UnicodeDecodeError as err:
            problems.append(Problem(shown, 1, f"not UTF-8 text: {err.reason}"))
            continue
        heldout_file = file if file in heldout_resolved else None
        for example in examples:
            count += 1
            own, labels = check_example(example, schema, reviewed=is_reviewed_file(file))
            problems += [Problem(example.path, example.line, message) for message in own]
            signature = (
                example.intent,
                tuple(sorted((e.start, e.end, e.entity) for e in example.entities)),
                tuple(sorted(labels.items())),
            )
            key = normalise_for_dedup(example.text)
            if key not in seen:
                seen[key] = (example, heldout_file, signature)
                continue
            problem = _duplicate_problem(example, heldout_file, signature, *seen[key])
            if problem is not None:
                problems.append(problem)
    return sorted(problems), count


def is_reviewed_file(path: Path) -> bool:
    """Whether the review console wrote a file: its training folder (`nlu/reviewed/`) or held-out slice."""
    return tuple(path.parts[-3:-1]) == REVIEWED_FOLDER or path.name == DEFAULT_REVIEWED_HELDOUT.name


def default_heldouts() -> List[Path]:
    """The held-out files: the written and the spoken split, and the reviewed slice when exported."""
    return [*DEFAULT_HELDOUTS, *([DEFAULT_REVIEWED_HELDOUT] if DEFAULT_REVIEWED_HELDOUT.exists() else [])]


def _duplicate_problem(
    example: Example,
    heldout_file: Optional[Path],
    signature: tuple,
    first: Example,
    first_heldout_file: Optional[Path],
    first_signature: tuple,
) -> Optional[Problem]:
    """The problem with a text seen before; None for the same example in two held-out splits."""
    where = f"{first.path}:{first.line}"
    if (heldout_file is None) != (first_heldout_file is None):
        message = f"held-out text '{example.text}' is also in training ({where})"
        return Problem(example.path, example.line, message)
    if signature == first_signature:
        if heldout_file is not None and heldout_file != first_heldout_file:
            return None  # a spoken copy that reads the same as the written example
        return Problem(example.path, example.line, f"duplicate of {where}: '{example.text}'")
    differences = [
        name
        for name, a, b in zip(("intent", "entities", "attributes"), signature, first_signature, strict=True)
        if a != b
    ]
    message = f"contradicts {where}: same text '{example.text}', different {', '.join(differences)}"
    return Problem(example.path, example.line, message)


def _display(path: Path, base: Optional[Path]) -> str:
    for root in (base, Path.cwd()):
        if root is not None:
            try:
                return str(path.relative_to(root.resolve()))
            except ValueError:
                continue
    return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Check Shopcue NLU data beyond `rasa data validate`.")
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: data/ and held-out)")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="config.yml with the attributes"
    )
    parser.add_argument(
        "--heldout",
        type=Path,
        action="append",
        help="a held-out split's file (repeatable; default: the written and spoken splits, reviewed slice)",
    )
    args = parser.parse_args(argv)
    paths = args.paths or [PROJECT_ROOT / "data", *default_heldouts()]
    try:
        schema = attribute_schema_of(args.config)
    except yaml.YAMLError as err:
        print(f"{args.config}: malformed YAML: {err}", file=sys.stderr)
        return 1
    problems, count = validate(paths, schema, args.heldout or default_heldouts())
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {count} examples", file=sys.stderr)
        return 1
    print(f"{count} examples checked: no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
