"""What the NLU model's parses of a product's title and description say about its catalog attributes.

Pure functions over plain parse dicts ({"text", "entities", "attributes"}, as /model/parse gives them), so
the mapping is tested without a model. Entity spans become catalog values through the shopper vocabulary
(`actions.vocabulary`), the parse's attributes become the catalog's gender / age group / gift values.

The title is read first: shops put the product's kind and audience there. The description fills in what
the title leaves neutral (no product span, gender "unknown", gift false), and a vocabulary scan of the
title's words is the last resort for the product type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Tuple

from actions.catalog.models import AGE_GROUPS, DEFAULT_AGE_GROUP, GENDERS, UNISEX
from actions.vocabulary import Vocabulary, normalise
from common.schema import AGE_GROUP, COLOR, GENDER, GIFT, MATERIAL, NEUTRAL_VALUES, PRODUCT_TYPE, TRUE

PRODUCT_TYPE_ATTR = "product_type"
CATEGORY = "category"
COLOUR = "colour"
MATERIAL_ATTR = "material"
GIFT_SUITABLE = "gift_suitable"

# A product type found by scanning the title's (or description's) words against the vocabulary, with no
# entity span of the model behind it: below the default review threshold (0.8) on purpose, so a person
# looks at every product whose type only the word list vouches for.
TITLE_SCAN_CONFIDENCE = 0.6
DESCRIPTION_SCAN_CONFIDENCE = 0.5
# A colour or material found by a vocabulary scan of the title, not tagged by the model: the word is a
# known colour/material name, but it may describe something else ("Gold Edition", "Rose Perfume").
ATTRIBUTE_SCAN_CONFIDENCE = 0.7
# When the title and the description read different non-neutral values for gender or age group, the
# title's value stands (shops name the audience in the title) and its confidence drops by this share of
# the description's confidence, so a strong disagreement sends the product to review. The same share of a
# neutral title's confidence is taken from a description that changes the audience (see read_attribute).
DISAGREEMENT_PENALTY = 0.25
AUDIENCE = (GENDER, AGE_GROUP)
# A product span the vocabulary does not know is kept as a new product type (a shop's own types become
# searchable) at this share of the span's confidence, so new types (with no category) tend to be reviewed.
NEW_VALUE_FACTOR = 0.8


@dataclass(frozen=True)
class Reading:
    """One attribute's value as the model read it, how sure it was, and which text said it."""

    value: str
    confidence: float
    origin: str  # "title", "description", "title scan", "description scan", "type" (category from type)
    neutral: bool = False  # the model saw no evidence (gender unknown, no colour word ...)


Parse = Mapping[str, Any]


class WordTable(Protocol):
    """One of the vocabulary's tables (colours, materials, product types)."""

    def exact(self, text: str) -> Optional[str]: ...

    def scan(self, text: str) -> List[Tuple[int, int, str]]: ...


