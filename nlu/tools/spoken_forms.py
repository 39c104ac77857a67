"""Spoken forms of annotated NLU examples: what phone ASR (Whisper tiny.en) writes when a caller says them.

Callers on the phone channel speak; the NLU was trained on typed text. `speak` rewrites one annotated
example (`[$50](price) [running shoes](product_type)`) the way a transcript of it looks: numbers and
prices in words ("fifty dollars", sometimes digits), no punctuation or odd punctuation, lower or sentence
case, fillers ("um", "you know"), a repeated word or false start, apostrophes dropped or restored, and
chat abbreviations said in full ("bday" -> "birthday").

Span text and outside text are rewritten separately and the annotation is rebuilt from the rewritten
words, so each entity still covers exactly the words of its value, with its type and order unchanged;
fillers and repetitions go only between spans, never inside one. The result is deterministic for
(annotated text, seed, attempt): the random choices come from `random.Random` seeded with all three.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from common.numbers import number_words

_ANNOTATION_RE = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
# Leading/trailing characters dropped from a word; what the number speller reads ($ £ € # + - % ") is kept.
_STRIP_LEFT = "\"'`.,;:!?()[]{}*~_<>|…“”‘’"
_STRIP_RIGHT = "\"'`.,;:!?()[]{}*~_<>|…“”‘’-"

CURRENCIES: Dict[str, Tuple[str, str]] = {
    "$": ("dollar", "dollars"), "£": ("pound", "pounds"), "€": ("euro", "euros"),
}  # fmt: skip

# Units after a number, as a caller says them (first choice most often). Anything else after digits
# ("34c", "2t", "1080p", "4k", "3d") is a code Whisper writes with digits, so the token is kept as it is.
UNITS: Dict[str, Tuple[str, ...]] = {
    "yo": ("year old",), "y/o": ("year old",), "y.o": ("year old",), "yr": ("year",), "yrs": ("years",),
    "mo": ("month",), "mos": ("months",), "ml": ("ml", "milliliter"), "cl": ("centiliter",),
    "l": ("liter", "litre"), "kg": ("kilo", "kilogram", "kg"), "g": ("gram", "grams"), "mg": ("milligram",),
    "cm": ("centimeter", "cm"), "mm": ("millimeter", "mm"), "m": ("meter", "meters"), "ft": ("foot", "feet"),
    "in": ("inch",), '"': ("inch", "inches"), "tb": ("terabyte", "tb"), "gb": ("gig", "gigabyte", "gb"),
    "mah": ("milliamp hour",), "wh": ("watt hour",), "w": ("watt",), "v": ("volt",), "oz": ("ounce",),
    "lb": ("pound",), "lbs": ("pounds",), "ct": ("carat",), "pc": ("piece",), "pcs": ("pieces",),
    "pk": ("pack",), "%": ("percent",), "+": ("plus",),
}  # fmt: skip
# After a range ("0-6m", "3-6m"), a bare "m" is months: baby clothes sizes.
RANGE_UNITS: Dict[str, Tuple[str, ...]] = {"m": ("months",)}
FRACTIONS: Dict[str, str] = {"1/2": "half", "1/4": "quarter", "3/4": "three quarter", "1/3": "third"}
_ORDINAL_ENDINGS: Dict[str, str] = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
    "twelve": "twelfth",
}  # fmt: skip

# Chat spellings nobody says: a transcript has the spoken words. (word, probability it is replaced)
SAID_IN_FULL: Dict[str, Tuple[str, float]] = {
    "u": ("you", 1.0), "ur": ("your", 1.0), "pls": ("please", 1.0), "plz": ("please", 1.0),
    "thx": ("thanks", 1.0), "thnx": ("thanks", 1.0), "ty": ("thank you", 1.0), "smth": ("something", 1.0),
    "sth": ("something", 1.0), "w/": ("with", 1.0), "w/o": ("without", 1.0), "&": ("and", 1.0),
    "bc": ("because", 1.0), "cuz": ("because", 1.0), "coz": ("because", 1.0), "tbh": ("to be honest", 1.0),
    "rn": ("right now", 1.0), "ppl": ("people", 1.0), "tho": ("though", 1.0), "abt": ("about", 1.0),
    "b4": ("before", 1.0), "thru": ("through", 1.0), "nite": ("night", 1.0), "n": ("and", 1.0),
    "r": ("are", 1.0), "k": ("okay", 1.0), "ok": ("okay", 0.5), "omg": ("oh my god", 1.0),
    "approx": ("about", 1.0), "fav": ("favorite", 1.0), "fave": ("favorite", 1.0), "lil": ("little", 1.0),
    "sz": ("size", 1.0), "idk": ("i dont know", 1.0), "wk": ("week", 1.0), "hrs": ("hours", 1.0),
    "y/o": ("year old", 1.0), "y.o": ("year old", 1.0), "bday": ("birthday", 0.9), "b-day": ("birthday", 1.0),
    "bdays": ("birthdays", 0.9), "xmas": ("christmas", 0.85), "bf": ("boyfriend", 0.9),
    "gf": ("girlfriend", 0.9), "bro": ("brother", 0.3), "sis": ("sister", 0.3), "xl": ("extra large", 0.5),
    "xxl": ("double extra large", 0.4), "xs": ("extra small", 0.5), "colour": ("color", 0.6),
    "favourite": ("favorite", 0.6), "grey": ("gray", 0.5), "personalised": ("personalized", 0.5),
}  # fmt: skip
# Said in full only right after a number ("10 yo", "6 mo old"); elsewhere "yo" is a greeting.
AFTER_NUMBER: Dict[str, str] = {
    "yo": "year old", "yr": "year", "yrs": "years", "mo": "month", "mos": "months",
}  # fmt: skip
# Single-letter clothing sizes, said as words by some callers (size spans only).
LETTER_SIZES: Dict[str, str] = {"s": "small", "m": "medium", "l": "large"}
NUMBER_SET = frozenset(number_words(n) for n in range(100))
_DROPPED_WORDS = frozenset({"lol", "lmao", "haha", "xx", "xoxo"})
# Contractions typed without an apostrophe that only have one reading; Whisper writes them with one.
APOSTROPHE_RESTORED: Dict[str, str] = {
    "dont": "don't", "cant": "can't", "im": "i'm", "ive": "i've", "didnt": "didn't", "doesnt": "doesn't",
    "isnt": "isn't", "arent": "aren't", "wasnt": "wasn't", "shes": "she's", "hes": "he's", "thats": "that's",
    "whats": "what's", "theres": "there's", "youre": "you're", "theyre": "they're", "couldnt": "couldn't",
    "wouldnt": "wouldn't", "havent": "haven't", "hasnt": "hasn't",
}  # fmt: skip

START_FILLERS: Tuple[str, ...] = ("um", "uh", "so", "er", "hmm", "well", "um so", "uh so")
MID_FILLERS: Tuple[str, ...] = ("um", "uh", "like", "you know", "er", "i mean", "um")
_QUESTION_STARTS = frozenset(
    ("what", "whats", "what's", "which", "is", "are", "do", "does", "can", "could", "have", "has", "any",
     "how", "where", "when", "who", "will", "would")
)  # fmt: skip

_NUMBER_RE = re.compile(
    r"^(?P<sign>[+#-])?(?P<cur>[$£€])?(?P<num>\d[\d,]*(?:\.\d+)?)"
    r"(?:(?P<sep>[-x/+])(?P<cur2>[$£€])?(?P<num2>\d+(?:\.\d+)?)(?:x(?P<num3>\d+))?)?"
    r"(?P<suffix>[a-z%+\"/.]*?)(?P<cur3>[$£€])?$"
)


@dataclass(frozen=True)
class Style:
    """The per-example choices: how this caller's transcript is written."""

    numbers_in_words: float = 0.9  # chance each number is spelled out (else Whisper kept the digits)
    words_mode: bool = True  # False: this transcript keeps digits throughout ("50 dollars", "size 8")
    apostrophes: str = "keep"  # keep | drop | restore
    sentence_case: bool = False
    end_mark: str = ""
    start_filler: Optional[str] = None
    mid_filler: Optional[str] = None
    repeat: bool = False
    false_start: bool = False
    filler_commas: bool = False


