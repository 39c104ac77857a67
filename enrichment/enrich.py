"""A raw feed's products completed by the NLU model: every enriched attribute filled (given by the feed
or inferred), one fact row per product and attribute, and a report of what happened.

`enrich_products` is the whole step; the model is only a `parse` function here (texts -> parse dicts), so
tests pass hand-made parses and the importer passes the loaded model (`enrichment.model`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from actions.catalog.models import (
    DEFAULT_AGE_GROUP,
    ENRICHED_ATTRIBUTES,
    REVIEW_AUTO,
    SOURCE_GIVEN,
    SOURCE_INFERRED,
    UNISEX,
)
from actions.vocabulary import Vocabulary
from common.schema import AGE_GROUP, GENDER
from enrichment.doubt import product_confidence, review_threshold
from enrichment.reading import (
    CATEGORY,
    COLOUR,
    GIFT_SUITABLE,
    MATERIAL_ATTR,
    PRODUCT_TYPE_ATTR,
    Reading,
    equivalent,
    read_product,
)

# Neither text names a colour (or a material): the catalog leaves it empty, which no search filter reads
# wrongly (a colour filter only leaves the product out). Above the default review threshold on purpose, so
# an unnamed colour alone does not send a product to review.
NO_VALUE_CONFIDENCE = 0.9
# What an attribute is when the model read nothing at all about it (a model without that attribute head,
# or no product word anywhere): the catalog's default, at no confidence, so the product is reviewed.
_FALLBACK: Dict[str, Tuple[Any, float]] = {
    PRODUCT_TYPE_ATTR: ("", 0.0),
    CATEGORY: ("", 0.0),
    COLOUR: ("", NO_VALUE_CONFIDENCE),
    MATERIAL_ATTR: ("", NO_VALUE_CONFIDENCE),
    GENDER: (UNISEX, 0.0),
    AGE_GROUP: (DEFAULT_AGE_GROUP, 0.0),
    GIFT_SUITABLE: (False, 0.0),
}
DEFAULT_BATCH_SIZE = 32

ParseFn = Callable[[Sequence[str]], List[Dict[str, Any]]]


@dataclass
class FactRow:
    """One product_attribute_facts row (see actions.catalog.models.AttributeFact); also what
    enrichment.doubt reads, so the report's doubt is the review queue's."""

    product_id: str
    attribute: str
    value: str
    source: str
    confidence: Optional[float] = None
    inferred_value: Optional[str] = None
    inferred_confidence: Optional[float] = None
    review_state: str = REVIEW_AUTO

    def as_row(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Contradiction:
    product_id: str
    attribute: str
    given: str
    read: str
    confidence: float


@dataclass
class EnrichmentReport:
    """What an enriched import did, for the CLI's summary, the tests and the benchmark."""

    threshold: float
    products: int = 0
    given: Dict[str, int] = field(default_factory=lambda: {name: 0 for name in ENRICHED_ATTRIBUTES})
    inferred: Dict[str, int] = field(default_factory=lambda: {name: 0 for name in ENRICHED_ATTRIBUTES})
    contradictions: List[Contradiction] = field(default_factory=list)
    confidence: Dict[str, Optional[float]] = field(default_factory=dict)  # product id -> doubt.py's score
    texts_parsed: int = 0
    parse_seconds: float = 0.0

    @property
    def to_review(self) -> List[str]:
        """Products whose least confident unreviewed fact is below the threshold (enrichment.doubt)."""
        return [pid for pid, score in self.confidence.items() if score is not None and score < self.threshold]


def fact_value(attribute: str, value: Any) -> str:
    """A Product column's value as a fact stores it (gift as "true"/"false")."""
    if attribute == GIFT_SUITABLE:
        return "true" if value else "false"
    return str(value)


def _column_value(attribute: str, value: str) -> Any:
    return value == "true" if attribute == GIFT_SUITABLE else value


