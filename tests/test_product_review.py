"""The product mode of the review console without a browser: enrichment/review.py's queue and actions over
a copy of the demo catalog with hand-made attribute facts, enrichment/training_examples.py's NLU file, and
console/routers/products.py behind login, roles and CSRF (FastAPI's TestClient)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rasa.shared.nlu.training_data.loading import load_data
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from actions.catalog.db import build_catalog, get_engine, session_for
from actions.catalog.demo import generate_demo_catalog
from actions.catalog.models import AttributeFact, Product
from actions.retrieval import text_scores
from actions.vocabulary import build_vocabulary, load_synonyms
from console.app import create_app
from console.routers.products import catalog_engine
from console.settings import ConsoleSettings
from enrichment import review
from enrichment.training_examples import export_products, products_path
from learning.db import get_engine as learning_engine
from nlu.component import is_reviewed
from nlu.pipeline_config import attribute_schema_of
from nlu.tools.validate_data import validate
from tests.console_seed import add_users
from tests.test_console_api import login


@pytest.fixture(scope="module")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "catalog.db"
    build_catalog(f"sqlite:///{path}", generate_demo_catalog())
    return path


@pytest.fixture()
def catalog(demo_catalog: Path, tmp_path: Path) -> Engine:
    """A fresh copy of the demo catalog for each test (engines are per URL, so per copy)."""
    path = tmp_path / "catalog.db"
    shutil.copy(demo_catalog, path)
    return get_engine(f"sqlite:///{path}")


def add_fact(engine: Engine, product_id: str, attribute: str, value: str, source: str = "inferred",
             confidence: Optional[float] = None, inferred_value: Optional[str] = None,
             inferred_confidence: Optional[float] = None, mirror: bool = True) -> None:
    """One fact as enrichment leaves it; `mirror` puts the value on the Product column (as the importer
    does)."""
    with session_for(engine) as session, session.begin():
        session.add(AttributeFact(
            product_id=product_id, attribute=attribute, value=value, source=source, confidence=confidence,
            inferred_value=inferred_value, inferred_confidence=inferred_confidence,
        ))
        if mirror:
            product = session.get(Product, product_id)
            setattr(product, attribute, value == "true" if attribute == "gift_suitable" else value)


def product(engine: Engine, product_id: str) -> Product:
    with session_for(engine) as session:
        return session.get(Product, product_id)


def facts(engine: Engine, product_id: str) -> Dict[str, Dict[str, Any]]:
    with session_for(engine) as session:
        rows = session.execute(select(AttributeFact).where(AttributeFact.product_id == product_id)).scalars()
        return {
            f.attribute: {"value": f.value, "source": f.source, "state": f.review_state, "by": f.reviewed_by,
                          "at": f.reviewed_at, "inferred": f.inferred_value}
            for f in rows
        }


def fts_row(engine: Engine, product_id: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT title, product_type, brand FROM product_fts WHERE product_id = :pid"),
            {"pid": product_id},
        ).all()


def ids(page: review.ProductPage) -> list:
    return [item.id for item in page.items]


@pytest.fixture()
def seeded(catalog: Engine) -> Engine:
    """Five products with facts (and 3,595 without, never in the queue).

    P00001 gender inferred 0.30 (doubt first after the contradiction); P00002 gender male inferred 0.90;
    P00003 colour given "yellow", the model read "navy" at 0.95 (confidence 0.05: first); P00004 colour given
    and agreed (nothing to doubt: last); P00005 age group inferred 0.60 and gift inferred 0.70.
    """
    add_fact(catalog, "P00001", "gender", "female", confidence=0.30)
    add_fact(catalog, "P00002", "gender", "male", confidence=0.90)
    add_fact(catalog, "P00003", "colour", "yellow", source="given", inferred_value="navy",
             inferred_confidence=0.95, mirror=False)
    add_fact(catalog, "P00004", "colour", "brown", source="given", inferred_value="brown",
             inferred_confidence=0.99, mirror=False)
    add_fact(catalog, "P00005", "age_group", "adult", confidence=0.60)
    add_fact(catalog, "P00005", "gift_suitable", "true", confidence=0.70)
    return catalog


# ---- the queue ------------------------------------------------------------------------------------------


def test_the_queue_puts_the_least_confident_product_first_and_nothing_to_doubt_last(seeded: Engine) -> None:
    page = review.queue(seeded)
    assert ids(page) == ["P00003", "P00001", "P00005", "P00002", "P00004"]
    assert page.total == 5
    confidences = [item.confidence for item in page.items]
    assert confidences[:4] == pytest.approx([0.05, 0.30, 0.60, 0.90]) and confidences[4] is None
    first = page.items[0].to_json()
    assert first["contradicted"] is True and first["state"] == "unreviewed"
    colour = next(f for f in first["facts"] if f["attribute"] == "colour")
    assert (colour["value"], colour["inferred_value"], colour["contradicted"]) == ("yellow", "navy", True)
    assert first["values"]["colour"] == "yellow"  # the Product column, what search reads


def test_paging_keeps_the_order(seeded: Engine) -> None:
    assert ids(review.queue(seeded, limit=2)) == ["P00003", "P00001"]
    page = review.queue(seeded, limit=2, offset=2)
    assert ids(page) == ["P00005", "P00002"] and page.total == 5


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (review.ProductFilter(contradictions=True), ["P00003"]),
        (review.ProductFilter(attribute="gender"), ["P00001", "P00002"]),
        (review.ProductFilter(attribute="colour"), ["P00003"]),  # P00004's colour is given and agreed
        (review.ProductFilter(min_confidence=0.2, max_confidence=0.65), ["P00001", "P00005"]),
        (review.ProductFilter(below_threshold=True), ["P00003", "P00001", "P00005"]),  # threshold 0.8
        (review.ProductFilter(category="clothing"), ["P00003", "P00001", "P00005", "P00002", "P00004"]),
        (review.ProductFilter(product_type="jeans"), []),
        (review.ProductFilter(state="reviewed"), []),
    ],
)
def test_filters(seeded: Engine, filters: review.ProductFilter, expected: list) -> None:
    assert ids(review.queue(seeded, filters)) == expected


def test_the_threshold_filter_follows_the_setting(seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPCUE_ENRICH_REVIEW_THRESHOLD", "0.5")
    page = review.queue(seeded, review.ProductFilter(below_threshold=True))
    assert ids(page) == ["P00003", "P00001"] and page.threshold == 0.5


def test_unknown_filters_are_refused(seeded: Engine) -> None:
    with pytest.raises(review.ReviewError, match="state"):
        review.queue(seeded, review.ProductFilter(state="done"))
    with pytest.raises(review.ReviewError, match="attribute"):
        review.queue(seeded, review.ProductFilter(attribute="size"))


# ---- accept, correct, skip, undo, bulk -------------------------------------------------------------------


def test_accept_marks_every_unreviewed_fact_and_leaves_the_values(seeded: Engine) -> None:
    assert review.accept(seeded, "P00005", "rita") == 2
    stored = facts(seeded, "P00005")
    assert {f["state"] for f in stored.values()} == {"accepted"}
    assert {f["by"] for f in stored.values()} == {"rita"} and all(f["at"] for f in stored.values())
    assert {f["source"] for f in stored.values()} == {"inferred"}
    assert product(seeded, "P00005").age_group == "adult" and product(seeded, "P00005").gift_suitable is True
    assert "P00005" not in ids(review.queue(seeded))
    assert ids(review.queue(seeded, review.ProductFilter(state="reviewed"))) == ["P00005"]
    assert review.accept(seeded, "P00005", "rita") == 0  # nothing left to accept
    assert [e["action"] for e in review.history(seeded, "P00005")] == ["accept"]


def test_correct_updates_the_fact_the_product_column_and_search_at_once(seeded: Engine) -> None:
    title = product(seeded, "P00001").title
    assert "Teen Girls'" in title  # a girls' t-shirt the model read right; the reviewer says unisex
    assert review.correct(seeded, "P00001", "gender", "unisex", "rita") == "unisex"
    assert product(seeded, "P00001").gender == "unisex"
    stored = facts(seeded, "P00001")["gender"]
    assert (stored["value"], stored["source"], stored["state"], stored["by"]) == (
        "unisex", "reviewed", "corrected", "rita")
    assert stored["inferred"] == "female"  # what the model read stays beside the reviewer's value
    event = review.history(seeded, "P00001")[0]
    assert (event["action"], event["attribute"], event["username"]) == ("correct", "gender", "rita")


def test_correcting_the_type_moves_the_category_and_the_fts_row(seeded: Engine) -> None:
    assert product(seeded, "P00002").product_type == "t-shirt"
    review.correct(seeded, "P00002", "product_type", "yoga mat", "rita")
    changed = product(seeded, "P00002")
    assert (changed.product_type, changed.category) == ("yoga mat", "sports")
    assert fts_row(seeded, "P00002") == [(changed.title, "yoga mat", changed.brand)]
    assert facts(seeded, "P00002")["category"]["value"] == "sports"
    vocabulary = build_vocabulary(load_synonyms())
    with session_for(seeded) as session:
        assert "P00002" in text_scores(session, ["yoga"], vocabulary, use_fts=True)
    review.undo(seeded, "rita")
    assert fts_row(seeded, "P00002")[0][1] == "t-shirt"
    with session_for(seeded) as session:
        assert "P00002" not in text_scores(session, ["yoga"], vocabulary, use_fts=True)


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("gender", "robot", "unknown value 'robot' for gender"),
        ("age_group", "unknown", "unknown value 'unknown' for age_group"),
        ("product_type", "spaceship", "unknown value 'spaceship' for product_type"),
        ("colour", "sparkly", "unknown value 'sparkly' for colour"),
        ("gift_suitable", "maybe", "unknown value 'maybe' for gift_suitable"),
        ("category", "sports", "category follows the product type"),
        ("size", "M", "unknown attribute 'size'"),
    ],
)
def test_values_outside_the_vocabulary_are_refused(seeded: Engine, attribute: str, value: str,
                                                   message: str) -> None:
    before = product(seeded, "P00001")
    with pytest.raises(review.ReviewError, match=re.escape(message)):
        review.correct(seeded, "P00001", attribute, value, "rita")
    after = product(seeded, "P00001")
    assert [getattr(after, n) for n in ("gender", "product_type", "colour", "category")] == [
        getattr(before, n) for n in ("gender", "product_type", "colour", "category")]
    assert review.history(seeded, "P00001") == []


def test_an_unknown_product_is_refused(seeded: Engine) -> None:
    for call in (lambda: review.accept(seeded, "P99999", "rita"),
                 lambda: review.correct(seeded, "P99999", "gender", "male", "rita"),
                 lambda: review.skip(seeded, "P99999", "rita")):
        with pytest.raises(review.ReviewError, match="no product 'P99999'"):
            call()


def test_undo_restores_the_previous_values_exactly_one_action_at_a_time(seeded: Engine) -> None:
    start_facts, start_gender = facts(seeded, "P00001"), product(seeded, "P00001").gender
    review.correct(seeded, "P00001", "gender", "male", "rita")
    review.correct(seeded, "P00001", "colour", "green", "rita")  # a fact created by the review
    review.accept(seeded, "P00001", "rita")
    assert review.undo(seeded, "rita") == "P00001"
    assert facts(seeded, "P00001")["gender"]["state"] == "corrected"
    review.undo(seeded, "rita")
    assert "colour" not in facts(seeded, "P00001") and product(seeded, "P00001").colour == "black"
    review.undo(seeded, "rita")
    assert facts(seeded, "P00001") == start_facts and product(seeded, "P00001").gender == start_gender
    assert review.undo(seeded, "rita") is None


def test_undo_leaves_another_reviewers_later_change(seeded: Engine) -> None:
    review.correct(seeded, "P00001", "gender", "male", "rita")
    review.correct(seeded, "P00001", "gender", "unisex", "adam")
    assert review.undo(seeded, "rita") == "P00001"
    assert product(seeded, "P00001").gender == "unisex"  # adam's fix stands
    review.undo(seeded, "adam")
    assert product(seeded, "P00001").gender == "male"


def test_skip_takes_a_product_out_of_the_unreviewed_queue_until_undone(seeded: Engine) -> None:
    review.skip(seeded, "P00003", "rita")
    assert "P00003" not in ids(review.queue(seeded))
    assert ids(review.queue(seeded, review.ProductFilter(state="skipped"))) == ["P00003"]
    assert facts(seeded, "P00003")["colour"]["state"] == "auto"
    assert review.undo(seeded, "rita") == "P00003"
    assert ids(review.queue(seeded))[0] == "P00003"


def test_bulk_accept_covers_what_the_filter_shows_after_the_count_is_confirmed(seeded: Engine) -> None:
    below = review.ProductFilter(below_threshold=True)
    with pytest.raises(review.ReviewError, match="shows 3 product"):
        review.bulk_accept(seeded, below, "rita", expected=5)
    assert ids(review.queue(seeded)) == ["P00003", "P00001", "P00005", "P00002", "P00004"]
    assert review.bulk_accept(seeded, below, "rita", expected=3) == 3
    assert ids(review.queue(seeded)) == ["P00002", "P00004"]
    assert review.bulk_accept(seeded, review.ProductFilter(state="reviewed"), "rita") == 0
    review.undo(seeded, "rita")  # one undo reverts the batch
    assert ids(review.queue(seeded)) == ["P00003", "P00001", "P00005", "P00002", "P00004"]


# ---- training examples ------------------------------------------------------------------------------------


def test_reviewed_products_become_annotated_search_examples(seeded: Engine, tmp_path: Path) -> None:
    review.correct(seeded, "P00001", "gender", "unisex", "rita")  # Urban Thread Teen Girls' ... - Black
    review.accept(seeded, "P00002", "rita")  # Maple & Co Men's Slim Fit T-Shirt - Purple
    review.correct(seeded, "P00005", "gift_suitable", "true", "rita")  # age group still unreviewed
    result = export_products(seeded, tmp_path / "data", heldouts=[])
    path = products_path(tmp_path / "data")
    assert result.path == path and result.written == 2 and result.product_ids == ["P00001", "P00002"]
    written = path.read_text()
    assert written.startswith("# Generated by the Shopcue review console")
    assert "Do not edit by hand" in written
    examples = {e.get("text"): e for e in load_data(str(path)).intent_examples}
    maple = examples["Maple & Co Men's Slim Fit T-Shirt - Purple"]
    assert maple.get("intent") == "search_product"
    assert [(e["value"], e["entity"]) for e in maple.get("entities")] == [
        ("Maple & Co", "brand"), ("T-Shirt", "product_type"), ("Purple", "color")]
    assert maple.get("metadata")["example"]["attributes"] == {"gender": "male", "age_group": "adult",
                                                               "gift": False}
    urban = examples["Urban Thread Teen Girls' Slim Fit T-Shirt - Black"]
    assert urban.get("metadata")["example"]["attributes"] == {"gender": "unknown", "age_group": "teen",
                                                               "gift": False}
    # Titles are no shopper's words: reviewed_repeat, which weighs reviewed messages, leaves them alone.
    assert {e.get("metadata")["example"]["source"] for e in examples.values()} == {"product_review"}
    assert not any(is_reviewed(e) for e in examples.values())
    problems, count = validate([path], attribute_schema_of(), heldout=[])
    assert problems == [] and count == 2


def test_a_title_whose_type_was_corrected_keeps_only_what_the_vocabulary_finds(seeded: Engine,
                                                                                tmp_path: Path) -> None:
    review.correct(seeded, "P00002", "product_type", "hoodie", "rita")
    review.accept(seeded, "P00002", "rita")
    export_products(seeded, tmp_path / "data", heldouts=[])
    (example,) = load_data(str(products_path(tmp_path / "data"))).intent_examples
    assert [e["entity"] for e in example.get("entities")] == ["brand", "color"]  # "T-Shirt" is no hoodie


def test_the_export_leaves_out_titles_the_data_already_has(seeded: Engine, tmp_path: Path) -> None:
    review.accept(seeded, "P00002", "rita")
    other = tmp_path / "data" / "nlu" / "shop.yml"
    other.parent.mkdir(parents=True)
    other.write_text('version: "3.1"\nnlu:\n- intent: search_product\n  examples: |\n'
                     "    - maple & co men's slim fit t-shirt - purple\n")
    result = export_products(seeded, tmp_path / "data", heldouts=[])
    assert (result.written, result.skipped_known) == (0, 1)
    assert "nlu: []" in products_path(tmp_path / "data").read_text()


# ---- the console's routes --------------------------------------------------------------------------------


@pytest.fixture()
def app(seeded: Engine, tmp_path: Path) -> FastAPI:
    settings = ConsoleSettings(database_url=f"sqlite:///{tmp_path / 'console.db'}",
                               data_dir=tmp_path / "data", heldout_path=tmp_path / "heldout.yml")
    add_users(learning_engine(settings.database_url))
    application = create_app(settings)
    application.dependency_overrides[catalog_engine] = lambda: seeded
    return application


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_nothing_is_readable_without_login(client: TestClient) -> None:
    page = client.get("/products", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/products"
    for path in ("/api/products/queue", "/api/products/schema", "/api/products/history"):
        response = client.get(path)
        assert response.status_code == 401 and "Urban Thread" not in response.text
    assert client.post("/api/products/P00001/accept").status_code == 401


def test_posts_need_the_csrf_token_and_agents_are_refused(client: TestClient, seeded: Engine) -> None:
    login(client, "aggie")
    assert client.get("/api/products/queue").status_code == 403
    client.cookies.clear()
    csrf = login(client, "rita")
    assert client.post("/api/products/P00001/correct", json={"attribute": "gender", "value": "male"}
                       ).status_code == 403
    assert client.post("/api/products/undo", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert product(seeded, "P00001").gender == "female"
    response = client.post("/api/products/P00001/correct", json={"attribute": "gender", "value": "male"},
                           headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200 and response.json()["product"]["values"]["gender"] == "male"
    assert product(seeded, "P00001").gender == "male"


def test_the_api_works_the_queue(client: TestClient, seeded: Engine, app: FastAPI) -> None:
    csrf = login(client, "rita")
    headers = {"X-CSRF-Token": csrf}
    page_html = client.get("/products").text
    assert 'href="/products"' in page_html and "/static/products.js" in page_html
    page = client.get("/api/products/queue", params={"limit": 2}).json()
    assert [i["id"] for i in page["items"]] == ["P00003", "P00001"] and page["total"] == 5
    filtered = client.get("/api/products/queue", params={"contradictions": "true", "state": ""}).json()
    assert [i["id"] for i in filtered["items"]] == ["P00003"]
    schema = client.get("/api/products/schema").json()
    assert schema["values"]["gender"] == ["female", "male", "unisex"]
    assert "yoga mat" in schema["values"]["product_type"]
    assert schema["type_categories"]["yoga mat"] == "sports"
    refused = client.post("/api/products/P00001/correct", json={"attribute": "gender", "value": "robot"},
                          headers=headers)
    assert refused.status_code == 422 and "robot" in refused.json()["detail"]
    assert client.post("/api/products/P00003/skip", headers=headers).json()["product"]["state"] == "skipped"
    assert client.post("/api/products/undo", headers=headers).json() == {"product_id": "P00003"}
    accepted = client.post("/api/products/P00003/accept", headers=headers).json()["product"]
    assert accepted["state"] == "reviewed"
    bulk_url = "/api/products/bulk-accept"
    stale = client.post(bulk_url, json={"state": "unreviewed", "expected": 5}, headers=headers)
    assert stale.status_code == 409
    bulk = client.post(bulk_url, json={"state": "unreviewed", "expected": 4}, headers=headers)
    assert bulk.json() == {"accepted": 4}
    exported = client.post("/api/products/export", headers=headers).json()
    assert exported["written"] == 5 and exported["path"] == str(products_path(app.state.settings.data_dir))
    history = client.get("/api/products/history").json()
    assert [e["action"] for e in history[:3]] == ["bulk_accept", "accept", "undo"]
