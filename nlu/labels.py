"""Training examples in model terms and the label sets learned from them: BIO tags, entity types by intent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple


@dataclass
class Example:
    """One training example in model terms (labels as strings; indices are made per batch)."""

    text: str
    intent: Optional[str]
    entities: List[Tuple[int, int, str]]  # (start, end, entity type)
    attributes: Dict[str, str] = field(default_factory=dict)
    reviewed: bool = False  # a reviewer's label on a real message (metadata source: review)


def tag_labels_for(entity_types: Iterable[str]) -> List[str]:
    return ["O"] + [f"{prefix}-{entity}" for entity in sorted(set(entity_types)) for prefix in ("B", "I")]


def entity_types_per_intent(examples: Iterable[Example]) -> Dict[str, List[str]]:
    """Which entity types trainers annotated with each intent ("thanks" and "out_of_scope": none)."""
    seen: Dict[str, set] = {}
    for example in examples:
        if example.intent:
            seen.setdefault(example.intent, set()).update(entity for _, _, entity in example.entities)
    return {intent: sorted(types) for intent, types in sorted(seen.items())}


def keep_entities_for_intent(
    entities: List[Dict[str, Any]], intent: str, intent_entity_types: Mapping[str, Sequence[str]]
) -> List[Dict[str, Any]]:
    """Drops entity types the predicted intent never carried in training.

    The joint model decides intent and tags in one pass; a message it reads as small talk or out of
    scope ("what's the wifi password") should not leave a stray product type in the slots.
    """
    if intent not in intent_entity_types:
        return entities
    allowed = set(intent_entity_types[intent])
    return [span for span in entities if span["entity"] in allowed]
