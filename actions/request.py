"""One parsed message resolved once into a `ShopperRequest`: what the shopper asks for, in catalog values.

Entities come first. The text is scanned only for what the model missed, as an explicit fallback that
is logged and recorded in `ShopperRequest.from_text`. Attributes (gender, age group, gift) are the
parse's own `attributes`: the NLU component already fused its cue words into them, so `/model/parse`,
the evaluation and the actions read a message the same way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from actions import settings
from actions.prices import PriceIntent, parse_price
from actions.vocabulary import Vocabulary, normalise
from common.limits import MAX_MESSAGE_CHARS
from common.numbers import first_number
from common.placeholders import blank_placeholders
from common.schema import (
    AGE_GROUP,
    BRAND,
    COLOR,
    FEATURE,
    GENDER,
    GIFT,
    MATERIAL,
    MODEL,
    NEUTRAL_VALUES,
    PARSE_ATTRIBUTES_KEY,
    PRICE,
    PRODUCT_TYPE,
    QUANTITY,
    RECIPIENT,
    SIZE,
    TRUE,
)

logger = logging.getLogger(__name__)

MAX_TERMS = 6
# Recipient words that name nobody new ("she's 6", "for me"): not repeated back as "your she".
PRONOUNS = frozenset({"she", "he", "her", "him", "they", "them", "me", "myself", "i", "us", "you", "it"})
# Words that say nothing about which product is wanted, kept out of the full-text search.
# fmt: off
STOP_WORDS = frozenset([
    "a", "an", "the", "and", "or", "for", "with", "of", "to", "in", "on", "at", "by", "from", "some",
    "any", "something", "anything", "stuff", "things", "thing", "item", "items", "product", "products",
    "nice", "good", "great", "new", "cool", "best", "cute", "lovely", "really", "very", "please", "want",
    "need", "looking", "look", "find", "show", "me", "my", "i", "it", "its", "this", "that", "these",
    "those", "one", "ones", "kind", "sort", "type",
])
# fmt: on
# What a negated value sounds like just before it: "no leather", "any colour but pink", "not in red".
_NEGATION_BEFORE = re.compile(
    r"(?:\b(?:no|not|non|without|except(?: for)?|excluding|other than|anything but|any \w+ but|but not|"
    r"avoid|hate|don'?t (?:want|like)|nothing)[\s-]+(?:(?:in|made of|of|any|a|the|too)\s+){0,2})$"
)


@dataclass(frozen=True)
class Entity:
    """One entity of the parse, with its place in the text (found by value when the parse has none)."""

    type: str
    value: str
    start: int = -1
    end: int = -1


@dataclass(frozen=True)
class Attribute:
    value: str
    confidence: float


@dataclass(frozen=True)
class ShopperRequest:
    """What one message asks for, resolved against the catalog's vocabulary."""

    text: str = ""  # the shopper's words, cut to the limit; "" for a button's payload
    intent: str = ""
    truncated: bool = False  # the message was longer than the limit
    product_words: Optional[str] = None  # what the shopper called the product, for replies
    product_type: Optional[str] = None
    category: Optional[str] = None
    misspelled: Optional[str] = None  # the word read as `product_type` by spelling ("hedphones")
    terms: Tuple[str, ...] = ()  # words to find in titles and descriptions
    brand: Optional[str] = None
    colour: Optional[str] = None
    material: Optional[str] = None
    size: Optional[str] = None
    excluded: Tuple[Tuple[str, str], ...] = ()  # ("colour", "pink"), ("material", "leather"), ...
    price: PriceIntent = field(default_factory=PriceIntent)
    quantity: Optional[int] = None
    gender: Optional[Attribute] = None
    age_group: Optional[Attribute] = None
    gift: bool = False
    recipient: Optional[str] = None  # who it is for, in the shopper's words ("niece"); never a pronoun
    mentions_recipient: bool = False  # any recipient word, pronouns too: the audience may have changed
    from_text: Tuple[str, ...] = ()  # fields read from the text because no entity gave them

    def has_product(self) -> bool:
        return bool(self.product_type or self.category or self.terms or self.brand)

    def refinements(self) -> bool:
        """Whether it narrows a search (colour, size, price, material, features, exclusions)."""
        return bool(
            self.colour
            or self.size
            or self.material
            or self.excluded
            or not self.price.is_empty
            or self.terms
        )

    def excluded_values(self, kind: str) -> Tuple[str, ...]:
        return tuple(value for field_name, value in self.excluded if field_name == kind)


# --- reading the parse -----------------------------------------------------------------------------


def message_text(message: Mapping[str, Any]) -> str:
    """The shopper's words. A button payload ("/add_to_cart{...}") has none: its entities carry
    everything, and its JSON must not be read as words (a size "8" is no position)."""
    text = str(message.get("text") or "")
    # A redaction placeholder ("<CARD>") is no shopper's word: blanked, so "card" is not a product.
    return "" if text.startswith("/") else blank_placeholders(text[:MAX_MESSAGE_CHARS])