def complete_product(
    product: Mapping[str, Any],
    readings: Mapping[str, Reading],
    vocabulary: Vocabulary,
    categories: Mapping[str, str],
    threshold: float,
) -> Tuple[Dict[str, Any], List[FactRow], List[Contradiction]]:
    """The product with every missing enriched attribute (None) filled from the readings, its facts, and
    the given values the model confidently (>= threshold) reads otherwise. Pure.

    A given value's fact keeps the model's reading beside it; a neutral reading (gender "unknown", no
    colour word) is no reading, so it neither contradicts nor is stored. A category missing beside a given
    product type is the type's own category when the vocabulary knows it.
    """
    done = dict(product)
    facts: List[FactRow] = []
    contradictions: List[Contradiction] = []
    pid = str(product["id"])
    readings = dict(readings)
    given_type = product.get(PRODUCT_TYPE_ATTR)
    if given_type and product.get(CATEGORY) is None:
        canonical = vocabulary.product_types.exact(given_type) or given_type
        if canonical in categories:
            readings[CATEGORY] = Reading(categories[canonical], 1.0, "given type")
    for attribute in ENRICHED_ATTRIBUTES:
        reading = readings.get(attribute)
        if product.get(attribute) is not None:
            value = fact_value(attribute, product[attribute])
            fact = FactRow(pid, attribute, value, SOURCE_GIVEN)
            if reading is not None and not reading.neutral and reading.origin != "given type":
                same = equivalent(attribute, value, reading.value, vocabulary)
                fact.inferred_value = value if same else reading.value
                fact.inferred_confidence = round(reading.confidence, 4)
                if not same and reading.confidence >= threshold:
                    contradictions.append(
                        Contradiction(pid, attribute, value, reading.value, round(reading.confidence, 4))
                    )
            facts.append(fact)
            continue
        if reading is None:
            default, confidence = _FALLBACK[attribute]
            value, confidence = fact_value(attribute, default), confidence
        else:
            value, confidence = reading.value, reading.confidence
        done[attribute] = _column_value(attribute, value)
        facts.append(FactRow(pid, attribute, value, SOURCE_INFERRED, confidence=round(confidence, 4)))
    return done, facts, contradictions


def parse_in_batches(
    texts: Sequence[str], parse: ParseFn, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = False
) -> List[Dict[str, Any]]:
    """Every text's parse, `batch_size` at a time, with a progress bar on stderr when asked."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc="reading titles and descriptions", unit="text", file=sys.stderr,
                   mininterval=0.5 if sys.stderr.isatty() else 10.0)
    parses: List[Dict[str, Any]] = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            parses.extend(parse(batch))
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    if len(parses) != len(texts):
        raise RuntimeError(f"the model returned {len(parses)} parses for {len(texts)} texts")
    return parses


def enrich_products(
    products: Sequence[Mapping[str, Any]],
    parse: ParseFn,
    vocabulary: Vocabulary,
    categories: Mapping[str, str],
    threshold: Optional[float] = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> Tuple[List[Dict[str, Any]], List[FactRow], EnrichmentReport]:
    """Parse every distinct title and non-empty description, then complete each product
    (`complete_product`).

    `products` are validated feed rows with None for each enriched attribute the feed left out.
    """
    threshold = review_threshold() if threshold is None else threshold
    report = EnrichmentReport(threshold=threshold, products=len(products))
    texts: List[str] = []
    index: Dict[str, int] = {}  # each distinct text is parsed once (variants often share a description)
    where: List[Tuple[int, Optional[int]]] = []  # per product: index of its title's and description's text

    def text_at(text: str) -> int:
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    for product in products:
        title_at = text_at(str(product.get("title") or ""))
        description = str(product.get("description") or "").strip()
        where.append((title_at, text_at(description) if description else None))
    started = time.perf_counter()
    parses = parse_in_batches(texts, parse, batch_size, progress)
    report.parse_seconds = time.perf_counter() - started
    report.texts_parsed = len(texts)
    done: List[Dict[str, Any]] = []
    facts: List[FactRow] = []
    for product, (title_at, description_at) in zip(products, where, strict=True):
        readings = read_product(
            parses[title_at],
            parses[description_at] if description_at is not None else None,
            vocabulary,
            categories,
            str(product.get("title") or ""),
            str(product.get("description") or ""),
            str(product.get("brand") or ""),
        )
        completed, product_facts, contradictions = complete_product(
            product, readings, vocabulary, categories, threshold
        )
        done.append(completed)
        facts.extend(product_facts)
        report.contradictions.extend(contradictions)
        report.confidence[completed["id"]] = product_confidence(product_facts)
        for fact in product_facts:
            counts = report.given if fact.source == SOURCE_GIVEN else report.inferred
            counts[fact.attribute] += 1
    return done, facts, report


def format_summary(report: EnrichmentReport, listed: int = 5) -> str:
    """The import's summary lines (the CLI prints them after the progress bar)."""
    lines = [
        f"read {report.texts_parsed} texts of {report.products} products in {report.parse_seconds:.1f}s",
        "attributes given:    " + _counts(report.given),
        "attributes inferred: " + _counts(report.inferred),
        f"products below the review threshold {report.threshold:.2f}: {len(report.to_review)}"
        f" of {report.products}",
        f"contradictions (the model reads a given value otherwise, confidence >= {report.threshold:.2f}): "
        f"{len(report.contradictions)}",
    ]
    for item in report.contradictions[:listed]:
        lines.append(
            f"  {item.product_id} {item.attribute}: given {item.given!r}, read {item.read!r}"
            f" ({item.confidence:.2f})"
        )
    if len(report.contradictions) > listed:
        lines.append(f"  ... and {len(report.contradictions) - listed} more")
    return "\n".join(lines)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())
