"""Catalog enrichment without a model: the parse -> catalog value mapping on hand-made parses, raw-feed
validation, the facts and report of an enriched import (with a stand-in parse function), and the sample
feeds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
from sqlalchemy import select

from actions.catalog.__main__ import main as catalog_cli
from actions.catalog.db import dispose_engine, get_engine, session_for
from actions.catalog.importer import ImportRejectedError, check_file, feed_needs_model, import_file
from actions.catalog.models import SOURCE_GIVEN, SOURCE_INFERRED, AttributeFact, Product
from actions.vocabulary import build_vocabulary, load_synonyms
from enrichment.enrich import NO_VALUE_CONFIDENCE, complete_product, enrich_products, format_summary
from enrichment.evaluation import score_feed
from enrichment.model import NoModelError, find_model
from enrichment.reading import (
    DISAGREEMENT_PENALTY,
    NEW_VALUE_FACTOR,
    TITLE_SCAN_CONFIDENCE,
    read_product,
    type_category_map,
)
from enrichment.sample_feeds import RAW_COLUMNS, other_style_feed, raw_demo_feed
from enrichment.sample_feeds import main as sample_cli
from enrichment.sources import demo_type_pairs

PAIRS = demo_type_pairs()
VOCABULARY = build_vocabulary(load_synonyms(), PAIRS)
CATEGORIES = type_category_map(PAIRS)


def span(entity: str, text: str, value: str, confidence: float) -> Dict[str, Any]:
    start = text.index(value)
    return {
        "entity": entity,
        "start": start,
        "end": start + len(value),
        "value": value,
        "confidence_entity": confidence,
    }


def parse_of(
    text: str, spans: Sequence[tuple] = (), gender=("unknown", 0.9), age=("unknown", 0.9), gift=(False, 0.95)
) -> Dict[str, Any]:
    """A parse as the model gives it: entity spans (entity, words, confidence) and the three attributes."""
    return {
        "text": text,
        "entities": [span(entity, text, value, confidence) for entity, value, confidence in spans],
        "attributes": {
            "gender": {"value": gender[0], "confidence": gender[1]},
            "age_group": {"value": age[0], "confidence": age[1]},
            "gift": {"value": gift[0], "confidence": gift[1]},
        },
    }


def read(title: Dict[str, Any], description: Optional[Dict[str, Any]] = None, brand: str = ""):
    return read_product(
        title,
        description,
        VOCABULARY,
        CATEGORIES,
        title["text"],
        description["text"] if description else "",
        brand,
    )


def test_a_title_span_maps_to_type_category_colour_and_the_attributes_to_catalog_values() -> None:
    text = "Running Shoes for Men | Trailblaze 9 | Black"
    readings = read(
        parse_of(
            text,
            [("product_type", "Running Shoes", 0.7), ("color", "Black", 0.6)],
            gender=("male", 0.97),
            age=("unknown", 0.8),
        )
    )
    assert readings["product_type"].value == "trainers" and readings["category"].value == "shoes"
    # the span's type is the only type the title's words name: model and word list agree
    assert readings["product_type"].confidence == pytest.approx(1 - 0.3 * (1 - TITLE_SCAN_CONFIDENCE))
    assert readings["category"].confidence == readings["product_type"].confidence
    assert readings["colour"].value == "black" and readings["colour"].confidence > 0.6
    assert (readings["gender"].value, readings["gender"].confidence) == ("male", 0.97)
    assert (readings["age_group"].value, readings["age_group"].neutral) == ("adult", True)
    assert readings["gift_suitable"].value == "false"
    assert "material" not in readings


def test_the_head_of_a_title_names_the_type_and_brand_words_are_not_products() -> None:
    watch = read(parse_of("Aurelia Dress Watch - Silver", [("product_type", "Dress Watch", 0.9)]))
    assert watch["product_type"].value == "watch"
    # two types named in the title: no corroboration, the span's own confidence stands
    assert watch["product_type"].confidence == 0.9
    toy = read(
        parse_of(
            "Pawsome Ball Launcher Dog Toy",
            [("product_type", "Ball Launcher", 0.94), ("product_type", "Dog Toy", 0.8)],
        )
    )
    assert toy["product_type"].value == "dog toy"
    hamper = read(
        parse_of(
            "The Hamper Co Milk Chocolates",
            [("product_type", "Hamper", 0.97), ("product_type", "Chocolates", 0.5)],
        ),
        brand="The Hamper Co",
    )
    assert hamper["product_type"].value == "chocolate box" and hamper["category"].value == "gifts and cards"


def test_without_a_title_span_the_description_then_a_scan_of_the_title_give_the_type() -> None:
    title = parse_of("Zippy 12L Sneakers Black")  # the model tagged nothing
    description = parse_of("Comfy sneakers for running.", [("product_type", "sneakers", 0.88)])
    assert read(title, description)["product_type"].origin == "description"
    scanned = read(title, parse_of("Comfy for running."))["product_type"]
    assert (scanned.value, scanned.origin, scanned.confidence) == (
        "trainers",
        "title scan",
        TITLE_SCAN_CONFIDENCE,
    )
    nothing = read(parse_of("Zippy 12L"), parse_of("Lovely."))
    assert "product_type" not in nothing and "category" not in nothing


def test_a_product_span_no_vocabulary_knows_becomes_a_new_type_at_lower_confidence() -> None:
    readings = read(
        parse_of("KIDS UNICORN BACKPACK 12L", [("product_type", "BACKPACK", 0.9)], age=("kid", 0.99))
    )
    assert readings["product_type"].value == "backpack"
    assert readings["product_type"].confidence == pytest.approx(0.9 * NEW_VALUE_FACTOR)
    assert "category" not in readings and readings["age_group"].value == "kid"


def test_the_description_fills_a_neutral_title_and_a_disagreement_lowers_the_titles_confidence() -> None:
    title = parse_of("Hartwell Crew Tee", [("product_type", "Tee", 0.9)], gender=("unknown", 0.99))
    description = parse_of("She will love it. Comes gift-boxed.", gender=("female", 0.85), gift=(True, 0.9))
    readings = read(title, description)
    assert (readings["gender"].value, readings["gender"].origin) == ("female", "description")
    # the title confidently named no audience: the description's change is taken, docked, for review
    assert readings["gender"].confidence == pytest.approx(0.85 - DISAGREEMENT_PENALTY * 0.99)
    adults = read(parse_of("Speckled Mug"), parse_of("Speckled mug for adults.", age=("adult", 0.9)))
    assert (adults["age_group"].value, adults["age_group"].confidence) == ("adult", 0.9)  # no change: no dock
    assert (readings["gift_suitable"].value, readings["gift_suitable"].confidence) == ("true", 0.9)
    girls = parse_of(
        "Girls' Crew Tee", [("product_type", "Tee", 0.9)], gender=("female", 0.95), age=("kid", 0.9)
    )
    adults = parse_of("Tee for adults.", age=("adult", 0.6))
    age = read(girls, adults)["age_group"]
    assert age.value == "kid" and age.confidence == pytest.approx(0.9 - DISAGREEMENT_PENALTY * 0.6)


def test_a_missing_attribute_is_inferred_and_a_given_one_kept_with_the_models_reading() -> None:
    product = {
        "id": "A1",
        "title": "Womens Leather Ankle Boots",
        "product_type": "sneakers",
        "category": None,
        "gender": "male",
        "age_group": None,
        "colour": None,
        "material": "leather",
        "gift_suitable": None,
    }
    readings = read(
        parse_of(
            product["title"],
            [("product_type", "Ankle Boots", 0.95), ("material", "Leather", 0.9)],
            gender=("female", 0.97),
            age=("adult", 0.9),
        )
    )
    done, facts, contradictions = complete_product(product, readings, VOCABULARY, CATEGORIES, 0.8)
    by = {fact.attribute: fact for fact in facts}
    assert done["product_type"] == "sneakers" and by["product_type"].source == SOURCE_GIVEN
    assert by["product_type"].inferred_value == "boots"
    # the category missing beside a given type is that type's own ("sneakers" is trainers: shoes)
    assert (done["category"], by["category"].source, by["category"].confidence) == (
        "shoes",
        SOURCE_INFERRED,
        1.0,
    )
    assert by["material"].inferred_value == "leather"  # the model agrees: no contradiction
    assert (done["age_group"], by["age_group"].source, by["age_group"].confidence) == (
        "adult",
        SOURCE_INFERRED,
        0.9,
    )
    assert (done["colour"], by["colour"].confidence) == ("", NO_VALUE_CONFIDENCE)
    assert done["gift_suitable"] is False and by["gift_suitable"].value == "false"
    assert [(c.attribute, c.given, c.read) for c in contradictions] == [
        ("product_type", "sneakers", "boots"),
        ("gender", "male", "female"),
    ]
    # below the threshold the model's different reading is kept beside the value but not reported
    _, _, unsure = complete_product(product, readings, VOCABULARY, CATEGORIES, 0.99)
    assert unsure == []


def test_a_neutral_reading_never_contradicts_a_given_value() -> None:
    product = {
        "id": "A2",
        "title": "Mug",
        "product_type": "mug",
        "category": "home and kitchen",
        "gender": "female",
        "age_group": "adult",
        "colour": "red",
        "material": "",
        "gift_suitable": True,
    }
    readings = read(parse_of("Mug", [("product_type", "Mug", 0.99)], gender=("unknown", 0.99)))
    _, facts, contradictions = complete_product(product, readings, VOCABULARY, CATEGORIES, 0.8)
    by = {fact.attribute: fact for fact in facts}
    assert contradictions == [] and by["gender"].inferred_value is None
    assert all(fact.source == SOURCE_GIVEN for fact in facts) and by["gift_suitable"].value == "true"


CSV_RAW = "id,title,price,brand,description,image_url,stock\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_raw_feed_needs_only_id_title_and_price_and_bad_rows_are_listed_by_line(tmp_path: Path) -> None:
    good = write(
        tmp_path / "ok.csv",
        CSV_RAW + "R1,Blue Tee,9.99,,,https://img.example/r1.jpg,S:1;M:2\n" + "R2,Mug,5,Hearth,,,\n",
    )
    report = check_file(good)
    assert report.errors == [] and feed_needs_model(report.products)
    first, second = report.products
    assert first["image_url"] == "https://img.example/r1.jpg" and first["stock"] == {"S": 1, "M": 2}
    assert first["product_type"] is None and first["gender"] is None and first["gift_suitable"] is None
    assert second["brand"] == "Hearth" and second["stock"] == {"one size": 0}
    bad = write(
        tmp_path / "bad.csv",
        CSV_RAW
        + "R1,Tee,9.99,,,ftp://img.example/a.jpg,\n"
        + "R2,,,,,,\n"
        + "R3,Mug,5,,,javascript:alert(1),\n"
        + "R4,Vase,abc,,,,\n",
    )
    errors = check_file(bad).errors
    assert "line 2: image_url must be an http:// or https:// URL: 'ftp://img.example/a.jpg'" in errors
    assert {"line 3: missing title", "line 3: missing price"} <= set(errors)
    assert any(e.startswith("line 4: image_url") for e in errors)
    assert "line 5: price is not a number: 'abc'" in errors
    jsonl = write(
        tmp_path / "bad.jsonl",
        json.dumps({"id": "J1", "title": "Tee", "price": 3})
        + "\n\n"
        + json.dumps({"id": "J2", "price": 3, "gender": "robot"})
        + "\n",
    )
    assert check_file(jsonl).errors == [
        "line 3: missing title",
        "line 3: gender must be one of female, male, unisex: 'robot'",
    ]


def test_a_rejected_raw_feed_writes_nothing_and_loads_no_model(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    feed = write(tmp_path / "bad.csv", CSV_RAW + "R1,Tee,9.99,,,not a url,\n")

    def no_model(texts: Sequence[str]) -> List[dict]:
        raise AssertionError("the model must not run for a rejected feed")

    with pytest.raises(ImportRejectedError):
        import_file(feed, url, parse=no_model)
    with session_for(get_engine(url)) as session:
        assert session.execute(select(Product.id)).first() is None
    dispose_engine(url)


def test_no_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(NoModelError, match="train first: make train"):
        find_model(None, tmp_path)
    with pytest.raises(NoModelError, match="no model archive at"):
        find_model(tmp_path / "missing.tar.gz")
    older, newer = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    older.write_bytes(b"x")
    newer.write_bytes(b"y")
    import os

    os.utime(older, (1, 1))
    assert find_model(None, tmp_path) == newer
    feed = write(tmp_path / "raw.csv", CSV_RAW + "R1,Tee,9.99,,,,\n")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert catalog_cli(["--url", url, "import", str(feed), "--model", str(tmp_path / "none.tar.gz")]) == 2
    assert "no model archive at" in capsys.readouterr().err
    dispose_engine(url)


def canned_parse(by_text: Dict[str, Dict[str, Any]]):
    def parse(texts: Sequence[str]) -> List[Dict[str, Any]]:
        return [by_text.get(text) or parse_of(text) for text in texts]

    return parse


def test_an_enriched_import_writes_products_stock_and_one_fact_per_attribute(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    rows = [
        {
            "id": "E1",
            "title": "Womens Leather Ankle Boots Brown",
            "price": 59,
            "stock": {"5": 2},
            "description": "Made from leather. A thoughtful present.",
            "image_url": "http://img.example/e1.png",
        },
        {"id": "E2", "title": "Hartwell Coffee Mug", "price": 9, "product_type": "mug", "gender": "male"},
    ]
    feed = write(tmp_path / "feed.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    parse = canned_parse(
        {
            rows[0]["title"]: parse_of(
                rows[0]["title"],
                [("product_type", "Ankle Boots", 0.95), ("color", "Brown", 0.99)],
                gender=("female", 0.98),
                age=("adult", 0.97),
            ),
            rows[0]["description"]: parse_of(
                rows[0]["description"], [("material", "leather", 0.9)], gift=(True, 0.92)
            ),
            rows[1]["title"]: parse_of(
                rows[1]["title"], [("product_type", "Coffee Mug", 0.99)], gender=("female", 0.9)
            ),
        }
    )
    report = import_file(feed, url, parse=parse, threshold=0.8)
    assert report.written == 2 and report.facts == 14
    enrichment = report.enrichment
    assert enrichment.given["product_type"] == 1 and enrichment.inferred["product_type"] == 1
    assert [(c.product_id, c.attribute, c.given, c.read) for c in enrichment.contradictions] == [
        ("E2", "gender", "male", "female")
    ]
    summary = format_summary(enrichment)
    assert "contradictions" in summary and "E2 gender: given 'male', read 'female'" in summary
    with session_for(get_engine(url)) as session:
        boots = session.get(Product, "E1")
        assert (
            boots.product_type,
            boots.category,
            boots.gender,
            boots.age_group,
            boots.colour,
            boots.material,
            boots.gift_suitable,
        ) == ("boots", "shoes", "female", "adult", "brown", "leather", True)
        assert boots.image_url == "http://img.example/e1.png" and boots.stock_by_size == {"5": 2}
        facts = {(f.product_id, f.attribute): f for f in session.execute(select(AttributeFact)).scalars()}
        assert len(facts) == 14
        assert all(
            f.source == SOURCE_INFERRED and f.confidence is not None
            for (pid, _), f in facts.items()
            if pid == "E1"
        )
        assert facts[("E1", "gift_suitable")].value == "true"
        mug_type = facts[("E2", "product_type")]
        assert (mug_type.source, mug_type.confidence, mug_type.inferred_value) == (SOURCE_GIVEN, None, "mug")
        gender = facts[("E2", "gender")]
        assert gender.source == SOURCE_GIVEN and gender.value == "male" and gender.contradicted
        assert (gender.inferred_value, gender.inferred_confidence) == ("female", 0.9)
        assert session.get(Product, "E2").gender == "male"
    dispose_engine(url)


def test_a_structured_feed_imports_without_the_model_and_marks_its_columns_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    feed = write(
        tmp_path / "s.csv",
        "id,title,brand,product_type,category,price,gender\nS1,Red Mug,Hearth,mug,home and kitchen,9.99,\n",
    )
    report = import_file(feed, url)
    assert report.enrichment is None and report.defaulted == 5 and report.facts == 2
    with session_for(get_engine(url)) as session:
        facts = session.execute(select(AttributeFact)).scalars().all()
        assert {(f.attribute, f.value, f.source) for f in facts} == {
            ("product_type", "mug", SOURCE_GIVEN),
            ("category", "home and kitchen", SOURCE_GIVEN),
        }
        assert session.get(Product, "S1").gender == "unisex"
    dispose_engine(url)


def test_sample_feeds_are_raw_deterministic_and_carry_their_truth(tmp_path: Path) -> None:
    rows, truth = raw_demo_feed(120)
    assert (rows, truth) == raw_demo_feed(120)
    assert all(set(row) == set(RAW_COLUMNS) for row in rows) and set(truth) == {row["id"] for row in rows}
    other, other_truth = other_style_feed(300)
    assert other == other_style_feed(300)[0] and other != other_style_feed(300, seed=1)[0]
    assert {t["product_type"] for t in other_truth.values()} <= {pair[0] for pair in PAIRS}
    demo_brands = {row["brand"] for row in raw_demo_feed(3600)[0]}
    assert not {row["brand"] for row in other} & demo_brands
    assert not any(
        "Part of our" in row["description"] or " for adults" in row["description"] for row in other
    )
    out = tmp_path / "o.csv"
    assert sample_cli(["other", "--size", "20", "--out", str(out)]) == 0
    assert len(check_file(out).products) == 20


def test_the_feed_score_counts_accuracy_and_the_review_split() -> None:
    truth = {
        "A": {
            "product_type": "mug",
            "category": "home and kitchen",
            "gender": "unisex",
            "age_group": "adult",
            "colour": "",
            "material": "",
            "gift_suitable": False,
        },
        "B": {
            "product_type": "dress",
            "category": "clothing",
            "gender": "female",
            "age_group": "kid",
            "colour": "red",
            "material": "",
            "gift_suitable": True,
        },
    }
    products = [{"id": "A", **truth["A"]}, {"id": "B", **{**truth["B"], "age_group": "adult"}}]
    score = score_feed(products, truth, {"A": 0.95, "B": 0.5}, 0.8)
    assert score.accuracy["age_group"] == 0.5 and score.accuracy["product_type"] == 1.0
    assert score.to_review == 1 and score.core_accuracy_above == 1.0 and score.core_accuracy_below == 0.0
    assert score.all_accuracy_above == 1.0 and score.all_accuracy_below == 0.0


def test_a_colour_word_is_not_read_as_the_material_and_brand_words_are_no_material() -> None:
    dress = read(
        parse_of("Maxi Dress - Gold", [("product_type", "Maxi Dress", 0.9)]),
        parse_of("Maxi dress, in linen.", [("material", "linen", 0.6)]),
    )
    assert (dress["material"].value, dress["material"].origin) == ("linen", "description")
    assert dress["colour"].value == "gold"
    untagged = read(parse_of("Leather Boots Gold", [("product_type", "Boots", 0.9)]))
    assert (untagged["material"].value, untagged["material"].origin) == ("leather", "title scan")
    assert "material" not in read(parse_of("Ring - Gold", [("product_type", "Ring", 0.9)]))
    pebble = read(parse_of("Pebble Baby Carrier", [("material", "Pebble", 0.8)]), brand="Pebble")
    assert "material" not in pebble


def test_each_distinct_text_is_parsed_once() -> None:
    seen: List[str] = []

    def parse(texts: Sequence[str]) -> List[Dict[str, Any]]:
        seen.extend(texts)
        return [parse_of(text) for text in texts]

    shared = "Soft cotton tee."
    products = [
        {
            "id": f"T{i}",
            "title": f"Tee {i}",
            "description": shared,
            **dict.fromkeys(
                ("product_type", "category", "gender", "age_group", "colour", "material", "gift_suitable")
            ),
        }
        for i in range(3)
    ]
    done, facts, report = enrich_products(
        products, parse, VOCABULARY, CATEGORIES, threshold=0.8, batch_size=2
    )
    assert sorted(seen) == sorted(["Tee 0", "Tee 1", "Tee 2", shared]) and report.texts_parsed == 4
    assert len(done) == 3 and len(facts) == 21 and [p["product_type"] for p in done] == ["t-shirt"] * 3
