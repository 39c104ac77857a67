"""Raw feeds read by the trained model end to end: the demo catalog's raw columns and a feed in other
shops' style, imported into a temp catalog, scored against their hidden truth; the facts table; the CLI.

Locally, SHOPCUE_TEST_MODEL=/path/to/model.tar.gz reuses a trained model instead of training one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from sqlalchemy import select

from actions.catalog.__main__ import main as catalog_cli
from actions.catalog.db import dispose_engine, get_engine, session_for
from actions.catalog.importer import import_file
from actions.catalog.models import (
    ENRICHED_ATTRIBUTES,
    SOURCE_GIVEN,
    SOURCE_INFERRED,
    AttributeFact,
    Product,
)
from enrichment.enrich import ParseFn
from enrichment.evaluation import CORE_ATTRIBUTES, score_feed
from enrichment.model import load_parser
from enrichment.sample_feeds import other_style_feed, raw_demo_feed, write_feed

pytestmark = pytest.mark.e2e

# The bar for each of product type, gender and age group, on either feed style.
MIN_ACCURACY = 0.90


@pytest.fixture(scope="module")
def parse(trained_model: Path) -> ParseFn:
    return load_parser(trained_model)


@pytest.fixture
def catalog_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    yield url
    dispose_engine(url)


def imported(rows: List[Dict[str, Any]], path: Path, url: str, parse: ParseFn):
    write_feed(rows, path)
    return import_file(path, url, parse=parse)


@pytest.mark.parametrize(
    ("style", "make", "size"), [("demo", raw_demo_feed, 600), ("other", other_style_feed, 500)]
)
def test_a_raw_feed_is_typed_and_tagged_like_its_hidden_truth(
    style: str, make: Any, size: int, tmp_path: Path, catalog_url: str, parse: ParseFn
) -> None:
    rows, truth = make(size)
    report = imported(rows, tmp_path / f"{style}.jsonl", catalog_url, parse)
    assert report.written == size and report.enrichment is not None
    with session_for(get_engine(catalog_url)) as session:
        products = [
            {"id": p.id, **{name: getattr(p, name) for name in ENRICHED_ATTRIBUTES}}
            for p in session.execute(select(Product)).scalars()
        ]
        facts = session.execute(select(AttributeFact)).scalars().all()
    score = score_feed(products, truth, report.enrichment.confidence, report.enrichment.threshold)
    print(f"{style}: {score.accuracy}, review {score.review_share:.3f}")
    for name in CORE_ATTRIBUTES:
        assert score.accuracy[name] >= MIN_ACCURACY, (name, score.accuracy[name], score.wrong.get(name))
    assert len(facts) == size * len(ENRICHED_ATTRIBUTES)
    assert all(f.source == SOURCE_INFERRED and 0.0 <= f.confidence <= 1.0 for f in facts)
    # every fact's value is the value search reads on the product
    by_id = {p["id"]: p for p in products}
    for fact in facts[:200]:
        column = by_id[fact.product_id][fact.attribute]
        assert fact.value == (str(column).lower() if isinstance(column, bool) else column)
    assert 0 < len(report.enrichment.to_review) < size


def test_given_columns_are_kept_marked_given_and_a_contradiction_is_reported(
    tmp_path: Path, catalog_url: str, parse: ParseFn
) -> None:
    rows, truth = raw_demo_feed(60)
    girls = next(row for row in rows if "Girls'" in row["title"] and "Teen" not in row["title"])
    for row in rows[:20]:
        row["product_type"] = truth[row["id"]]["product_type"]
        row["gender"] = truth[row["id"]]["gender"]
    girls["gender"] = "male"  # the feed is wrong; the title says Girls'
    girls["product_type"] = truth[girls["id"]]["product_type"]
    report = imported(rows, tmp_path / "mixed.jsonl", catalog_url, parse)
    contradictions = [(c.product_id, c.attribute, c.given, c.read) for c in report.enrichment.contradictions]
    assert (girls["id"], "gender", "male", "female") in contradictions
    assert report.enrichment.given["gender"] == 20 + (girls not in rows[:20])
    with session_for(get_engine(catalog_url)) as session:
        assert session.get(Product, girls["id"]).gender == "male"  # the feed's value is the one in use
        fact = session.get(AttributeFact, (girls["id"], "gender"))
        assert (fact.source, fact.value, fact.confidence) == (SOURCE_GIVEN, "male", None)
        assert fact.inferred_value == "female" and fact.inferred_confidence >= 0.8 and fact.contradicted
        kept = session.get(AttributeFact, (rows[0]["id"], "product_type"))
        assert kept.source == SOURCE_GIVEN and kept.value == truth[rows[0]["id"]]["product_type"]
        assert kept.inferred_value is not None and kept.inferred_confidence is not None
        inferred = session.get(AttributeFact, (rows[30]["id"], "age_group"))
        assert inferred.source == SOURCE_INFERRED and inferred.confidence is not None


def test_the_cli_reads_a_raw_csv_with_the_model_and_prints_the_summary(
    tmp_path: Path, catalog_url: str, trained_model: Path, capsys: pytest.CaptureFixture
) -> None:
    rows, _ = other_style_feed(40)
    rows[0]["image_url"] = "https://img.example/x1.jpg"
    feed = tmp_path / "feed.csv"
    write_feed(rows, feed)
    code = catalog_cli(["--url", catalog_url, "import", str(feed), "--model", str(trained_model)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"imported 40 products from {feed}" in out.out
    assert "attributes inferred: product_type 40" in out.out and "below the review threshold" in out.out
    assert "reading titles and descriptions" in out.err  # the progress bar
    with session_for(get_engine(catalog_url)) as session:
        first = session.get(Product, rows[0]["id"])
        assert first.image_url == "https://img.example/x1.jpg"
        assert first.stock_by_size == rows[0]["stock"]  # through the CSV as "S:n;M:n"
