"""Size of the NLU data per intent, entity type and attribute value (training labels as the model sees them).

    python -m nlu.tools.data_stats                 # data/nlu (hand-written, generated) and the held-out split
    python -m nlu.tools.data_stats --markdown      # the same as Markdown tables

Attribute values are the resolved training labels: explicit metadata, else the cue lexicon's weak label,
else the neutral value; `source` counts say which of the three each label came from.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Dict, List, Mapping, Optional, Sequence

from common.schema import ENTITY_TYPES, INTENTS
from nlu import PROJECT_ROOT
from nlu.pipeline_config import attribute_schema_of
from nlu.tools.validate_data import DEFAULT_HELDOUT, Example, load_examples
from nlu.weak_labels import attribute_labels, label_attributes


def split_examples() -> Dict[str, List[Example]]:
    """The examples of each split: hand-written training, generated training, held-out."""
    nlu_dir = PROJECT_ROOT / "data" / "nlu"
    files = sorted(nlu_dir.rglob("*.yml"))
    return {
        "hand-written": [ex for f in files if "generated" not in f.parts for ex in load_examples(f)],
        "generated": [ex for f in files if "generated" in f.parts for ex in load_examples(f)],
        "held-out": load_examples(DEFAULT_HELDOUT) if DEFAULT_HELDOUT.exists() else [],
    }


def count(examples: Sequence[Example], schema: Mapping[str, Sequence[str]]) -> Dict[str, Counter]:
    """Counters of intents, entity types, attribute values and label sources."""
    out: Dict[str, Counter] = {kind: Counter() for kind in ("intent", "entity", "attribute", "source")}
    for ex in examples:
        out["intent"][ex.intent] += 1
        out["entity"].update(e.entity for e in ex.entities)
        explicit = dict(ex.attributes or {})
        labels = attribute_labels(ex.text, explicit, schema).values
        weak = label_attributes(ex.text)
        for name, value in labels.items():
            out["attribute"][f"{name}={value}"] += 1
            source = "explicit" if name in explicit else "weak" if name in weak else "neutral"
            out["source"][f"{name}:{source}"] += 1
    return out


def render(splits: Dict[str, List[Example]], markdown: bool) -> str:
    schema = attribute_schema_of()  # the attributes config.yml's joint model learns
    counts = {name: count(exs, schema) for name, exs in splits.items()}
    names = list(splits)
    rows: List[str] = []

    def table(title: str, keys: Sequence[str], kind: str) -> None:
        header = [title, *names, "training total"]
        lines = [[key, *(str(counts[n][kind][key]) for n in names)] for key in keys]
        for line, key in zip(lines, keys, strict=True):
            line.append(str(sum(counts[n][kind][key] for n in names if n != "held-out")))
        if markdown:
            rows.append("| " + " | ".join(header) + " |")
            rows.append("|" + "---|" * len(header))
            rows.extend("| " + " | ".join(line) + " |" for line in lines)
        else:
            rows.append("  ".join(f"{h:>16}" for h in header))
            rows.extend("  ".join(f"{c:>16}" for c in line) for line in lines)
        rows.append("")

    rows.append("examples: " + ", ".join(f"{n} {len(splits[n])}" for n in names))
    rows.append("")
    table("intent", list(INTENTS), "intent")
    table("entity type (spans)", list(ENTITY_TYPES), "entity")
    attribute_keys = [f"{a}={v}" for a, values in schema.items() for v in values]
    table("attribute value", attribute_keys, "attribute")
    source_keys = [f"{a}:{s}" for a in schema for s in ("explicit", "weak", "neutral")]
    table("label source", source_keys, "source")
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    print(render(split_examples(), args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
