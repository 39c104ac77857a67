"""Loading a catalog from CSV or JSONL, all or nothing.

Every row is validated first; if any row is bad, the report lists each problem with its line number
and nothing is written. A good file is written in one transaction: products, stock and one
product_attribute_facts row per enriched attribute (where the value came from).

Columns (CSV header or JSON keys): `id, title, price` are required; optional are brand, description,
rating, image_url (http:// or https:// only), product_type, category, gender, age_group, colour
(`color` is accepted), material, gift_suitable, and stock per size, either as `stock` = "S:3;M:0;L:5"
(CSV) / {"S": 3, "M": 0} (JSON), or as `sizes` = "S;M;L" plus one `stock` number for every size.

A raw feed (some row without product_type or category) has each missing attribute inferred from the
title, description and brand by the trained NLU model (`enrichment/`, imported only then); a structured
feed imports without the model, the catalog's defaults filling what it leaves out.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

from sqlalchemy import select

from actions.catalog.db import build_catalog, create_schema, get_engine, session_for
from actions.catalog.models import (
    AGE_GROUPS,
    DEFAULT_AGE_GROUP,
    ENRICHED_ATTRIBUTES,
    GENDERS,
    ONE_SIZE,
    SOURCE_GIVEN,
    UNISEX,
    Product,
)
from common.schema import AGE_GROUP, GENDER

if TYPE_CHECKING:  # enrichment (and the model behind it) is imported only when a feed needs it
    from enrichment.enrich import EnrichmentReport, ParseFn

REQUIRED = ("id", "title", "price")
# The products table's column widths (actions/catalog/models.py), checked so PostgreSQL never refuses a row.
MAX_LENGTHS = {"id": 16, "title": 200, "brand": 80, "product_type": 60, "category": 60, "image_url": 500}
MAX_PRICE = 1_000_000.0


class ImportRejectedError(Exception):
    """Raised when a file has bad rows; carries the report so the caller can show every problem."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.errors)} problem(s) in {report.source}")
        self.report = report


@dataclass
class ImportReport:
    source: str
    products: List[dict] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    written: int = 0
    facts: int = 0  # product_attribute_facts rows written
    defaulted: int = 0  # attribute values a structured feed left out and the catalog's default filled
    model: Optional[Path] = None  # the archive that read the feed, when it was loaded here
    enrichment: Optional[EnrichmentReport] = None  # what the model inferred, for an enriched import
    write_seconds: float = 0.0


def read_records(path: Path) -> Iterator[Tuple[int, Any]]:
    """(line number, raw record) pairs; a JSONL line that is not JSON yields its error text instead."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for record in reader:
                yield reader.line_num, record
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                yield number, f"not valid JSON ({error.msg})"


def _text(record: Dict[str, Any], key: str) -> str:
    value = record.get(key)
    return "" if value is None else str(value).strip()


def _parse_stock(record: Dict[str, Any], errors: List[str]) -> Dict[str, int]:
    raw = record.get("stock")
    sizes_raw = record.get("sizes")
    pairs: List[Tuple[str, Any]] = []
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, str) and ":" in raw:
        for chunk in raw.split(";"):
            if not chunk.strip():
                continue
            size, _, quantity = chunk.partition(":")
            pairs.append((size.strip(), quantity.strip()))
    else:
        sizes = (
            sizes_raw
            if isinstance(sizes_raw, list)
            else [s.strip() for s in str(sizes_raw or "").split(";") if s.strip()]
        )
        sizes = sizes or [ONE_SIZE]
        quantity = raw if raw not in (None, "") else 0
        pairs = [(str(size), quantity) for size in sizes]
    stock: Dict[str, int] = {}
    for size, quantity in pairs:
        size = str(size).strip()
        try:
            number = int(str(quantity).strip())
        except ValueError:
            errors.append(f"stock for size {size!r} is not a whole number: {quantity!r}")
            continue
        if number < 0:
            errors.append(f"stock for size {size!r} is negative: {number}")
        elif not size:
            errors.append("a stock entry has no size")
        else:
            stock[size] = number
    if not stock and not errors:
        errors.append("no stock entries")
    return stock


def _parse_bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("", "0", "false", "no", "n"):
        return False
    return None


def _optional(record: Dict[str, Any], key: str, *aliases: str) -> Optional[str]:
    """A column's lower-cased text, or None when the feed leaves it out or empty (to be inferred)."""
    for name in (key, *aliases):
        text = _text(record, name)
        if text:
            return text.lower()
    return None


