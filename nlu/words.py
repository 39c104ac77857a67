"""Words and BIO tags: how a message is split into words, and entity spans <-> one BIO tag per word.

Every other part of the model (encoding, training, decoding) works on these words, so an entity span can
start or end wherever annotators put it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from common.placeholders import PLACEHOLDER_PATTERN

# Words: runs of letters, runs of digits, or any other single non-space character. Splitting "10yo"
# into "10" + "yo" and "$30" into "$" + "30" lets a span start or end wherever annotators put it.
# A redaction placeholder ("<PERSON>", common/placeholders.py) is one word, not "<" + "PERSON" + ">".
WORD_PATTERN = re.compile(rf"{PLACEHOLDER_PATTERN.pattern}|[^\W\d_]+|\d+|\S")
# A message must contain a Latin letter or a digit before the model is trusted with entities or
# non-neutral attributes: the English encoder has no evidence to offer about emoji, control characters
# or scripts it maps to [UNK].
LATIN_ALNUM_PATTERN = re.compile(r"[A-Za-z0-9\u00C0-\u024F]")
# Terminal escape sequences and C0 control characters carry no words; they are blanked (same length,
# so character offsets still index the original text) before the text is split into words.
CONTROL_PATTERN = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Word:
    """One word of a message and its character offsets in it."""

    text: str
    start: int
    end: int


def pre_tokenize(text: str, max_words: Optional[int] = None) -> List[Word]:
    """Words with character offsets; stops after `max_words` so huge messages stay cheap."""
    words: List[Word] = []
    for match in WORD_PATTERN.finditer(blank_control_characters(text)):
        words.append(Word(match.group(), match.start(), match.end()))
        if max_words is not None and len(words) >= max_words:
            break
    return words


def blank_control_characters(text: str) -> str:
    return CONTROL_PATTERN.sub(lambda match: " " * len(match.group()), text)


def has_latin_evidence(text: str) -> bool:
    return LATIN_ALNUM_PATTERN.search(blank_control_characters(text)) is not None


def spans_to_word_tags(words: Sequence[Word], spans: Iterable[Tuple[int, int, str]]) -> List[str]:
    """BIO tag per word: a word belongs to a span when it overlaps it; the span's first word gets B-."""
    tags = ["O"] * len(words)
    for start, end, entity_type in sorted(spans):
        inside = False
        for index, word in enumerate(words):
            if word.end <= start or word.start >= end:
                continue
            if tags[index] != "O":
                continue  # overlapping annotations: the earlier span keeps the word
            tags[index] = ("I-" if inside else "B-") + entity_type
            inside = True
    return tags


def word_tags_to_spans(
    text: str,
    words: Sequence[Word],
    tags: Sequence[Optional[str]],
    tag_confidences: Optional[Sequence[float]] = None,
) -> List[Dict[str, Any]]:
    """Decode BIO tags per word to character spans; an I- without a matching B- opens a new span.

    A word tagged None (it produced no subword token, e.g. a control character) ends any open span.
    The span's confidence is the mean of its words' confidences (with the CRF every word of a span carries
    the span's exact probability, so the mean is that).
    """
    spans: List[Dict[str, Any]] = []
    current: Optional[Dict[str, Any]] = None
    current_confidences: List[float] = []

    def close() -> None:
        nonlocal current, current_confidences
        if current is not None:
            current["value"] = text[current["start"] : current["end"]]
            current["confidence_entity"] = float(sum(current_confidences) / len(current_confidences))
            spans.append(current)
        current, current_confidences = None, []

    for index, (word, tag) in enumerate(zip(words, tags, strict=True)):
        confidence = tag_confidences[index] if tag_confidences is not None else 1.0
        if tag is None or tag == "O":
            close()
            continue
        prefix, _, entity_type = tag.partition("-")
        if prefix == "I" and current is not None and current["entity"] == entity_type:
            current["end"] = word.end
            current_confidences.append(confidence)
            continue
        close()
        current = {"entity": entity_type, "start": word.start, "end": word.end}
        current_confidences = [confidence]
    close()
    return spans
