"""Text for the ear and from the ear: the bot's messages as a caller should hear them, and Whisper's
transcripts as the NLU expects to read them. Pure functions, no audio."""

from __future__ import annotations

import re
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from common.numbers import NUMBER_WORDS, TENS, UNITS

MAX_SPOKEN_PRODUCTS = 3  # a caller keeps about three options in mind
# The number words spoken as digits would not be: counts up to nineteen read better as words.
_COUNT_WORDS = {value: word for word, value in UNITS.items()}
# Multipliers of a spoken number ("a hundred and twenty", "two thousand"): grammar around the number
# words of common/numbers.py, not more number words.
_SCALES = {"hundred": 100, "thousand": 1000}

# ---------------------------------------------------------------------------------------------------
# For the ear
# ---------------------------------------------------------------------------------------------------

_URL = re.compile(r"(?:\s(?:at|on)\s+)?(?:\bhttps?://\S+|\bwww\.\S+)", re.IGNORECASE)
# The stock line of a product's details (actions/replies/products.py): "8 (3), 9 (out)" is table text.
_SIZE_STOCK = re.compile(r"Sizes and stock: ([^\n]+?)\.?$", re.MULTILINE)
_SIZE_LEVEL = re.compile(r"([^,(]+?)\s*\((\w+)\)")
_COLOUR_SUFFIX = re.compile(r"\s+-\s+([A-Z][a-z]+(?: [A-Z][a-z]+)?)$")
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_LINE_MARKER = re.compile(r"^\s*(?:#+\s+|[-*\u2022]\s+|\d+[.)]\s+)")
_PRICE = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")
_RATING = re.compile(r"\b(\d(?:\.\d)?)/5\b")
_NUMBER_SIGN = re.compile(r"#(\d+)")
_RANGE = re.compile(r"\b(\d+|XXS|XS|S|M|L|XL|XXL)\s?-\s?(\d+|XS|S|M|L|XL|XXL)\b")
_PICK_BELOW = re.compile(r"\b(?:pick|choose|tap|click)\s+(?:one|a department|an option)\s+below\b", re.I)
_SYMBOLS = re.compile("[\u2600-\u27bf\U0001f000-\U0001faff\ufe0f\u200d]")
_WORD_REPLACEMENTS = (
    (re.compile(r"\be\.g\.\s*", re.I), "for example "),
    (re.compile(r"\bi\.e\.\s*", re.I), "that is "),
    (re.compile(r"\bvs\.?(?=\s)", re.I), "versus"),
    (re.compile(r"\s&\s"), " and "),
    (re.compile(r"\bw/\s*"), "with "),
    (re.compile(r"\b(\d+) x (?=[A-Za-z])"), r"\1 "),  # "2 x Nike Trainers": a voice says "ex"
    (re.compile(r"[\u201c\u201d\"]"), ""),
    (re.compile(r"[\u2018\u2019]"), "'"),
    (re.compile(r"\s[-\u2013\u2014]\s"), ", "),
)


def for_the_ear(messages: Sequence[Mapping[str, Any]]) -> str:
    """One bot turn (the REST webhook's messages) as the words a caller hears. A text followed by a
    product-cards or comparison payload is that payload's fallback for screens, so the payload is
    spoken instead: a short list, prices as money, no numbering, URLs, markdown or table text."""
    said: List[str] = []
    choices = ""  # the spoken choices of a text whose payload follows: said after the payload
    for index, message in enumerate(messages):
        custom = message.get("custom")
        if _is_rich(custom):
            said += [_spoken_rich(custom), choices]
            choices = ""
            continue
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        buttons = message.get("buttons") or []
        if any(_is_rich(later.get("custom")) for later in messages[index + 1 :]):
            choices = _button_prompt(buttons, "") or choices
            continue
        said.append(_with_buttons(ear_text(text), buttons))
    return " ".join(part for part in said if part).strip()