@dataclass(frozen=True)
class Word:
    """One transcript word; `span` is the index of the entity it belongs to (-1: outside every span)."""

    text: str
    span: int
    after: str = ""  # punctuation written straight after the word (outside any span brackets)


def _rng(annotated: str, seed: int, attempt: int) -> random.Random:
    return random.Random(f"spoken:{seed}:{attempt}:{annotated}")


def choose_style(rng: random.Random) -> Style:
    """A caller's transcript style; the weights follow what Whisper tiny.en writes for short requests."""
    sentence_case = rng.random() < 0.4
    end_mark = "." if rng.random() < (0.75 if sentence_case else 0.1) else ""
    apostrophe_roll = rng.random()
    return Style(
        words_mode=rng.random() < 0.75,
        apostrophes="drop" if apostrophe_roll < 0.4 else ("keep" if apostrophe_roll < 0.7 else "restore"),
        sentence_case=sentence_case,
        end_mark=end_mark,
        start_filler=rng.choice(START_FILLERS) if rng.random() < 0.25 else None,
        mid_filler=rng.choice(MID_FILLERS) if rng.random() < 0.25 else None,
        repeat=rng.random() < 0.1,
        false_start=rng.random() < 0.08,
        filler_commas=sentence_case and rng.random() < 0.7,
    )


