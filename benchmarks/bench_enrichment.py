"""Importing raw feeds through the NLU model: speed, memory and accuracy against the feeds' hidden truth.

    python benchmarks/bench_enrichment.py [--model ARCHIVE] [--demo-size 10000] [--other-size 2000]

For each feed style (enrichment/sample_feeds.py: the demo catalog's raw columns, and a feed in other
shops' words) it writes the feed as JSONL, imports it into a fresh temp SQLite catalog with
`actions.catalog.importer.import_file` (the CLI's path) and reports:
- products per second overall, for the parse alone (title + description through the model, batches of 32)
  and for the database write alone (products, stock, facts, FTS rebuild in one transaction);
- the process's peak resident memory (resource.getrusage, after the model load and after each feed);
- accuracy of every enriched attribute read back from the catalog against the truth;
- the share of products sent to review (enrichment/doubt.py at the threshold) and the accuracy of product
  type + gender + age group together, and of all seven attributes together, above and below the threshold.
The machine's load average is printed before and after: the speed figures depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from sqlalchemy import select  # noqa: E402

from actions.catalog.db import dispose_engine, get_engine, session_for  # noqa: E402
from actions.catalog.importer import import_file  # noqa: E402
from actions.catalog.models import ENRICHED_ATTRIBUTES, Product  # noqa: E402
from enrichment.doubt import review_threshold  # noqa: E402
from enrichment.enrich import ParseFn  # noqa: E402
from enrichment.evaluation import score_feed  # noqa: E402
from enrichment.model import find_model, load_parser  # noqa: E402
from enrichment.sample_feeds import other_style_feed, raw_demo_feed, write_feed  # noqa: E402


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def run_feed(style: str, size: int, parse: ParseFn, workdir: Path, threshold: float) -> Dict[str, Any]:
    """Import one generated feed into a fresh catalog; its figures."""
    rows, truth = (raw_demo_feed if style == "demo" else other_style_feed)(size)
    feed = workdir / f"{style}-{size}.jsonl"
    write_feed(rows, feed)
    url = f"sqlite:///{workdir / f'{style}-{size}.db'}"
    started = time.perf_counter()
    report = import_file(feed, url, parse=parse, threshold=threshold)
    total = time.perf_counter() - started
    enrichment = report.enrichment
    assert enrichment is not None
    with session_for(get_engine(url)) as session:
        columns = [Product.id, *(getattr(Product, name) for name in ENRICHED_ATTRIBUTES)]
        products = [dict(row._mapping) for row in session.execute(select(*columns))]
    dispose_engine(url)
    score = score_feed(products, truth, enrichment.confidence, threshold)
    return {
        "style": style,
        "products": report.written,
        "texts_parsed": enrichment.texts_parsed,
        "total_s": total,
        "parse_s": enrichment.parse_seconds,
        "write_s": report.write_seconds,
        "products_per_s": report.written / total,
        "parse_products_per_s": report.written / enrichment.parse_seconds,
        "write_products_per_s": report.written / report.write_seconds,
        "peak_rss_mb": peak_rss_mb(),
        "accuracy": score.accuracy,
        "review_share": score.review_share,
        "core_accuracy_above": score.core_accuracy_above,
        "core_accuracy_below": score.core_accuracy_below,
        "all_accuracy_above": score.all_accuracy_above,
        "all_accuracy_below": score.all_accuracy_below,
        "contradictions": len(enrichment.contradictions),
        "misses": {name: [list(map(str, miss)) for miss in misses] for name, misses in score.wrong.items()},
    }


def _cell(value: Optional[float], percent: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:,.1f}"


def format_table(results: Sequence[Dict[str, Any]]) -> str:
    rows: List[List[str]] = [["figure", *(f"{r['style']} ({r['products']:,})" for r in results)]]
    rows.append(["distinct texts parsed", *(f"{r['texts_parsed']:,}" for r in results)])
    rows.append(["products/s overall", *(_cell(r["products_per_s"]) for r in results)])
    rows.append(
        ["products/s parse (title+description)", *(_cell(r["parse_products_per_s"]) for r in results)]
    )
    rows.append(["products/s write (one transaction)", *(_cell(r["write_products_per_s"]) for r in results)])
    rows.append(
        [
            "seconds: total / parse / write",
            *(f"{r['total_s']:.1f} / {r['parse_s']:.1f} / {r['write_s']:.1f}" for r in results),
        ]
    )
    rows.append(["peak RSS after the feed (MB)", *(_cell(r["peak_rss_mb"]) for r in results)])
    for name in ENRICHED_ATTRIBUTES:
        rows.append([f"accuracy: {name}", *(_cell(r["accuracy"][name], True) for r in results)])
    rows.append(["share sent to review", *(_cell(r["review_share"], True) for r in results)])
    rows.append(
        ["type+gender+age right, above threshold", *(_cell(r["core_accuracy_above"], True) for r in results)]
    )
    rows.append(
        ["type+gender+age right, below threshold", *(_cell(r["core_accuracy_below"], True) for r in results)]
    )
    rows.append(
        ["all 7 attributes right, above threshold", *(_cell(r["all_accuracy_above"], True) for r in results)]
    )
    rows.append(
        ["all 7 attributes right, below threshold", *(_cell(r["all_accuracy_below"], True) for r in results)]
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model archive (default: the newest in models/)")
    parser.add_argument("--demo-size", type=int, default=10_000)
    parser.add_argument("--other-size", type=int, default=2_000)
    parser.add_argument(
        "--threshold", type=float, help="review threshold (default: SHOPCUE_ENRICH_REVIEW_THRESHOLD or 0.8)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    threshold = review_threshold() if args.threshold is None else args.threshold
    archive = find_model(args.model)
    load_before = load_average()
    print(
        f"model {archive}; python {platform.python_version()}; {os.cpu_count()} CPUs; "
        f"load average before: {load_before}",
        flush=True,
    )
    started = time.perf_counter()
    parse = load_parser(archive)
    load_s = time.perf_counter() - started
    rss_after_load = peak_rss_mb()
    print(f"model loaded in {load_s:.1f}s; peak RSS {rss_after_load:.0f} MB", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-enrichment-") as tmp:
        for style, size in (("demo", args.demo_size), ("other", args.other_size)):
            if size > 0:
                results.append(run_feed(style, size, parse, Path(tmp), threshold))
                print(f"{style}: {size} products done in {results[-1]['total_s']:.1f}s", flush=True)
    load_after = load_average()
    print()
    print(format_table(results))
    print(
        f"\nreview threshold {threshold}; model load {load_s:.1f}s, "
        f"peak RSS after load {rss_after_load:.0f} MB; load average before {load_before}, after {load_after}"
    )
    figures = {
        "model": str(archive),
        "threshold": threshold,
        "model_load_s": load_s,
        "peak_rss_after_load_mb": rss_after_load,
        "load_before": load_before,
        "load_after": load_after,
        "feeds": results,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return figures


if __name__ == "__main__":
    main()