def ear_text(text: str) -> str:
    """Written text as a caller should hear it: no URLs, markdown, list markers or symbols; prices,
    ratings, ranges and "#2" in words a voice reads right; lines joined into sentences."""
    lines = []
    for line in _SIZE_STOCK.sub(_sizes_in_stock, text).splitlines():
        line = _MARKDOWN_LINK.sub(r"\1", line)
        line = _URL.sub("", line)
        line = _LINE_MARKER.sub("", line)
        line = _EMPHASIS.sub(r"\2", line).strip()
        if line:
            lines.append(line if line[-1] in ".?!:;," else line + ".")
    spoken = " ".join(lines)
    spoken = _PRICE.sub(lambda m: spoken_price(_price_value(m)), spoken)
    spoken = _RATING.sub(r"\1 out of 5", spoken)
    spoken = _NUMBER_SIGN.sub(r"number \1", spoken)
    spoken = _RANGE.sub(r"\1 to \2", spoken)
    for pattern, replacement in _WORD_REPLACEMENTS:
        spoken = pattern.sub(replacement, spoken)
    spoken = _SYMBOLS.sub("", spoken)
    spoken = re.sub(r"\s*\(\s*", ", ", spoken)
    spoken = re.sub(r"\s*\)\s*(?=[.,;:?!])", "", spoken)
    spoken = re.sub(r"\s*\)\s*", ", ", spoken)
    spoken = re.sub(r"\s+([.,;:?!])", r"\1", spoken)
    spoken = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", spoken)
    spoken = re.sub(r",(?=[.?!])", "", spoken)
    spoken = re.sub(
        r"(^|[.?!]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), " ".join(spoken.split())
    )
    return spoken


def _sizes_in_stock(match: re.Match) -> str:
    """ "Sizes and stock: 8 (3), 9 (out), 10 (5)" -> "In stock in sizes 8 and 10." """
    sizes = [size.strip() for size, level in _SIZE_LEVEL.findall(match.group(1)) if level != "out"]
    if not sizes:
        return "Out of stock in every size."
    return f"In stock in size{'s' if len(sizes) > 1 else ''} {join_spoken(sizes)}."


def spoken_price(amount: float) -> str:
    """29.99 -> "29 dollars 99", 30 -> "30 dollars", 1.05 -> "1 dollar and 5 cents", 0.5 -> "50 cents"."""
    cents_total = int(round(amount * 100))
    dollars, cents = divmod(cents_total, 100)
    unit = "dollar" if dollars == 1 else "dollars"
    if not cents:
        return f"{dollars} {unit}"
    if not dollars:
        return f"{cents} cents"
    if cents < 10:
        return f"{dollars} {unit} and {cents} {'cent' if cents == 1 else 'cents'}"
    return f"{dollars} {unit} {cents}"


def short_title(title: str) -> Tuple[str, str]:
    """A product's title ready to say, without its colour suffix ("Nike Trainers - Black": the
    catalog's way to name a colour) or edition counter, and that colour ("black", or "")."""
    title = re.sub(r"\s*\(Edition \d+\)", "", title)
    suffix = _COLOUR_SUFFIX.search(title)
    colour = suffix.group(1).lower() if suffix else ""
    title = title[: suffix.start()] if suffix else title
    title = re.sub(r"\s*\(([^)]*)\)", lambda m: ", " + m.group(1).lower(), title)
    return ear_text(title).rstrip("."), colour


def count_word(count: int) -> str:
    """3 -> "three" (the way a person says a small count); larger counts as digits."""
    return _COUNT_WORDS.get(count, str(count))


def _is_rich(custom: Any) -> bool:
    return isinstance(custom, Mapping) and custom.get("type") in ("product_cards", "comparison")


def _spoken_rich(custom: Mapping[str, Any]) -> str:
    if custom.get("type") == "comparison":
        return _spoken_comparison(custom)
    return _spoken_products(custom)