def parse_entities(message: Mapping[str, Any], text: str) -> List[Entity]:
    """The parse's entities in text order; each value re-checked (a string, cut to the limit)."""
    entities: List[Entity] = []
    searched_from: Dict[str, int] = {}
    for item in message.get("entities") or []:
        if not isinstance(item, Mapping) or not item.get("entity") or item.get("value") is None:
            continue
        kind, value = str(item["entity"]), str(item["value"])[:MAX_MESSAGE_CHARS]
        start, end = item.get("start"), item.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            found = text.lower().find(value.lower(), searched_from.get(value.lower(), 0)) if value else -1
            start, end = (found, found + len(value)) if found >= 0 else (-1, -1)
            if found >= 0:
                searched_from[value.lower()] = found + len(value)
        entities.append(Entity(kind, value, start, end))
    return sorted(entities, key=lambda e: (e.start < 0, e.start))


def parse_attributes(message: Mapping[str, Any]) -> Dict[str, Attribute]:
    """{name: Attribute} from the parse's `attributes`; neutral values (unknown, false) left out."""
    found: Dict[str, Attribute] = {}
    attributes = message.get(PARSE_ATTRIBUTES_KEY)
    for name, item in (attributes if isinstance(attributes, Mapping) else {}).items():
        value, confidence = (
            (item.get("value"), item.get("confidence", 0.0))
            if isinstance(item, Mapping)
            else (
                item,
                1.0,
            )
        )
        value = (TRUE if value else "") if isinstance(value, bool) else str(value or "").lower()
        try:
            confidence = min(1.0, max(0.0, float(confidence)))
        except (TypeError, ValueError):
            confidence = 0.0
        if value and value not in NEUTRAL_VALUES:
            found[str(name)] = Attribute(value, confidence)
    return found


def is_negated(text: str, start: int) -> bool:
    """Whether the words just before `start` negate what follows ("no leather", "anything but pink")."""
    if start < 0:
        return False
    before = re.sub(r"\s+", " ", text[:start].lower().replace("\u2019", "'"))[-40:]
    return bool(_NEGATION_BEFORE.search(before))


def search_words(text: str) -> Tuple[str, ...]:
    """The words of a phrase worth searching for in titles and descriptions."""
    return tuple(w for w in normalise(text).split() if len(w) > 1 and w not in STOP_WORDS)[:MAX_TERMS]


# --- resolving ---------------------------------------------------------------------------------------


def read_request(message: Mapping[str, Any], vocabulary: Vocabulary) -> ShopperRequest:
    """The message as the actions read it: each entity resolved to a catalog value, negated values
    kept apart as exclusions, and the text scanned only for what no entity gave."""
    text = message_text(message)
    entities = parse_entities(message, text)
    intent = str(
        ((message.get("intent") or {}) if isinstance(message.get("intent"), Mapping) else {}).get("name")
        or ""
    )
    fields: Dict[str, Any] = {}
    from_text: List[str] = []
    excluded: List[Tuple[str, str]] = []

    def positive(kind: str) -> List[Entity]:
        return [e for e in entities if e.type == kind and not is_negated(text, e.start)]

    for kind, name, resolve in (
        (COLOR, "colour", vocabulary.colour),
        (MATERIAL, "material", vocabulary.material),
        (BRAND, "brand", vocabulary.brand),
    ):
        for entity in entities:
            if entity.type == kind and is_negated(text, entity.start):
                value = resolve(entity.value) or ("" if kind == COLOR else normalise(entity.value))
                if value:
                    excluded.append((name, value))

    tagged = {e.type for e in entities}
    fields.update(_product_fields(positive(PRODUCT_TYPE), text, vocabulary, tagged, from_text))
    extra = tuple(w for e in positive(FEATURE) + positive(MODEL) for w in search_words(e.value))
    if extra:
        fields["terms"] = tuple(dict.fromkeys(fields.get("terms", ()) + extra))[:MAX_TERMS]

    brand = next(iter(positive(BRAND)), None)
    known_brand = vocabulary.brand(brand.value) if brand else None
    misheard = vocabulary.closest_product(brand.value, STOP_WORDS) if brand and not known_brand else None
    if misheard:  # "hedphones" tagged as a brand: a misspelled product, not a brand we don't stock
        if not (fields.get("product_type") or fields.get("category")):
            typed, product_type, category = misheard
            fields.update(product_type=product_type, category=category, misspelled=typed)
    elif brand:
        fields["brand"] = known_brand or brand.value.strip()
    elif not fields.get("brand") and vocabulary.brand_words.scan(text):
        fields["brand"] = vocabulary.brand(text)
        from_text.append(BRAND)
    # A colour the catalog does not know ("any colour", "colour") is no filter: the model tagged noise.
    colour = next((e for e in positive(COLOR) if vocabulary.colour(e.value)), None)
    if colour:
        fields["colour"] = vocabulary.colour(colour.value)
    elif not fields.get("colour"):
        fields.update(_colour_from_text(text, vocabulary, excluded, from_text))
    material = next(iter(positive(MATERIAL)), None)
    if material:
        fields["material"] = vocabulary.material(material.value) or normalise(material.value)
    fields["size"] = requested_size([e.value for e in positive(SIZE)], text, vocabulary)
    fields["price"] = _price(text, positive(PRICE), from_text)
    quantity = next(iter(positive(QUANTITY)), None)
    if quantity:
        number = first_number(quantity.value)
        fields["quantity"] = max(1, min(number if number is not None else 1, settings.MAX_QUANTITY))

    attributes = parse_attributes(message)
    gift = attributes.get(GIFT)
    recipients = [e.value.strip() for e in entities if e.type == RECIPIENT]
    for kind in ("brand", "colour", "material"):
        if fields.get(kind) and (kind, fields[kind]) in excluded:
            fields[kind] = None  # "anything but pink" tagged pink twice: the exclusion wins
    if from_text:
        logger.info("read from the text, no entity: %s", ", ".join(from_text))
    return ShopperRequest(
        text=text,
        intent=intent,
        truncated=len(str(message.get("text") or "")) > MAX_MESSAGE_CHARS,
        excluded=tuple(dict.fromkeys(excluded)),
        gender=attributes.get(GENDER),
        age_group=attributes.get(AGE_GROUP),
        gift=bool(gift and gift.value == TRUE and gift.confidence >= settings.GIFT_THRESHOLD),
        recipient=next((r for r in recipients if normalise(r) not in PRONOUNS and len(r) < 40), None),
        mentions_recipient=bool(recipients),
        from_text=tuple(from_text),
        **fields,
    )


