"""Loading a catalog from CSV or JSONL, all or nothing.

Every row is validated first; if any row is bad, the report lists each problem with its line number
and nothing is written. A good file is written in one transaction.

Columns (CSV header or JSON keys): id, title, brand, product_type, category, gender, age_group,
colour, material, price, rating, gift_suitable, description, and stock per size, either as
`stock` = "S:3;M:0;L:5" (CSV) / {"S": 3, "M": 0} (JSON), or as `sizes` = "S;M;L" plus one
`stock` number for every size. `color` is accepted for `colour`.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from sqlalchemy import select

from actions.catalog.db import build_catalog, create_schema, get_engine, session_for
from actions.catalog.models import AGE_GROUPS, DEFAULT_AGE_GROUP, GENDERS, ONE_SIZE, UNISEX, Product
from common.schema import AGE_GROUP, GENDER

REQUIRED = ("id", "title", "brand", "product_type", "category", "price")
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


def validate_record(record: Any) -> Tuple[Optional[dict], List[str]]:
    """A product dict ready for the database, or the list of what is wrong with the record."""
    if isinstance(record, str):
        return None, [record]
    if not isinstance(record, dict):
        return None, ["a record must be an object with product fields"]
    errors: List[str] = []
    for key in REQUIRED:
        if not _text(record, key):
            errors.append(f"missing {key}")
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
    gender = _text(record, GENDER).lower() or UNISEX
    if gender not in GENDERS:
        errors.append(f"{GENDER} must be one of {', '.join(GENDERS)}: {gender!r}")
    age_group = _text(record, AGE_GROUP).lower() or DEFAULT_AGE_GROUP
    if age_group not in AGE_GROUPS:
        errors.append(f"{AGE_GROUP} must be one of {', '.join(AGE_GROUPS)}: {age_group!r}")
    gift = _parse_bool(record.get("gift_suitable"))
    if gift is None:
        errors.append(f"gift_suitable must be true or false: {record.get('gift_suitable')!r}")
    stock = _parse_stock(record, errors)
    if errors:
        return None, errors
    return {
        "id": _text(record, "id"),
        "title": _text(record, "title"),
        "brand": _text(record, "brand"),
        "product_type": _text(record, "product_type").lower(),
        "category": _text(record, "category").lower(),
        GENDER: gender,
        AGE_GROUP: age_group,
        "colour": (_text(record, "colour") or _text(record, "color")).lower(),
        "material": _text(record, "material").lower(),
        "price": round(price, 2),
        "rating": rating,
        "gift_suitable": bool(gift),
        "description": _text(record, "description"),
        "stock": stock,
    }, []


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


def import_file(path: Path, url: Optional[str] = None, replace: bool = False) -> ImportReport:
    """Validate, then write all products in one transaction; raise ImportRejectedError with every problem."""
    engine = get_engine(url)
    create_schema(engine)
    existing: set = set()
    if not replace:
        with session_for(engine) as session:
            existing = set(session.execute(select(Product.id)).scalars())
    report = check_file(path, existing)
    if report.errors:
        raise ImportRejectedError(report)
    report.written = build_catalog(url, report.products, replace=replace)
    return report
