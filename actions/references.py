"""Which of the shown results a message points at: "the second one", "1 and 3", "the first two",
"both", "the last one". Pure: text and the number of results on screen in, 1-based positions out."""

from __future__ import annotations

import re
from typing import List, Optional, Sequence

from common.numbers import number_value

ORDINAL_WORDS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "sixth": 6,
    "6th": 6,
    "seventh": 7,
    "7th": 7,
    "eighth": 8,
    "8th": 8,
    "ninth": 9,
    "9th": 9,
    "tenth": 10,
    "10th": 10,
}

# Numbers that are sizes, prices, ages or quantities rather than positions.
_NOT_A_POSITION = re.compile(
    r"(?:size|sz|uk|us|eu|\$|£|€|under|over|below|above|than|around|about|max|budget|aged?|x)\s*$"
)
_UNIT_AFTER = re.compile(
    r"^\s*(?:\$|£|€|dollars?|bucks?|quid|pounds?|euros?|years?|yrs?|yo\b|y/o|months?|k\b|"
    r"%|pack|pcs|pieces|of\b|more\b|items?\b|x\b|-\d)"
)


def positions_by_colour(text: str, colours: Sequence[str]) -> List[int]:
    """ "the blue one or the black one" -> the first shown product of each colour named, in order."""
    lowered = text.lower()
    found = []
    for match in re.finditer(r"\b([a-z]+(?: [a-z]+)?) (?:one|ones|version|pair)\b", lowered):
        for words in (match.group(1), match.group(1).split()[-1]):
            if words in colours:
                position = colours.index(words) + 1
                if position not in found:
                    found.append(position)
                break
    return found


def parse_positions(text: str, shown: int, colours: Optional[Sequence[str]] = None) -> List[int]:
    """1-based positions in the order mentioned, without repeats. Positions past `shown` are kept
    (the caller says "I only showed 3") except for ranges like "the first two", which are clipped.
    With the shown products' `colours`, "the blue one" points at the first blue one."""
    by_colour = positions_by_colour(text, [c.lower() for c in colours or []])
    if by_colour:
        return by_colour
    lowered = " " + text.lower().replace("#", " number ") + " "
    positions: List[int] = []

    def add(position: int) -> None:
        if position >= 1 and position not in positions:
            positions.append(position)

    group = re.search(r"\b(?:first|top)\s+(two|three|four|five|[2-5])\b", lowered)
    if group:
        for position in range(1, min(number_value(group.group(1)) or 1, max(shown, 1)) + 1):
            add(position)
        return positions
    last_group = re.search(r"\blast\s+(two|three|[2-3])\b", lowered)
    if last_group and shown:
        count = min(number_value(last_group.group(1)) or 1, shown)
        for position in range(shown - count + 1, shown + 1):
            add(position)
        return positions
    if (
        re.search(r"\b(?:both|the two of them|these two|those two)\b", lowered)
        and shown >= 2
        and not re.search(r"\b(?:first|second|third|fourth|fifth|last|\d)\b", lowered)
    ):
        return [1, 2]
    if re.search(r"\ball (?:three|3|of them)\b", lowered) and shown >= 2:
        return list(range(1, min(shown, 3) + 1))

    tokens = list(
        re.finditer(
            r"\b(?:second(?:\s+to|\s*-?\s*from)?\s+last|penultimate|last|"
            + "|".join(ORDINAL_WORDS)
            + r")\b|(?<![\w.])(\d{1,2})(?![\w.])",
            lowered,
        )
    )
    for token in tokens:
        word = token.group(0)
        if token.group(1):  # a bare number
            before = lowered[: token.start()]
            after = lowered[token.end() :]
            if _NOT_A_POSITION.search(before) or _UNIT_AFTER.match(after):
                continue
            add(int(word))
        elif word.startswith("second") and "last" in word or word == "penultimate":
            if shown >= 2:
                add(shown - 1)
        elif word == "last":
            if shown:
                add(shown)
        else:
            add(ORDINAL_WORDS[word])
    return positions


# "the ones I looked at before", "what I saw earlier", "the ones I viewed", "previously viewed items".
_VIEWED = re.compile(
    r"\b(?:previously|recently|already|earlier)\s+(?:viewed|seen|opened|looked\s+at|checked)\b"
    r"|\b(?:i|we|ive|weve)(?:\s*'ve|\s+have|\s+had|\s+just|\s+already)?\s+(?:looked\s+at|viewed|seen|saw|opened|"
    r"clicked(?:\s+on)?|checked(?:\s+out)?|was\s+looking\s+at|were\s+looking\s+at)\b"
    r"|\b(?:viewed|seen|looked\s+at|opened)\s+(?:before|earlier|previously)\b"
)


def mentions_viewed(text: str) -> bool:
    """Whether a message points at the products the shopper opened before ("compare it with the ones I
    looked at before", "how does this compare to what I viewed earlier")."""
    return bool(_VIEWED.search(text.lower().replace("\u2019", "'")))