# ----------------------------------------------------------------------------------------------------
# Numbers


def say_integer(n: int, rng: random.Random) -> str:
    """An integer as a caller says it: "a hundred and fifty", "one fifty", "twenty twenty four"."""
    if 2010 <= n <= 2039 and rng.random() < 0.8:
        return f"twenty {number_words(n - 2000)}"
    if 1950 <= n <= 1999:
        return f"nineteen {number_words(n - 1900)}"
    words = number_words(n)
    if 100 < n < 1000 and n % 100 >= 10 and rng.random() < 0.25:
        return f"{number_words(n // 100)} {number_words(n % 100)}"  # "one fifty", "two ninety nine"
    if words.startswith("one ") and n >= 100 and rng.random() < 0.5:
        words = "a " + words[len("one ") :]
    if "hundred " in words and rng.random() < 0.3:
        words = words.replace("hundred ", "hundred and ", 1)
    return words


def say_decimal(number: str, rng: random.Random) -> str:
    """ "10.5" -> "ten and a half" or "ten point five"; "2.0" -> "two"; "15.6" -> "fifteen point six"."""
    whole, _, fraction = number.replace(",", "").partition(".")
    fraction = fraction.rstrip("0")
    head = say_integer(int(whole), rng) if whole else "zero"
    if not fraction:
        return head
    if fraction == "5" and rng.random() < 0.6:
        return "a half" if head == "zero" else f"{head} and a half"
    return f"{head} point " + " ".join(number_words(int(digit)) for digit in fraction)


def say_ordinal(n: int) -> str:
    """21 -> "twenty first", 40 -> "fortieth"."""
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL_ENDINGS:
        words[-1] = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def say_money(number: str, currency: str, rng: random.Random) -> str:
    """Money as said: "$29.99" -> "twenty nine dollars ninety nine", "£0.99" -> "ninety nine pence"."""
    singular, plural = CURRENCIES[currency]
    whole, _, cents = number.replace(",", "").partition(".")
    cents = (cents + "00")[:2] if cents else ""
    dollars = int(whole or 0)
    if dollars == 0 and cents and int(cents):
        return f"{number_words(int(cents))} {'pence' if currency == '£' else 'cents'}"
    unit = singular if dollars == 1 else plural
    head = say_integer(dollars, rng)
    if not cents or int(cents) == 0:
        return f"{head} {unit}"
    if rng.random() < 0.3:
        return f"{head} {number_words(int(cents))}"  # "twenty nine ninety nine": Whisper drops the unit
    return f"{head} {unit} {number_words(int(cents))}"