def _check_url(value: str, errors: List[str]) -> str:
    parsed = urlparse(value)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc:
        errors.append(f"image_url must be an http:// or https:// URL: {value!r}")
    elif len(value) > MAX_LENGTHS["image_url"]:
        errors.append(f"image_url is longer than {MAX_LENGTHS['image_url']} characters")
    return value


def validate_record(record: Any) -> Tuple[Optional[dict], List[str]]:
    """A product dict ready for the database, or the list of what is wrong with the record.

    Each enriched attribute (`ENRICHED_ATTRIBUTES`) the record leaves out or empty is None in the dict:
    the model infers it (`enrichment`), or a structured feed takes the catalog's default (`fill_defaults`).
    """
    if isinstance(record, str):
        return None, [record]
    if not isinstance(record, dict):
        return None, ["a record must be an object with product fields"]
    errors: List[str] = []
    for key in REQUIRED:
        if not _text(record, key):
            errors.append(f"missing {key}")
    for key, limit in MAX_LENGTHS.items():
        if key != "image_url" and len(_text(record, key)) > limit:
            errors.append(f"{key} is longer than {limit} characters")
    price: float = 0.0
    try:
        price = float(_text(record, "price") or "nan")
        if math.isnan(price) or math.isinf(price) or price < 0 or price > MAX_PRICE:
            errors.append(f"price must be between 0 and {MAX_PRICE:,.0f}: {record.get('price')!r}")
    except ValueError:
        if _text(record, "price"):
            errors.append(f"price is not a number: {record.get('price')!r}")
    rating = 0.0
    if _text(record, "rating"):
        try:
            rating = float(_text(record, "rating"))
            if not 0 <= rating <= 5:
                errors.append(f"rating must be between 0 and 5: {rating}")
        except ValueError:
            errors.append(f"rating is not a number: {record.get('rating')!r}")
    gender = _optional(record, GENDER)
    if gender is not None and gender not in GENDERS:
        errors.append(f"{GENDER} must be one of {', '.join(GENDERS)}: {gender!r}")
    age_group = _optional(record, AGE_GROUP)
    if age_group is not None and age_group not in AGE_GROUPS:
        errors.append(f"{AGE_GROUP} must be one of {', '.join(AGE_GROUPS)}: {age_group!r}")
    gift: Optional[bool] = None
    if _text(record, "gift_suitable") or isinstance(record.get("gift_suitable"), bool):
        gift = _parse_bool(record.get("gift_suitable"))
        if gift is None:
            errors.append(f"gift_suitable must be true or false: {record.get('gift_suitable')!r}")
    image_url = _text(record, "image_url")
    if image_url:
        _check_url(image_url, errors)
    stock = _parse_stock(record, errors)
    if errors:
        return None, errors
    return {
        "id": _text(record, "id"),
        "title": _text(record, "title"),
        "brand": _text(record, "brand"),
        "product_type": _optional(record, "product_type"),
        "category": _optional(record, "category"),
        GENDER: gender,
        AGE_GROUP: age_group,
        "colour": _optional(record, "colour", "color"),
        "material": _optional(record, "material"),
        "price": round(price, 2),
        "rating": rating,
        "gift_suitable": gift,
        "description": _text(record, "description"),
        "image_url": image_url,
        "stock": stock,
    }, []


def missing_attributes(product: dict) -> List[str]:
    """The enriched attributes a validated product leaves to inference."""
    return [name for name in ENRICHED_ATTRIBUTES if product.get(name) is None]


