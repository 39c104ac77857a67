"""The catalog-gap report: what shoppers searched for that the catalog answered with nothing.

Read from the `zero_results` suggestions (learning/reactions.py), whose label keeps the search's product
phrase as the action understood it; words are counted too, so "linen jumpsuit" and "silk jumpsuit"
both count towards "jumpsuit".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import List, Optional, Tuple

from sqlalchemy import select
from sqlalchemy.engine import Engine

from learning.db import suggestions
from learning.reactions import ZERO_RESULTS

# Words that say nothing about a product; placeholders of redaction ("<EMAIL>") are left out as well.
STOP_WORDS = frozenset({
    "a", "an", "and", "any", "for", "i", "in", "me", "my", "of", "on", "or", "some", "the", "to", "with",
    "under", "over", "than", "cheap", "cheaper", "please", "want", "looking", "need", "show", "find", "get",
    "have", "do", "you",
})
WORD = re.compile(r"[a-z][a-z'-]+")


@dataclass(frozen=True)
class GapReport:
    searches: int
    phrases: List[Tuple[str, int]]
    words: List[Tuple[str, int]]


def gap_report(engine: Engine, top: int = 20, since: Optional[datetime] = None) -> GapReport:
    """The most frequent phrases and words of zero-result searches (those since `since`), with counts."""
    query = select(suggestions.c.label).where(suggestions.c.kind == ZERO_RESULTS)
    if since is not None:
        query = query.where(suggestions.c.created_at >= since)
    with engine.connect() as connection:
        labels = connection.execute(query).scalars().all()
    phrases: Counter = Counter()
    words: Counter = Counter()
    for label in labels:
        phrase = str((label or {}).get("phrase") or "").strip()
        if not phrase or "<" in phrase:
            continue
        phrases[phrase] += 1
        words.update(w for w in set(WORD.findall(phrase)) if w not in STOP_WORDS)
    return GapReport(len(labels), phrases.most_common(top), words.most_common(top))


def format_report(report: GapReport) -> str:
    lines = [f"zero-result searches: {report.searches}", "", "phrases:"]
    lines += [f"  {count:5d}  {phrase}" for phrase, count in report.phrases] or ["  (none)"]
    lines += ["", "words:"]
    lines += [f"  {count:5d}  {word}" for word, count in report.words] or ["  (none)"]
    return "\n".join(lines)