def _say_amount(number: str, rng: random.Random) -> str:
    return say_decimal(number, rng) if "." in number else say_integer(int(number.replace(",", "")), rng)


def speak_number_token(token: str, rng: random.Random, after_number: bool = False) -> Optional[str]:
    """A token that starts with a number, in words ("$30-40" -> "thirty to forty dollars"); None if it is
    not one this speller reads (codes like "34c", "1080p", "4k" stay as Whisper writes them, in digits)."""
    match = _NUMBER_RE.match(token)
    if not match:
        return None
    sign, cur, num, sep, cur2, num2, num3, suffix, cur3 = match.group(
        "sign", "cur", "num", "sep", "cur2", "num2", "num3", "suffix", "cur3"
    )
    currency = cur or cur2 or cur3
    if currency and suffix in ("k",):
        return None
    if sep == "/":
        fraction = f"{num}/{num2}"
        if suffix or currency:
            return None
        if fraction not in FRACTIONS:  # "24/7"
            return f"{say_integer(int(num), rng)} {say_integer(int(num2), rng)}"
        spoken = FRACTIONS[fraction]
        return f"and a {spoken}" if after_number and fraction != "3/4" else spoken
    if sep == "+":
        return f"{_say_amount(num, rng)} plus {_say_amount(num2, rng)}" if not suffix else None
    unit_words: Optional[str] = None
    if suffix:
        if sep is None and suffix in ("st", "nd", "rd", "th") and "." not in num:
            return say_ordinal(int(num.replace(",", "")))
        if sep is None and suffix == "s" and num.isdigit() and 10 <= int(num) < 100 and int(num) % 10 == 0:
            decade = number_words(int(num))  # "70s" -> "seventies"
            return decade[:-1] + "ies" if decade.endswith("y") else decade + "s"
        if sep is None and suffix == "x":
            return say_integer(int(num), rng)  # "4x ethernet cables": a count
        table = RANGE_UNITS if sep == "-" and suffix in RANGE_UNITS else UNITS
        if suffix not in table or (suffix == "g" and int(float(num.replace(",", ""))) < 10):
            return None  # "4g" (network), "3d", "1080p", "34c", "2t": codes, in digits
        unit_words = rng.choice(table[suffix])
    if sep == "-":
        spoken = f"{_say_amount(num, rng)} to {_say_amount(num2, rng)}"
    elif sep == "x":
        parts = [num, num2] + ([num3] if num3 else [])
        spoken = " by ".join(_say_amount(part, rng) for part in parts)
    elif currency:
        spoken = say_money(num, currency, rng)
        currency = None
    else:
        spoken = _say_amount(num, rng)
    if currency:  # a range of money: "thirty to forty dollars"
        spoken += " " + CURRENCIES[currency][1]
    if unit_words:
        spoken += " " + unit_words
    if sign == "+":
        spoken = "plus " + spoken
    elif sign == "-":
        spoken = "minus " + spoken
    elif sign == "#":
        spoken = "number " + spoken
    return spoken


def _digits_kept(token: str) -> str:
    """A number token as Whisper writes it in digits: the currency sign said as a word, a range with "to"."""
    match = _NUMBER_RE.match(token)
    if not match or match.group("sep") not in (None, "-") or (match.group("suffix") or "") not in ("", "yo"):
        return token
    num, num2 = match.group("num"), match.group("num2")
    text = f"{num} to {num2}" if num2 else num
    currency = match.group("cur") or match.group("cur2") or match.group("cur3")
    if currency:
        singular, plural = CURRENCIES[currency]
        text += " " + (singular if text == "1" else plural)
    if match.group("suffix") == "yo":
        text += " year old"
    sign = match.group("sign")
    return (sign if sign in ("+", "-") else "") + text