def feed_needs_model(products: List[dict]) -> bool:
    """A feed needs the NLU model when some product has no product type or no category: those have no
    default. A structured feed (both on every row) imports without it, as before."""
    return any(product.get("product_type") is None or product.get("category") is None for product in products)


# The catalog's values for what a structured feed leaves out (no model runs for such a feed).
STRUCTURED_DEFAULTS: Dict[str, Any] = {
    GENDER: UNISEX,
    AGE_GROUP: DEFAULT_AGE_GROUP,
    "colour": "",
    "material": "",
    "gift_suitable": False,
}


def given_facts(product: dict) -> List[dict]:
    """Fact rows for the enriched attributes a structured feed gives (source given, nothing inferred)."""
    return [
        {
            "product_id": product["id"],
            "attribute": name,
            "value": str(product[name]).lower() if name == "gift_suitable" else str(product[name]),
            "source": SOURCE_GIVEN,
        }
        for name in ENRICHED_ATTRIBUTES
        if product.get(name) is not None
    ]


def fill_defaults(product: dict) -> dict:
    """A structured feed's product with the catalog's default for each attribute it leaves out."""
    return {**product, **{k: v for k, v in STRUCTURED_DEFAULTS.items() if product.get(k) is None}}


def check_file(path: Path, existing_ids: Optional[set] = None) -> ImportReport:
    """Validate every record; duplicate ids (in the file or already in the catalog) are errors too."""
    report = ImportReport(source=str(path))
    seen: Dict[str, int] = {}
    existing_ids = existing_ids or set()
    for line, record in read_records(path):
        product, problems = validate_record(record)
        for problem in problems:
            report.errors.append(f"line {line}: {problem}")
        if product is None:
            continue
        if product["id"] in seen:
            report.errors.append(
                f"line {line}: id {product['id']} already used on line {seen[product['id']]}"
            )
        elif product["id"] in existing_ids:
            report.errors.append(f"line {line}: id {product['id']} is already in the catalog")
        seen[product["id"]] = line
        report.products.append(product)
    if not report.products and not report.errors:
        report.errors.append("the file has no products")
    return report


def import_file(
    path: Path,
    url: Optional[str] = None,
    replace: bool = False,
    model: Optional[Path] = None,
    threshold: Optional[float] = None,
    parse: Optional[ParseFn] = None,
    progress: bool = False,
) -> ImportReport:
    """Validate, complete, then write all products, their stock and facts in one transaction; raise
    ImportRejectedError with every problem.

    A feed that lacks product_type or category on some row (`feed_needs_model`), or an explicit `model` or
    `parse` function, has its missing attributes inferred by the NLU model (the `enrichment` package,
    imported only then); a structured feed takes the catalog's defaults for what it leaves out.
    """
    engine = get_engine(url)
    create_schema(engine)
    existing: set = set()
    if not replace:
        with session_for(engine) as session:
            existing = set(session.execute(select(Product.id)).scalars())
    report = check_file(path, existing)
    if report.errors:
        raise ImportRejectedError(report)
    facts: List[dict]
    if parse is not None or model is not None or feed_needs_model(report.products):
        from enrichment.enrich import enrich_products
        from enrichment.sources import catalog_vocabulary

        if parse is None:
            from enrichment.model import find_model, load_parser

            report.model = find_model(model)
            parse = load_parser(report.model)
        vocabulary, categories = catalog_vocabulary(engine)
        report.products, fact_rows, report.enrichment = enrich_products(
            report.products, parse, vocabulary, categories, threshold=threshold, progress=progress
        )
        facts = [fact.as_row() for fact in fact_rows]
    else:
        facts = [fact for product in report.products for fact in given_facts(product)]
        report.defaulted = sum(len(missing_attributes(product)) for product in report.products)
        report.products = [fill_defaults(product) for product in report.products]
    started = time.perf_counter()
    report.written = build_catalog(url, report.products, replace=replace, facts=facts)
    report.write_seconds = time.perf_counter() - started
    report.facts = len(facts)
    return report