def _spoken_products(custom: Mapping[str, Any]) -> str:
    products = sorted(custom.get("products") or [], key=lambda p: p.get("position") or 0)
    intro = ear_text(str(custom.get("intro") or ""))
    closing = ear_text(str(custom.get("closing") or ""))
    if not products:
        return " ".join(part for part in (intro, closing) if part)
    if (
        len(products) == 1
        and str(products[0].get("title", "")).lower() in str(custom.get("intro", "")).lower()
    ):
        return " ".join(part for part in (intro, closing) if part)  # details of one product: said in full
    said = _spoken_items(products[:MAX_SPOKEN_PRODUCTS])
    if len(products) > MAX_SPOKEN_PRODUCTS:
        said.append(f"{count_word(len(products) - MAX_SPOKEN_PRODUCTS)} more")
    items = join_spoken(said)
    found = f"I found {count_word(len(products))}: {items}."
    head, last = _split_last_sentence(intro)
    searched = re.fullmatch(r"Here's what I found for (.+):", last)
    if searched:
        found = f"For {searched.group(1)}, {found}"
    elif last.endswith(":"):
        found = f"{last} {items}."
    else:
        head = " ".join(part for part in (head, last) if part)
    follow_up = closing or ("Want details on one?" if len(products) > 1 else "Want details?")
    return " ".join(part for part in (head, found, follow_up) if part)


def _split_last_sentence(text: str) -> Tuple[str, str]:
    """ "A. B. C:" -> ("A. B.", "C:")."""
    parts = re.split(r"(?<=[.?!])\s+", text)
    return " ".join(parts[:-1]), parts[-1]


def _spoken_items(products: Sequence[Mapping[str, Any]]) -> List[str]:
    """ "<short title> for 29 dollars 99[, only 2 left]", naming colours only when they differ."""
    names = [short_title(str(product.get("title", ""))) for product in products]
    colours = [_colour(product) or colour for product, (_, colour) in zip(products, names, strict=True)]
    say_colour = len({colour for colour in colours if colour}) > 1
    items = []
    for product, (name, _), colour in zip(products, names, colours, strict=True):
        item = f"{name} in {colour}" if say_colour and colour else name
        price = product.get("price")
        if isinstance(price, (int, float)):
            item += f" for {spoken_price(float(price))}"
        note = str(product.get("stock_note") or "")
        if note and note != "in stock":
            item += ", " + note.replace(": ", ", ")  # "only 2 left", "size 8, out of stock"
        items.append(item)
    return items


def _colour(product: Mapping[str, Any]) -> str:
    attributes = product.get("attributes")
    colour = attributes.get("colour") if isinstance(attributes, Mapping) else None
    return str(colour).lower() if colour else ""


def _spoken_comparison(custom: Mapping[str, Any]) -> str:
    """Which products, then the verdict; the table's rows are for screens."""
    products = sorted(custom.get("products") or [], key=lambda p: p.get("position") or 0)
    named = _spoken_items([{"title": product.get("title", "")} for product in products])
    names = [f"number {p.get('position')}, {name}" for p, name in zip(products, named, strict=True)]
    head = f"Comparing {join_spoken(names)}." if names else ear_text(str(custom.get("intro") or ""))
    return " ".join(part for part in (head, ear_text(str(custom.get("verdict") or ""))) if part)


