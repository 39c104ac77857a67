"""The redaction placeholders ("<PERSON>", "<CARD>", ...) that stand for personal data in a stored message.

learning/redaction.py writes them at the door; everything that reads a redacted message needs their
shape: the joint model keeps each one a single word (nlu/words.py), and the actions must not read
"<CARD>" as the product word "card" (actions/request.py). Here, so no part re-spells them.
"""

from __future__ import annotations

import re

PLACEHOLDER_TYPES = ("PERSON", "PHONE", "EMAIL", "ADDRESS", "CARD", "ID")
PLACEHOLDERS = tuple(f"<{kind}>" for kind in PLACEHOLDER_TYPES)
PLACEHOLDER_PATTERN = re.compile("|".join(re.escape(placeholder) for placeholder in PLACEHOLDERS))


def blank_placeholders(text: str) -> str:
    """The text with each placeholder replaced by as many spaces, so offsets into it stay valid."""
    return PLACEHOLDER_PATTERN.sub(lambda match: " " * len(match.group()), text)