def type_category_map(pairs: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """Product type -> category; the first pair for a type wins (the catalog's own before the demo's)."""
    mapping: Dict[str, str] = {}
    for product_type, category in pairs:
        if product_type and category:
            mapping.setdefault(product_type, category)
    return mapping


def _spans(
    parse: Optional[Parse], entity: str, brand: str = "", rightmost: bool = False
) -> List[Tuple[str, float]]:
    """(text, confidence) of the parse's spans of one entity type, most confident first (or rightmost first:
    a title's last product phrase is its head, "Ball Launcher Dog Toy" is a dog toy). A span inside the
    feed's brand ("Hamper" of "The Hamper Co") is the brand, not a product."""
    if not parse:
        return []
    brand_words = f" {normalise(brand)} " if brand else ""
    spans = [
        (str(span.get("value", "")), float(span.get("confidence_entity") or 0.0), int(span.get("start") or 0))
        for span in parse.get("entities") or []
        if span.get("entity") == entity and normalise(str(span.get("value", "")))
    ]
    spans = [span for span in spans if not (brand_words and f" {normalise(span[0])} " in brand_words)]
    spans.sort(key=lambda span: -span[2] if rightmost else -span[1])
    return [(text, confidence) for text, confidence, _ in spans]


def _attribute(parse: Optional[Parse], name: str) -> Optional[Tuple[str, float]]:
    if not parse:
        return None
    reading = (parse.get("attributes") or {}).get(name)
    if not isinstance(reading, Mapping) or "value" not in reading:
        return None
    value = reading["value"]
    text = (TRUE if value else "false") if isinstance(value, bool) else str(value).strip().lower()
    return text, float(reading.get("confidence", 0.0) or 0.0)


def without_brand(text: str, brand: str) -> str:
    """The text with the brand's words taken out, so "The Hamper Co" does not make a product a hamper."""
    words, brand_words = normalise(text).split(), normalise(brand).split()
    if not brand_words:
        return " ".join(words)
    size = len(brand_words)
    for start in range(0, len(words) - size + 1):
        if words[start : start + size] == brand_words:
            return " ".join(words[:start] + words[start + size :])
    return " ".join(words)


def product_in(text: str, vocabulary: Vocabulary) -> Tuple[Optional[str], Optional[str]]:
    """(product type, category) a phrase names: exactly, else its head: the longest known phrase inside
    it, the rightmost of equally long ones, as English puts the head noun last ("Dress Watch" is a watch,
    "Pullover Hoodie" a hoodie). A category only when no type is named."""
    exact = vocabulary.product_types.exact(text)
    if exact:
        return exact, None
    hits = vocabulary.product_types.scan(text)
    if hits:
        return max(hits, key=lambda hit: (hit[1] - hit[0], hit[0]))[2], None
    _, category = vocabulary.find_product(text)
    return None, category


def _corroborated(reading: Reading, listed: set, listed_confidence: float) -> Reading:
    """A span's value that the vocabulary also finds in the text, alone: the model tagged the words and
    they are a known name with no rival of their kind ("Ring Rattle" names two types, so no help). The
    two are combined as two pieces of evidence (1 - both wrong), the word list counting as
    `listed_confidence`."""
    if listed != {reading.value}:
        return reading
    combined = 1.0 - (1.0 - reading.confidence) * (1.0 - listed_confidence)
    return Reading(reading.value, combined, reading.origin)


def read_product_type(
    title: Optional[Parse],
    description: Optional[Parse],
    vocabulary: Vocabulary,
    categories: Mapping[str, str],
    title_text: str,
    description_text: str,
    brand: str = "",
) -> Tuple[Optional[Reading], Optional[Reading]]:
    """(product type, category): the title's product spans, else the description's, else a vocabulary scan
    of the title, then of the description (brand words left out); a category-only span or scan gives the
    category alone; a span nothing knows becomes a new type at `NEW_VALUE_FACTOR`."""
    category_only: Optional[Reading] = None
    unknown: Optional[Reading] = None
    title_words = without_brand(title_text, brand)
    title_types = {value for _, _, value in vocabulary.product_types.scan(title_words)}
    for parse, origin in ((title, "title"), (description, "description")):
        for text, confidence in _spans(parse, PRODUCT_TYPE, brand, rightmost=True):
            product_type, category = product_in(text, vocabulary)
            if product_type:
                reading = _corroborated(
                    Reading(product_type, confidence, origin), title_types, TITLE_SCAN_CONFIDENCE
                )
                return _with_category(reading, categories)
            if category and category_only is None:
                category_only = Reading(category, confidence, origin)
            elif not category and unknown is None:
                unknown = Reading(normalise(text), confidence * NEW_VALUE_FACTOR, origin)
    for text, origin, confidence in (
        (title_words, "title scan", TITLE_SCAN_CONFIDENCE),
        (without_brand(description_text, brand), "description scan", DESCRIPTION_SCAN_CONFIDENCE),
    ):
        product_type, category = product_in(text, vocabulary)
        if product_type:
            return _with_category(Reading(product_type, confidence, origin), categories)
        if category and category_only is None:
            category_only = Reading(category, confidence, origin)
    if unknown is not None:
        return unknown, category_only
    return None, category_only


def _with_category(
    product_type: Reading, categories: Mapping[str, str]
) -> Tuple[Reading, Optional[Reading]]:
    category = categories.get(product_type.value)
    if category is None:
        return product_type, None
    return product_type, Reading(category, product_type.confidence, "type")


def read_value(
    title: Optional[Parse],
    description: Optional[Parse],
    entity: str,
    table: WordTable,
    title_text: str,
    description_text: str = "",
    brand: str = "",
    rival: Optional[WordTable] = None,
) -> Optional[Reading]:
    """A colour or material: the model's spans (title first; none inside the brand) mapped through the
    vocabulary's `table` (corroborated by it when the text names no rival value); a span the vocabulary
    does not know is kept as a new value at the span's confidence (a shop's "linen" or "teal" is as likely
    right as a known word). Only when the model tagged nothing, a scan of the title's words, skipping
    those the `rival` table knows ("Gold" at the end of a title is its colour, not its material). None:
    nothing in either text names one."""
    unknown: Optional[Reading] = None
    for parse, origin, text in ((title, "title", title_text), (description, "description", description_text)):
        listed = {value for _, _, value in table.scan(text)}
        for span, confidence in _spans(parse, entity, brand):
            value = table.exact(span) or _first_value(table.scan(span))
            if value:
                return _corroborated(Reading(value, confidence, origin), listed, ATTRIBUTE_SCAN_CONFIDENCE)
            if unknown is None:
                unknown = Reading(normalise(span), confidence, origin)
    if unknown is not None:
        return unknown
    words = without_brand(title_text, brand).split()
    for start, end, value in table.scan(" ".join(words)):
        if rival is None or not rival.exact(" ".join(words[start:end])):
            return Reading(value, ATTRIBUTE_SCAN_CONFIDENCE, "title scan")
    return None


def _first_value(hits: List[Tuple[int, int, str]]) -> Optional[str]:
    return hits[0][2] if hits else None


def _catalog_value(attribute: str, value: str) -> Tuple[str, bool]:
    """The schema's attribute value as the catalog stores it, and whether it was the neutral one."""
    neutral = value in NEUTRAL_VALUES
    if attribute == GENDER:
        return (UNISEX if neutral or value not in GENDERS else value), neutral
    if attribute == AGE_GROUP:
        return (DEFAULT_AGE_GROUP if neutral or value not in AGE_GROUPS else value), neutral
    return ("true" if value == TRUE else "false"), neutral


def read_attribute(title: Optional[Parse], description: Optional[Parse], attribute: str) -> Optional[Reading]:
    """Gender, age group or gift in catalog values: the title's reading, unless it is neutral and the
    description reads a non-neutral value; two different non-neutral readings keep the title's, less
    `DISAGREEMENT_PENALTY` of the description's confidence. A description that changes the audience a
    title confidently leaves open (gender unisex -> male; age adult -> kid) is taken less the same share
    of the title's confidence: shops name the audience in the title, so a person should look. Gift is
    not docked: titles rarely say it."""
    title_reading = _attribute(title, attribute)
    description_reading = _attribute(description, attribute)
    if title_reading is None and description_reading is None:
        return None
    if title_reading is None:
        value, confidence = description_reading  # type: ignore[misc]
        return Reading(*_reading(attribute, value, confidence, "description"))
    value, confidence = title_reading
    if description_reading is not None:
        other, other_confidence = description_reading
        if value in NEUTRAL_VALUES and other not in NEUTRAL_VALUES:
            changes = _catalog_value(attribute, other)[0] != _catalog_value(attribute, value)[0]
            if attribute in AUDIENCE and changes:
                other_confidence = max(0.0, other_confidence - DISAGREEMENT_PENALTY * confidence)
            return Reading(*_reading(attribute, other, other_confidence, "description"))
        if value not in NEUTRAL_VALUES and other not in NEUTRAL_VALUES and other != value:
            confidence = max(0.0, confidence - DISAGREEMENT_PENALTY * other_confidence)
    return Reading(*_reading(attribute, value, confidence, "title"))


def _reading(attribute: str, value: str, confidence: float, origin: str) -> Tuple[str, float, str, bool]:
    catalog_value, neutral = _catalog_value(attribute, value)
    return catalog_value, confidence, origin, neutral


def read_product(
    title: Optional[Parse],
    description: Optional[Parse],
    vocabulary: Vocabulary,
    categories: Mapping[str, str],
    title_text: str,
    description_text: str = "",
    brand: str = "",
) -> Dict[str, Reading]:
    """Every enriched attribute the two parses say something about (absent: nothing read at all)."""
    readings: Dict[str, Optional[Reading]] = {}
    readings[PRODUCT_TYPE_ATTR], readings[CATEGORY] = read_product_type(
        title, description, vocabulary, categories, title_text, description_text, brand
    )
    readings[COLOUR] = read_value(
        title, description, COLOR, vocabulary.colours, title_text, description_text, brand
    )
    readings[MATERIAL_ATTR] = read_value(
        title, description, MATERIAL, vocabulary.materials, title_text, description_text, brand,
        rival=vocabulary.colours,
    )
    readings[GENDER] = read_attribute(title, description, GENDER)
    readings[AGE_GROUP] = read_attribute(title, description, AGE_GROUP)
    readings[GIFT_SUITABLE] = read_attribute(title, description, GIFT)
    return {name: reading for name, reading in readings.items() if reading is not None}


def equivalent(attribute: str, given: str, read: str, vocabulary: Vocabulary) -> bool:
    """Whether a feed's value and the model's reading name the same thing ("sneakers" and "trainers")."""
    if given == read:
        return True
    canonical = {
        PRODUCT_TYPE_ATTR: lambda text: vocabulary.product_types.exact(text),
        CATEGORY: lambda text: vocabulary.categories.exact(text),
        COLOUR: lambda text: vocabulary.colours.exact(text),
        MATERIAL_ATTR: lambda text: vocabulary.materials.exact(text),
    }.get(attribute)
    return canonical is not None and (canonical(given) or given) == (canonical(read) or read)