# ----------------------------------------------------------------------------------------------------
# Words


def _clean(token: str) -> str:
    """Emoji and other symbols dropped (a caller cannot say them); outer punctuation stripped."""
    token = "".join(ch for ch in token if unicodedata.category(ch) not in ("So", "Sk", "Cn", "Co"))
    token = re.sub(r"[\[\](){}]", "", token).lstrip(_STRIP_LEFT)
    stripped = token.rstrip(_STRIP_RIGHT)
    if stripped[-1:].isdigit() and token[len(stripped) : len(stripped) + 1] in ('"',):
        return stripped + '"'
    return stripped


def _speak_token(
    token: str, entity: Optional[str], previous: Optional[str], style: Style, rng: random.Random
) -> List[str]:
    """One typed token as the transcript's words (0, 1 or several)."""
    word = _clean(token.lower())
    if not any(ch.isalnum() for ch in word) and word not in SAID_IN_FULL:
        return []  # a lone "$", "-" or "+" is not a word anyone says
    if word in _DROPPED_WORDS:
        return []
    previous_is_number = previous is not None and (previous[:1].isdigit() or previous in NUMBER_SET)
    if previous_is_number and word in AFTER_NUMBER:
        return AFTER_NUMBER[word].split()
    if word in SAID_IN_FULL:
        replacement, chance = SAID_IN_FULL[word]
        if rng.random() < chance:
            return replacement.split()
    if entity == "size" and word in LETTER_SIZES and rng.random() < 0.5:
        return [LETTER_SIZES[word]]
    if re.match(r"^[+#-]?[$£€]?\d", word) or re.match(r"^x\d+$", word):
        return _speak_number(word, entity, previous_is_number, style, rng)
    if "/" in word and not word.startswith("w/"):
        return [part for part in word.split("/") if part]
    return [word.replace("\u2019", "'")]


def _speak_number(
    word: str, entity: Optional[str], after_number: bool, style: Style, rng: random.Random
) -> List[str]:
    if entity == "model":
        return [word]  # "iphone 15", "air max 90": product names keep their digits in a transcript
    if word.startswith("x"):
        count = word[1:]
        return (["times", *say_integer(int(count), rng).split()]) if style.words_mode else ["x" + count]
    if not style.words_mode or rng.random() >= style.numbers_in_words:
        return _digits_kept(word).split()
    spoken = speak_number_token(word, rng, after_number)
    if spoken is None and "-" in word:  # "2-in-1", "2t-3t": each part on its own
        parts = [speak_number_token(p, rng) or p for p in word.split("-") if p]
        return " ".join(parts).split()
    return (spoken or word).split()


def _apostrophes(text: str, mode: str) -> str:
    if mode == "drop":
        return text.replace("'", "")
    if mode == "restore":
        return " ".join(APOSTROPHE_RESTORED.get(w, w) for w in text.split())
    return text


# ----------------------------------------------------------------------------------------------------
# The example


def parse(annotated: str) -> List[Tuple[str, Optional[str]]]:
    """The annotated text as segments (text, entity type or None), in order."""
    segments: List[Tuple[str, Optional[str]]] = []
    pos = 0
    for match in _ANNOTATION_RE.finditer(annotated):
        if match.start() > pos:
            segments.append((annotated[pos : match.start()], None))
        entity = match.group(2).split(":", 1)[0].strip()  # a synonym value would no longer match the words
        segments.append((match.group(1), entity))
        pos = match.end()
    if pos < len(annotated):
        segments.append((annotated[pos:], None))
    return segments


def render(words: Sequence[Word], types: Sequence[str]) -> str:
    """Words back to Rasa's `[span](entity)` markup; punctuation after a span goes after its brackets."""
    out: List[str] = []
    for index, word in enumerate(words):
        opens = word.span >= 0 and (index == 0 or words[index - 1].span != word.span)
        closes = word.span >= 0 and (index == len(words) - 1 or words[index + 1].span != word.span)
        piece = ("[" if opens else "") + word.text + (f"]({types[word.span]})" if closes else "")
        out.append(piece + word.after)
    return " ".join(out)


