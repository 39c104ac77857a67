"""The doubt score of one parse: how unsure the live model was about the least certain thing it said.

    doubt = 1 - min(intent confidence,
                    each entity span's confidence,
                    the tagger's confidence in its whole reading,
                    each attribute's confidence in its predicted value)

- The intent's confidence is `intent.confidence` (a parse without an intent counts as confidence 0).
- A span's confidence is the parse's `confidence_entity`: for the joint model the probability of that
  exact span (docs/architecture.md), boundaries included, whatever its length. A span without one (a
  button payload's entities, given by construction) counts as 1.
- The tagger's reading is the parse's `tagging_confidence` (common.schema.PARSE_TAGGING_CONFIDENCE_KEY:
  the geometric mean of every word's confidence, O words included, i.e. length-normalised). Spans
  alone cannot doubt a product the model nearly tagged and left out; this can. Parses without it (a
  payload, another NLU pipeline) are judged on the rest.
- An attribute's confidence is the `confidence` of the value the parse predicted (`attributes`:
  {name: {value, confidence, source}}), whichever source gave it.

Why the minimum and not a mean: one wrong piece (a lost size span, a wrong gender) makes the whole
example wrong as training data, so the queue should surface a message by its weakest part. The score
is clamped to [0, 1]; confidences that are not numbers are ignored rather than guessed.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Optional

from common.schema import PARSE_TAGGING_CONFIDENCE_KEY


def doubt(parse: Mapping[str, Any]) -> float:
    """1 - the least confidence among intent, entity spans, the tagging and attributes (module docstring)."""
    return round(min(1.0, max(0.0, 1.0 - min(_confidences(parse)))), 6)


def _confidences(parse: Mapping[str, Any]) -> Iterator[float]:
    intent = parse.get("intent")
    yield (_number(intent.get("confidence")) if isinstance(intent, Mapping) else None) or 0.0
    for entity in parse.get("entities") or ():
        if isinstance(entity, Mapping):
            value = _number(entity.get("confidence_entity"))
            yield 1.0 if value is None else value
    tagging = _number(parse.get(PARSE_TAGGING_CONFIDENCE_KEY))
    if tagging is not None:
        yield tagging
    attributes = parse.get("attributes")
    if isinstance(attributes, Mapping):
        for prediction in attributes.values():
            if isinstance(prediction, Mapping):
                value = _number(prediction.get("confidence"))
                if value is not None:
                    yield value


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)
