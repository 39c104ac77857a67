"""Cue fusion: the model's attributes backed by the cue lexicon's near-certain words ("wife", "10yo", "gift").

A post-processing step of `JointShoppingNLU.process` (config keys `cue_fusion`, `cue_confidence`), so that
/model/parse, the evaluation CLI and the bot all see the same attributes. For each attribute, a cue that
reads a non-neutral value (`nlu.weak_labels.label_attributes`, taken at `cue_confidence`):
- fills in what the model left neutral (unknown / false): the cue's value, source "cues";
- agrees with the model: the higher of the two confidences, source "model+cues";
- disagrees with the model: wins only where the model is less sure than the cue (source "cues"),
  otherwise the model's reading stands.
A cue for a neutral value ("for me": gift false) adds nothing; the model's reading stands.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

from common.schema import NEUTRAL_VALUES
from nlu.prediction import AttributeReading
from nlu.weak_labels import label_attributes

SOURCE_CUES = "cues"
SOURCE_MODEL_AND_CUES = "model+cues"


def fuse_attributes(
    model: Mapping[str, AttributeReading], cues: Mapping[str, str], cue_confidence: float
) -> Dict[str, AttributeReading]:
    """The model's attribute readings combined with cue values ({attribute: value}) as described above.

    Only the model's attributes are returned; a cue for an attribute the model does not have is ignored.
    """
    fused = dict(model)
    for name, cue_value in cues.items():
        if name not in fused or cue_value in NEUTRAL_VALUES:
            continue
        value, confidence, _ = fused[name]
        if value in NEUTRAL_VALUES or (value != cue_value and confidence < cue_confidence):
            fused[name] = AttributeReading(cue_value, cue_confidence, SOURCE_CUES)
        elif value == cue_value:
            fused[name] = AttributeReading(value, max(confidence, cue_confidence), SOURCE_MODEL_AND_CUES)
    return fused


def fuse_with_cues(
    text: str,
    model: Mapping[str, AttributeReading],
    cue_confidence: float,
    schema: Optional[Mapping[str, Sequence[str]]] = None,
) -> Dict[str, AttributeReading]:
    """`fuse_attributes` with the cues the lexicon reads in `text` (only values the schema allows)."""
    cues = {
        name: value
        for name, value in label_attributes(text).items()
        if schema is None or value in schema.get(name, ())
    }
    return fuse_attributes(model, cues, cue_confidence)