def _gaps(words: Sequence[Word]) -> List[int]:
    """Positions (1..len-1) where a word may be inserted without landing inside a span."""
    return [i for i in range(1, len(words)) if words[i - 1].span < 0 or words[i - 1].span != words[i].span]


def _disfluencies(words: List[Word], style: Style, rng: random.Random) -> List[Word]:
    """A repeated word, a false start and fillers, all between spans (never inside one)."""
    if style.repeat:
        outside = [
            i for i, w in enumerate(words) if w.span < 0 and len(w.text) <= 5 and w.text not in NUMBER_SET
        ]
        if outside:
            i = rng.choice(outside)
            words = [*words[:i], Word(words[i].text, -1), *words[i:]]
    if style.false_start:
        lead: List[Word] = []
        for word in words[:3]:
            if word.span >= 0:
                break
            lead.append(word)
        if lead and len(lead) < len(words):
            lead = lead[: rng.randint(1, len(lead))]
            bridge = [Word("uh", -1)] if rng.random() < 0.4 else []
            words = [*lead, *bridge, *words]
    if style.mid_filler:
        gaps = _gaps(words)
        if gaps:
            i = rng.choice(gaps)
            filler = [Word(text, -1) for text in style.mid_filler.split()]
            if style.filler_commas:
                words[i - 1] = replace(words[i - 1], after=",")
                filler[-1] = replace(filler[-1], after=",")
            words = [*words[:i], *filler, *words[i:]]
    if style.start_filler:
        filler = [Word(text, -1) for text in style.start_filler.split()]
        if style.filler_commas:
            filler[-1] = replace(filler[-1], after=",")
        words = [*filler, *words]
    return words


def _case(words: List[Word], style: Style) -> List[Word]:
    if not style.sentence_case:
        return words
    cased = [replace(w, text=re.sub(r"^i(?='|$)", "I", w.text)) for w in words]
    first = cased[0]
    return [replace(first, text=first.text[:1].upper() + first.text[1:]), *cased[1:]]


def _end_mark(words: List[Word], style: Style) -> List[Word]:
    if not style.end_mark:
        return words
    content = [w.text.lower() for w in words if w.text.lower() not in START_FILLERS]
    mark = "?" if content and content[0] in _QUESTION_STARTS else style.end_mark
    return [*words[:-1], replace(words[-1], after=mark)]


def spoken_words(annotated: str, rng: random.Random, style: Style) -> Tuple[List[Word], List[str]]:
    """The transcript's words (each tagged with its span) and the entity type of each span."""
    words: List[Word] = []
    types: List[str] = []
    previous: Optional[str] = None
    for text, entity in parse(annotated):
        span = -1
        if entity is not None:
            span = len(types)
            types.append(entity)
        for token in text.split():
            for spoken in _speak_token(token, entity, previous, style, rng):
                for part in _apostrophes(spoken, style.apostrophes).split():
                    words.append(Word(part, span))
            previous = _clean(token.lower()) or previous
    return words, types


def speak(annotated: str, seed: int, attempt: int = 0) -> Optional[str]:
    """The annotated example as a phone transcript of it, annotated the same way; None if nothing is left
    to say (an emoji alone) or a span lost all its words."""
    rng = _rng(annotated, seed, attempt)
    style = choose_style(rng)
    words, types = spoken_words(annotated, rng, style)
    if not words or {w.span for w in words if w.span >= 0} != set(range(len(types))):
        return None
    words = _end_mark(_case(_disfluencies(words, style, rng), style), style)
    return render(words, types)


def plain_text(annotated: str) -> str:
    """The example's text without `[span](entity)` markup."""
    return _ANNOTATION_RE.sub(lambda m: m.group(1), annotated)
