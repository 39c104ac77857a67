"""`python -m actions.catalog demo|import FILE [--replace] [--model ARCHIVE] [--threshold 0.8]|stats`: build,
load or inspect the catalog. A raw feed's missing attributes are inferred by the NLU model (enrichment/)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

from sqlalchemy import func, select

from actions.catalog.db import build_catalog, catalog_url, create_schema, get_engine, session_for
from actions.catalog.demo import DEFAULT_SEED, DEFAULT_TOTAL, generate_demo_catalog
from actions.catalog.importer import ImportRejectedError, import_file
from actions.catalog.models import Product, StockLevel


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actions.catalog", description=__doc__)
    parser.add_argument("--url", help="SQLAlchemy URL (default: DATABASE_URL, SHOPCUE_CATALOG_DB or var/)")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="replace the catalog with the deterministic demo catalog")
    demo.add_argument("--size", type=int, default=DEFAULT_TOTAL)
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED)
    load = commands.add_parser("import", help="load products from a .csv or .jsonl file")
    load.add_argument("file", type=Path)
    load.add_argument("--replace", action="store_true", help="drop the current products first")
    load.add_argument(
        "--model", type=Path, help="model archive that reads a raw feed (default: the newest in models/)"
    )
    load.add_argument(
        "--threshold",
        type=float,
        help="review threshold: products less sure than this are counted for review, and a given value "
        "the model reads otherwise at least this sure is a contradiction "
        "(default: SHOPCUE_ENRICH_REVIEW_THRESHOLD or 0.8)",
    )
    commands.add_parser("stats", help="count products, out-of-stock items and categories")
    args = parser.parse_args(argv)
    url = args.url or catalog_url()

    if args.command == "demo":
        started = time.perf_counter()
        count = build_catalog(url, generate_demo_catalog(total=args.size, seed=args.seed))
        print(f"built the demo catalog: {count} products in {time.perf_counter() - started:.1f}s at {url}")
        return 0
    if args.command == "import":
        if not args.file.exists():
            print(f"no such file: {args.file}", file=sys.stderr)
            return 2
        if args.threshold is not None and not 0 <= args.threshold <= 1:
            print(f"--threshold must be between 0 and 1: {args.threshold}", file=sys.stderr)
            return 2
        try:
            report = import_file(
                args.file, url, args.replace, model=args.model, threshold=args.threshold, progress=True
            )
        except ImportRejectedError as failure:
            print(
                f"nothing imported: {len(failure.report.errors)} problem(s) in {args.file}", file=sys.stderr
            )
            for line in failure.report.errors:
                print(f"  {line}", file=sys.stderr)
            return 1
        except RuntimeError as failure:
            from enrichment.model import NoModelError  # loaded by then: only a raw feed raises it

            if not isinstance(failure, NoModelError):
                raise
            print(f"nothing imported: {failure}", file=sys.stderr)
            return 2
        print(f"imported {report.written} products from {args.file} into {url}")
        if report.enrichment is not None:
            from enrichment.enrich import format_summary

            print(f"read with the model {report.model}" if report.model else "read with the model")
            print(format_summary(report.enrichment))
        elif report.defaulted:
            print(
                f"{report.defaulted} attribute values the feed left out took the catalog's defaults "
                "(a structured feed; pass --model to have the model read them)"
            )
        return 0
    engine = get_engine(url)
    create_schema(engine)
    with session_for(engine) as session:
        total = session.execute(select(func.count(Product.id))).scalar_one()
        in_stock = session.execute(
            select(func.count(func.distinct(StockLevel.product_id))).where(StockLevel.quantity > 0)
        ).scalar_one()
        categories = session.execute(
            select(Product.category, func.count(Product.id)).group_by(Product.category)
        ).all()
    print(f"{total} products, {total - in_stock} out of stock, at {url}")
    for category, count in categories:
        print(f"  {category}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
