"""Number words ("two", "a couple", "twenty five"): the one table the actions and the NLU tools read."""

from __future__ import annotations

import re
from typing import Dict, Optional

UNITS: Dict[str, int] = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
TENS: Dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
# Counting phrases a shopper uses for a quantity.
COUNTING_PHRASES: Dict[str, int] = {"a": 1, "an": 1, "a pair": 1, "a couple": 2, "a few": 3, "a dozen": 12}
NUMBER_WORDS: Dict[str, int] = {**UNITS, **TENS}


def number_value(text: str) -> Optional[int]:
    """ "3" -> 3, "three" -> 3, "twenty five"/"twenty-five" -> 25, "a couple" -> 2; else None."""
    cleaned = " ".join(text.lower().replace("-", " ").split())
    if not cleaned:
        return None
    if cleaned.isdigit():
        return int(cleaned)
    if cleaned in COUNTING_PHRASES:
        return COUNTING_PHRASES[cleaned]
    parts = cleaned.split()
    if all(part in NUMBER_WORDS for part in parts):
        if len(parts) == 1:
            return NUMBER_WORDS[parts[0]]
        if len(parts) == 2 and parts[0] in TENS and 0 < UNITS.get(parts[1], 0) < 10:
            return NUMBER_WORDS[parts[0]] + UNITS[parts[1]]
    return None


def first_number(text: str) -> Optional[int]:
    """The first number a phrase gives, in digits or words ("2 pairs" -> 2, "two of them" -> 2)."""
    digits = re.search(r"\d+", text)
    if digits:
        return int(digits.group(0))
    words = text.lower().replace("-", " ").split()
    for length in (2, 1):
        for start in range(len(words) - length + 1):
            value = number_value(" ".join(words[start : start + length]))
            if value is not None and words[start] not in ("a", "an"):
                return value
    return number_value(text)


_SCALES = ((1_000_000, "million"), (1_000, "thousand"), (100, "hundred"))


def number_words(n: int) -> str:
    """Digits to the words a speaker says: 7 -> "seven", 25 -> "twenty five", 150 -> "one hundred fifty".

    Spaces, no hyphens and no "and", so number_value reads back every result below 100; callers that
    want "a hundred and fifty" vary the wording themselves.
    """
    if n < 0 or n >= 1_000_000_000:
        raise ValueError(f"number_words: {n} is outside 0..999,999,999")
    names = {value: word for word, value in NUMBER_WORDS.items()}
    if n < 20 or (n < 100 and n % 10 == 0):
        return names[n]
    if n < 100:
        return f"{names[n - n % 10]} {names[n % 10]}"
    for size, scale in _SCALES:
        if n >= size:
            head, rest = divmod(n, size)
            words = f"{number_words(head)} {scale}"
            return f"{words} {number_words(rest)}" if rest else words
    raise AssertionError(n)  # unreachable: n >= 100 meets the last scale
