"""The one price parser: what a shopper's words say about the price they will pay.

"under $50", "30-40 bucks", "between 20 and 30", "around 100", "over £200", "cheap", "not too
pricey", "cheaper" all become a `PriceIntent`. Relative words ("cheap", "premium") are turned into
numbers only against the prices of the category being searched (`resolve_relative`), because cheap
headphones and cheap socks are not the same money.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from common.stats import percentile

MAX_SANE_PRICE = 1_000_000.0

# Relative price words, by what they mean. Longest phrases are matched first.
RELATIVE_WORDS = {
    "cheaper": (
        "cheaper",
        "less expensive",
        "lower price",
        "lower priced",
        "more affordable",
        "less pricey",
        "less money",
        "not so expensive",
        "too expensive",
        "too pricey",
        "too much",
    ),
    "pricier": ("pricier", "more expensive", "higher end", "better quality", "fancier"),
    "moderate": (
        "not too pricey",
        "not too expensive",
        "not too dear",
        "reasonably priced",
        "reasonable",
        "mid range",
        "mid-range",
        "moderately priced",
        "not expensive",
        "not pricey",
        "not crazy expensive",
    ),
    "cheap": (
        "cheap",
        "cheapest",
        "inexpensive",
        "budget",
        "affordable",
        "low cost",
        "low-cost",
        "bargain",
        "cheapo",
        "on a budget",
        "economical",
        "low price",
        "low priced",
    ),
    "premium": (
        "expensive",
        "premium",
        "luxury",
        "luxurious",
        "high end",
        "high-end",
        "top of the range",
        "splurge",
        "posh",
        "designer",
    ),
}

# Every relative phrase, longest first, so "not too pricey" wins over "too pricey".
_RELATIVE_PHRASES = sorted(
    ((phrase, relative) for relative, phrases in RELATIVE_WORDS.items() for phrase in phrases),
    key=lambda pair: len(pair[0]),
    reverse=True,
)

_CURRENCY = r"(?:\$|£|€|usd|eur|gbp)"
_UNIT = r"(?:dollars?|bucks?|usd|quid|pounds?|euros?|eur|gbp|dlrs?)"
_NUMBER = r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d{1,2})?)\s*(k\b)?"
_MONEY = rf"(?:{_CURRENCY}\s*)?{_NUMBER}(?:\s*{_UNIT})?"

_UPPER = (
    r"(?:under|below|less than|lower than|cheaper than|no more than|not more than|max(?:imum)?|at most"
    r"|up to|upto|within|<|<=|no higher than|tops|budget(?: of| is)?)"
)
_LOWER = r"(?:over|above|more than|at least|min(?:imum)?|from|starting at|>|>=|upwards of|or more|plus)"
_AROUND = r"(?:around|about|roughly|approximately|approx|circa|~|ish|or so|give or take)"


@dataclass(frozen=True)
class PriceIntent:
    """A price constraint: bounds in the shop's currency and/or a relative wish ("cheap", "cheaper")."""

    min_price: Optional[float] = None
    max_price: Optional[float] = None
    relative: Optional[str] = None  # one of RELATIVE_WORDS' keys
    invalid: Optional[str] = None  # why the stated price cannot be used (a negative amount, ...)

    @property
    def is_empty(self) -> bool:
        bounds = (self.min_price, self.max_price, self.relative, self.invalid)
        return all(value is None for value in bounds)

    def describe(self) -> str:
        """The constraint in the shopper's words, for replies ("under $50")."""
        if self.min_price is not None and self.max_price is not None:
            return f"{format_price(self.min_price)}-{format_price(self.max_price)}"
        if self.max_price is not None:
            return f"under {format_price(self.max_price)}"
        if self.min_price is not None:
            return f"over {format_price(self.min_price)}"
        return {
            "cheap": "cheap",
            "moderate": "not too pricey",
            "premium": "premium",
            "cheaper": "cheaper",
            "pricier": "pricier",
        }.get(self.relative or "", "")


def format_price(amount: float) -> str:
    return f"${amount:,.2f}" if amount % 1 else f"${amount:,.0f}"


def _amount(number: str, thousands: Optional[str]) -> float:
    value = float(number.replace(",", ""))
    return value * 1000 if thousands else value


def _has_money_marker(text: str) -> bool:
    return bool(re.search(rf"{_CURRENCY}\s*\d|\d\s*{_UNIT}\b|\d\s*k\b", text))