def _product_fields(
    products: Sequence[Entity], text: str, vocabulary: Vocabulary, tagged: Set[str], from_text: List[str]
) -> Dict[str, Any]:
    """Product type or category, the words around it (colour, material, brand, search terms), and a
    misspelled product word read by its closest catalog word."""
    phrase = " ".join(e.value for e in products).strip()
    source = phrase or text
    product_type, category, other_words = vocabulary.split_product(source)
    fields: Dict[str, Any] = {}
    if product_type or category:
        fields.update(product_type=product_type, category=category, product_words=phrase or None)
        if not phrase:
            from_text.append(PRODUCT_TYPE)
        if phrase:
            fields.update(_describing_words(other_words, vocabulary, tagged))
        return fields
    corrected = vocabulary.closest_product(source)
    if corrected:
        typed, product_type, category = corrected
        logger.info("read %r as the product %r", typed, product_type or category)
        return {"product_type": product_type, "category": category, "misspelled": typed}
    if phrase:
        fields.update(product_words=phrase, terms=search_words(phrase))
    return fields


def _describing_words(words: Sequence[str], vocabulary: Vocabulary, tagged: Set[str]) -> Dict[str, Any]:
    """Colour, material and brand named among a product phrase's other words ("pink sony premium
    headphones") unless an entity of their own gives them (`tagged`); what is left, less price words
    ("premium"), becomes full-text terms."""
    found: Dict[str, Any] = {}
    rest = list(words)
    for key, kind, table in (
        ("colour", COLOR, vocabulary.colours),
        ("material", MATERIAL, vocabulary.materials),
        ("brand", BRAND, vocabulary.brand_words),
    ):
        hits = table.scan(" ".join(rest))
        if hits and kind not in tagged:
            start, end, value = hits[0]
            found[key] = value
            rest = rest[:start] + rest[end:]
    terms = tuple(w for w in search_words(" ".join(rest)) if parse_price(w).is_empty and len(w) > 2)
    if terms:
        found["terms"] = terms
    return found


def _colour_from_text(
    text: str, vocabulary: Vocabulary, excluded: List[Tuple[str, str]], from_text: List[str]
) -> Dict[str, Any]:
    words = normalise(text).split()
    for start, _end, value in vocabulary.colours.scan(text):
        offset = text.lower().find(words[start]) if words else -1
        if is_negated(text, offset):
            excluded.append(("colour", value))
        else:
            from_text.append(COLOR)
            return {"colour": value}
    return {}


def _price(text: str, prices: Sequence[Entity], from_text: List[str]) -> PriceIntent:
    """The price entities read together with the words just before and between them ("over" + "50",
    "between 50" + "120"); the whole text only when no entity gives a price."""
    placed = [e for e in prices if e.start >= 0]
    if placed:
        begin = placed[0].start
        context = text[:begin].split()[-2:]
        span = " ".join(context) + " " + text[begin : placed[-1].end]
        price = parse_price(span, assume_money=True)
        if not price.is_empty:
            return price
    elif prices:
        price = parse_price(" ".join(e.value for e in prices), assume_money=True)
        if not price.is_empty:
            return price
    price = parse_price(text)
    if not price.is_empty:
        from_text.append(PRICE)
    return price


def requested_size(values: Sequence[str], text: str, vocabulary: Vocabulary) -> Optional[str]:
    """The size asked for: from a `size` entity the vocabulary understands, else from the text ("is the
    first one in size 4" even when the model tagged no size, or tagged "one")."""
    for value in values:
        size = vocabulary.size(value) or vocabulary.size(f"size {value}")
        if size:
            return size
    return vocabulary.size(text) if text else None