def join_spoken(items: Sequence[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b, and c" (the pause before "and" helps the listener)."""
    items = [item for item in items if item]
    if len(items) <= 2:
        return f" {conjunction} ".join(items)
    return ", ".join(items[:-1]) + f", {conjunction} " + items[-1]


def _with_buttons(text: str, buttons: Sequence[Mapping[str, Any]]) -> str:
    """The text, and its quick replies as words when a caller needs them: the choices a screen shows
    "below", or a plain yes/no question."""
    choices = _choices(buttons)
    if choices and _PICK_BELOW.search(text):
        said = _PICK_BELOW.sub("say " + join_spoken(choices, "or"), text)
        return re.sub(r"(^|[.?!]\s+)say\b", r"\1Say", said)
    prompt = _button_prompt(buttons, text)
    return f"{text} {prompt}".strip()


def _button_prompt(buttons: Sequence[Mapping[str, Any]], text: str) -> str:
    payloads = {str(b.get("payload", "")).split("{")[0] for b in buttons}
    if {"/affirm", "/deny"} <= payloads and "yes or no" not in text.lower():
        return "You can say yes or no."
    return ""


def _choices(buttons: Sequence[Mapping[str, Any]]) -> List[str]:
    return [ear_text(str(b.get("title", ""))).rstrip(".").lower() for b in buttons if b.get("title")]


def _price_value(match: re.Match) -> float:
    cents = match.group(2) or "0"
    return float(match.group(1).replace(",", "")) + int(cents.ljust(2, "0")) / 100


# ---------------------------------------------------------------------------------------------------
# From the ear
# ---------------------------------------------------------------------------------------------------


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions): word error counts,
    and how close two stretches of a transcript are."""
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        previous, row[0] = row[:], i
        for j, hyp_word in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
    return row[-1]


FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "ahh", "eh", "hmm", "hm", "mm"})
# Words after which "like" means "about" ("under like 50"), so it goes before a number.
_APPROXIMATORS = frozenset({"under", "over", "below", "above", "about", "around", "for", "than", "is"})
# Words after which a number word stays a word: "the two of them", "these two" (actions/references.py
# reads those phrases), "which one", "this one".
_KEEP_WORD_AFTER = frozenset({"the", "these", "those", "this", "that", "which", "each", "every", "any", "no"})
# A lone "one" is a number only before a unit or after "size"; otherwise a pronoun ("the blue one").
_ONE_UNITS = frozenset(
    {"dollar", "dollars", "buck", "bucks", "pound", "pounds", "year", "years", "month", "months", "pair",
     "pairs", "pack", "packs", "item", "items", "piece", "pieces", "yo", "more"}
)  # fmt: skip
_MONEY = frozenset({"dollar", "dollars", "buck", "bucks"})
# Words before which two numbers read as a price ("under twenty nine ninety nine" -> "under 29.99").
_PRICE_CUES = frozenset({"under", "over", "below", "above", "about", "around", "for", "than", "costs"})


def normalise_transcript(text: str) -> str:
    """Whisper's text as the NLU reads typed text: lower case, no punctuation, no fillers, false
    starts or repeated words, and number words as digits where they are quantities, sizes, ages or
    prices ("size ten" -> "size 10", "a hundred and twenty" -> "120"); "$50" stays."""
    text = text.lower().replace("\u2019", "'")
    # Between commas, "like", "you know" and "i mean" are fillers ("i like red" is not); so is a "well,"
    # or "so," that opens the utterance.
    text = re.sub(r",\s*(?:like|you know|i mean)\s*,|^\s*(?:well|so)\s*,", ",", text)
    text = re.sub(r"(?<=\d)-(?=[a-z])|(?<=[a-z])-(?=\d)|\b(?<=year)-(?=old\b)", " ", text)  # 10-year-old
    text = re.sub(r"\b([a-z]+)-(?=[a-z]+\b)", _hyphen, text)  # "twenty-five" -> "twenty five"
    text = re.sub(r"[^\w$'.\s-]|(?<!\d)\.|\.(?!\d)", " ", text)  # punctuation, but "29.99" and "$50"
    words = _drop_fillers([w.strip("'") for w in text.split()])
    return " ".join(_numbers_to_digits(_drop_repeats(words)))


def _hyphen(match: re.Match) -> str:
    word = match.group(1)
    return word + " " if word in NUMBER_WORDS else match.group(0)


def _drop_fillers(words: List[str]) -> List[str]:
    """Without "um"/"uh", cut-off words ("i wa- i want"), "like" after a filler ("um like") or between
    a price word and a number ("under like fifty")."""
    kept: List[str] = []
    after_filler = False
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        filler = (
            not word
            or word.endswith("-")
            or word in FILLERS
            or word == "like"
            and (after_filler or bool(kept) and kept[-1] in _APPROXIMATORS and _is_number(following))
        )
        after_filler = filler
        if not filler:
            kept.append(word)
    return kept


def _drop_repeats(words: List[str]) -> List[str]:
    """A word or phrase said twice in a row ("i i need", "for my for my son") once; numbers stay."""
    out: List[str] = []
    for word in words:
        out.append(word)
        for size in (3, 2, 1):
            tail, before = out[-size:], out[-2 * size : -size]
            if len(before) == size and tail == before and not any(_is_number(w) for w in tail):
                del out[-size:]
                break
    return out


def _is_number(word: str) -> bool:
    return word in NUMBER_WORDS or word in _SCALES or word.lstrip("$")[:1].isdigit()


def _numbers_to_digits(words: List[str]) -> List[str]:
    out: List[str] = []
    index = 0
    while index < len(words):
        value, end = read_number(words, index)
        if value is None or _keep_as_word(words, index, end, out[-1] if out else ""):
            out.append(words[index])
            index += 1
            continue
        text = str(value)
        cents, after = _read_cents(words, end, out[-1] if out else "")
        if cents is not None:
            money = [words[end]] if words[end] in _MONEY else []
            text, end = " ".join([f"{value}.{cents:02d}", *money]), after
        elif words[end : end + 3] == ["and", "a", "half"]:
            text, end = f"{value}.5", end + 3
        out.append(text)
        index = end
    return out


def read_number(words: Sequence[str], start: int) -> Tuple[Optional[int], int]:
    """The spoken number starting at words[start] ("a hundred and twenty five", "fifteen hundred",
    "two thousand") as (value, index after it), or (None, start)."""
    total, current, last = 0, 0, ""
    index = start
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        group_open = last in ("", "hundred", "thousand", "and")
        if word in ("a", "an") and not last and following in _SCALES:
            current, last = 1, "unit"
        elif word in TENS and group_open and current % 100 == 0:
            current, last = current + TENS[word], "tens"
        elif word in UNITS and (group_open and current % 100 == 0 or last == "tens" and UNITS[word] < 10):
            current, last = current + UNITS[word], "unit"
        elif word == "hundred" and last in ("unit", "tens") and 0 < current < 100:
            current, last = current * 100, "hundred"
        elif word == "thousand" and last in ("unit", "tens", "hundred") and current:
            total, current, last = total + current * 1000, 0, "thousand"
        elif word == "and" and last in ("hundred", "thousand") and following in NUMBER_WORDS:
            last = "and"
        else:
            break
        index += 1
    if not last:
        return None, start
    return total + current, index - (last == "and")


def _keep_as_word(words: Sequence[str], start: int, end: int, previous: str) -> bool:
    """Number words that are not quantities: "the blue one", "which one", "the two of them"."""
    if previous in _KEEP_WORD_AFTER:
        return True
    if end - start == 1 and words[start] == "one":
        following = words[end] if end < len(words) else ""
        return not (following in _ONE_UNITS or previous == "size")
    return False


def _read_cents(words: Sequence[str], end: int, previous: str) -> Tuple[Optional[int], int]:
    """Cents after a number that is a price: "twenty nine dollars ninety nine [cents]", or "under
    twenty nine ninety nine": (cents, index after them), else (None, end)."""
    said_money = end < len(words) and words[end] in _MONEY
    start = end + 1 if said_money else end
    if not said_money and previous not in _PRICE_CUES:
        return None, end
    cents, after = read_number(words, start)
    if cents is None or not 10 <= cents <= 99 or after - start > 2:
        return None, end
    return cents, after + (after < len(words) and words[after] == "cents")