def parse_price(text: str, assume_money: bool = False) -> PriceIntent:
    """Read a price constraint from text. Bare numbers count only with a price word nearby
    ("under 50") or when the text is known to be about price (`assume_money`, e.g. a `price` entity),
    so "size 8" or "2 pack" are never read as prices."""
    if not text:
        return PriceIntent()
    lowered = " " + re.sub(r"\s+", " ", text.lower().replace("–", "-").replace("—", "-")) + " "
    if len(lowered) > 2000:
        lowered = lowered[:2000]

    if _negative_amount(lowered, assume_money):
        return PriceIntent(invalid="a price can't be negative")

    money = _MONEY
    # A range: "30-40 bucks", "$30 to $40", "between 20 and 30".
    range_match = re.search(
        rf"(?:between\s+)?{_CURRENCY}?\s*{_NUMBER}\s*(?:{_UNIT}\s*)?(?:-|to|and)\s*{money}", lowered
    )
    if range_match:
        span = range_match.group(0)
        context = (
            assume_money
            or _has_money_marker(span)
            or "between" in span
            or re.search(rf"{_UPPER}|{_LOWER}|{_AROUND}|price|budget|spend|cost", lowered)
        )
        if context and ("-" in span or " to " in span or "between" in span):
            low = _amount(range_match.group(1), range_match.group(2))
            high = _amount(range_match.group(3), range_match.group(4))
            if low > high:
                low, high = high, low
            return _checked(PriceIntent(min_price=low, max_price=high))

    upper = re.search(rf"{_UPPER}\s*{money}", lowered) or re.search(
        rf"{money}\s*(?:or less|max|tops|or under)", lowered
    )
    rest = lowered if upper is None else lowered[: upper.start()] + " " + lowered[upper.end() :]
    lower = re.search(rf"{_LOWER}\s*{money}", rest) or re.search(
        rf"{money}\s*(?:or more|plus|\+|and up)", rest
    )
    if upper or lower:
        high = _amount(upper.group(1), upper.group(2)) if upper else None
        low = _amount(lower.group(1), lower.group(2)) if lower else None
        if low is not None and high is not None and low > high:
            low, high = high, low
        return _checked(PriceIntent(min_price=low, max_price=high))

    around = re.search(rf"{_AROUND}\s*{money}", lowered) or re.search(
        rf"{money}\s*(?:ish|or so|give or take)", lowered
    )
    if around:
        centre = _amount(around.group(1), around.group(2))
        return _checked(PriceIntent(min_price=round(centre * 0.8, 2), max_price=round(centre * 1.2, 2)))

    for phrase, relative in _RELATIVE_PHRASES:
        if re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", lowered):
            return PriceIntent(relative=relative)

    plain = re.search(rf"{_CURRENCY}\s*{_NUMBER}|{_NUMBER}\s*{_UNIT}\b", lowered)
    if plain:
        number, thousands = (
            (plain.group(1), plain.group(2)) if plain.group(1) else (plain.group(3), plain.group(4))
        )
        # "a $50 gift card" or "50 dollars": treat a lone amount as the budget's upper end.
        return _checked(PriceIntent(max_price=_amount(number, thousands)))
    if assume_money:
        bare = re.search(_NUMBER, lowered)
        if bare:
            return _checked(PriceIntent(max_price=_amount(bare.group(1), bare.group(2))))
    return PriceIntent()


def _negative_amount(lowered: str, assume_money: bool) -> bool:
    """A minus sign on an amount ("under -5 dollars", "$-20"), not the dash of a range ("30-40")."""
    for match in re.finditer(rf"(?:-|minus )\s*{_CURRENCY}?\s*\d|{_CURRENCY}\s*-\s*\d", lowered):
        before = lowered[: match.start()].rstrip()
        if re.search(rf"(?:\d|{_UNIT}|k)$", before):
            continue  # a range's dash
        amount_text = lowered[match.start() : match.end() + 12]
        if (
            assume_money
            or _has_money_marker(amount_text)
            or re.search(rf"{_UPPER}$|{_LOWER}$|price$|cost$|budget$|pay$|for$|spend$", before)
        ):
            return True
    return False


def _checked(intent: PriceIntent) -> PriceIntent:
    for bound in (intent.min_price, intent.max_price):
        if bound is not None and bound > MAX_SANE_PRICE:
            return PriceIntent(invalid=f"{format_price(bound)} is more than anything we sell")
    if intent.max_price is not None and intent.max_price <= 0:
        return PriceIntent(invalid="there's nothing free in the shop")
    return intent


def resolve_relative(
    intent: PriceIntent, category_prices: Sequence[float], reference: Optional[float] = None
) -> PriceIntent:
    """Turn "cheap"/"not too pricey"/"premium" into bounds from the category's price distribution,
    and "cheaper"/"pricier" into bounds just past `reference` (the cheapest/priciest price shown)."""
    if intent.relative is None:
        return intent
    prices = sorted(category_prices)
    if intent.relative == "cheaper" and reference is not None:
        return PriceIntent(max_price=round(reference - 0.01, 2), relative="cheaper")
    if intent.relative == "pricier" and reference is not None:
        return PriceIntent(min_price=round(reference + 0.01, 2), relative="pricier")
    if not prices:
        return intent
    if intent.relative in ("cheap", "cheaper"):
        return PriceIntent(max_price=round(percentile(prices, 33), 2), relative=intent.relative)
    if intent.relative == "moderate":
        return PriceIntent(max_price=round(percentile(prices, 60), 2), relative="moderate")
    return PriceIntent(min_price=round(percentile(prices, 67), 2), relative=intent.relative)
