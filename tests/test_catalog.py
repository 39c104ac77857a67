"""The catalog: the demo catalog data file and generator, building it on first use, stock on the product
model, and all-or-nothing imports."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from actions.catalog.__main__ import main as catalog_cli
from actions.catalog.db import dispose_engine, ensure_catalog, get_engine, session_for
from actions.catalog.demo import (
    DATA_FILE,
    FAMILIES,
    DemoCatalogError,
    generate_demo_catalog,
    load_demo_data,
    make_products,
)
from actions.catalog.importer import ImportRejectedError, check_file, import_file
from actions.catalog.models import AGE_GROUPS, GENDERS, ONE_SIZE, Product, StockLevel

FAMILY_NAMES = {
    "clothing",
    "shoes",
    "toys",
    "baby",
    "electronics",
    "beauty",
    "jewellery",
    "home and kitchen",
    "sports",
    "books",
    "gifts and cards",
    "pet",
}


def test_demo_catalog_is_big_deterministic_and_covers_every_family() -> None:
    products = generate_demo_catalog()
    assert len(products) >= 3000
    assert products == generate_demo_catalog()
    assert {p["category"] for p in products} == FAMILY_NAMES == {f.category for f in FAMILIES}
    assert len({p["id"] for p in products}) == len(products)
    assert len({p["title"] for p in products}) == len(products)
    sold_out = [p for p in products if not any(p["stock"].values())]
    assert 0.02 * len(products) < len(sold_out) < 0.2 * len(products)
    assert all(p["gender"] in GENDERS and p["age_group"] in AGE_GROUPS for p in products)
    assert all(0 < p["price"] < 1000 and 0 <= p["rating"] <= 5 for p in products)
    shoes = Counter(p["product_type"] for p in products if p["category"] == "shoes")
    assert shoes["trainers"] > 50


def test_the_demo_data_file_loads_and_is_what_the_generator_uses() -> None:
    data = load_demo_data(DATA_FILE)
    assert data.families == FAMILIES
    assert make_products(data, 500, 3) == generate_demo_catalog(total=500, seed=3)
    kinds = {kind.product_type: (family, kind) for family in data.families for kind in family.kinds}
    assert all(set(kind.brands) <= set(family.brands) for family, kind in kinds.values())
    assert kinds["trainers"][1].sizes["kid"][0] == "10" and not kinds["mug"][1].sizes
    assert data.title_words[("female", "kid")] == "Girls'"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "sizes: shoes\n",
            "sizes: shoe\n",
            "family 'shoes', kind 'trainers', sizes: unknown size chart 'shoe'",
        ),
        ("        title_noun: T-Shirt\n", "", "family 'clothing', kind 't-shirt': missing 'title_noun'"),
        ("  - product_type: t-shirt\n", "  - title_noun: Tee\n", "family 'clothing', kind #1: missing"),
        (
            "        colours: [blue, black",
            "        colors: [blue, black",
            "kind 'jeans': unknown key 'colors'",
        ),
        (
            "    teen: *adult_shoes\n",
            "",
            "kind 'trainers', sizes: size chart 'shoes' has no sizes for age group 'teen'",
        ),
        (
            '["4", "5",',
            "[4, 5,",
            "size chart 'shoes', adult: expected a non-empty list of words (quote numbers)",
        ),
        (
            "audiences: everyone",
            "audiences: [female grownup]",
            "kind 't-shirt', audiences: expected a list of 'gender",
        ),
        ("audiences: everyone", "audiences: everybody", "unknown audience group 'everybody'"),
        ("price: [8, 35]", "price: [35, 8]", "kind 't-shirt', price: expected [low, high]"),
        ("families:\n", "familes:\n", "the file: missing 'families'"),
        (
            "title_words:\n",
            "title_words:\n  female grown: Ladies'\n",
            "title_words: expected a 'gender age_group'",
        ),
        ("defaults:\n", "defaults: [\n", "cannot be read"),
    ],
)
def test_a_malformed_demo_data_file_says_which_file_and_where(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = DATA_FILE.read_text(encoding="utf-8")
    assert old in text
    broken = write(tmp_path / "demo_catalog.yml", text.replace(old, new, 1))
    with pytest.raises(DemoCatalogError) as failure:
        load_demo_data(broken)
    assert str(failure.value).startswith(f"{broken}: ")
    assert expected in str(failure.value)


def test_first_use_builds_the_demo_catalog_with_its_search_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'catalog.db'}"
    engine = ensure_catalog(url)
    with session_for(engine) as session:
        assert session.execute(select(func.count(Product.id))).scalar_one() >= 3000
    dispose_engine(url)
    assert not list((tmp_path / "sub").glob("*.tmp-*"))
    fts = sqlite3.connect(tmp_path / "sub" / "catalog.db")
    hits = fts.execute("SELECT count(*) FROM product_fts WHERE product_fts MATCH 'trainers'").fetchone()[0]
    fts.close()
    assert hits > 50


CSV_HEADER = (
    "id,title,brand,product_type,category,gender,age_group,colour,material,price,rating,gift_suitable,"
    "description,stock\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_csv_and_jsonl_import_in_full(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    csv_file = write(
        tmp_path / "p.csv",
        CSV_HEADER
        + "A1,Red Mug,Hearth,mug,home and kitchen,unisex,adult,red,ceramic,9.99,4.5,yes,A mug,one size:4\n"
        + 'A2,"Blue Dress, Midi",Kestrel,dress,clothing,female,adult,blue,cotton,39,4,no,"A dress",S:1;M:0\n',
    )
    assert import_file(csv_file, url).written == 2
    jsonl = write(
        tmp_path / "p.jsonl",
        json.dumps(
            {
                "id": "A3",
                "title": "Cosy Slippers",
                "brand": "Nest",
                "product_type": "slippers",
                "category": "shoes",
                "color": "grey",
                "price": 19.5,
                "stock": {"6": 2, "7": 0},
                "gift_suitable": True,
            }
        )
        + "\n",
    )
    assert import_file(jsonl, url).written == 1
    with session_for(get_engine(url)) as session:
        dress = session.get(Product, "A2")
        slippers = session.get(Product, "A3")
        assert dress.stock_by_size == {"S": 1, "M": 0} and dress.gender == "female"
        assert slippers.colour == "grey" and slippers.gift_suitable and slippers.sizes == ["6", "7"]
    dispose_engine(url)


def test_import_with_replace_drops_the_old_products_and_their_stock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    row = "{},Mug {},Hearth,mug,home and kitchen,,,red,ceramic,9.99,4.5,yes,A mug,S:1;M:2\n"
    import_file(write(tmp_path / "old.csv", CSV_HEADER + row.format("A1", 1)), url)
    assert (
        import_file(write(tmp_path / "new.csv", CSV_HEADER + row.format("B1", 2)), url, replace=True).written
        == 1
    )
    with session_for(get_engine(url)) as session:
        assert session.execute(select(Product.id)).scalars().all() == ["B1"]
        assert session.execute(select(func.count()).select_from(StockLevel)).scalar_one() == 2
        mug = session.get(Product, "B1")
        assert (mug.gender, mug.age_group) == ("unisex", "adult")
    dispose_engine(url)


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    bad = write(
        tmp_path / "bad.csv",
        CSV_HEADER
        + "A1,Good Mug,Hearth,mug,home and kitchen,unisex,adult,red,ceramic,9.99,4.5,yes,ok,one size:4\n"
        + "A2,Bad Price,Hearth,mug,home and kitchen,unisex,adult,red,ceramic,-3,4.5,yes,ok,one size:4\n"
        + "A3,,Hearth,mug,home and kitchen,alien,adult,red,ceramic,abc,9,maybe,ok,one size:x\n"
        + "A1,Duplicate,Hearth,mug,home and kitchen,unisex,adult,red,ceramic,5,4,no,ok,one size:1\n",
    )
    with pytest.raises(ImportRejectedError) as failure:
        import_file(bad, url)
    errors = failure.value.report.errors
    assert any(e.startswith("line 3:") and "price" in e for e in errors)
    line4 = [e for e in errors if e.startswith("line 4:")]
    assert {"title", "gender", "price", "rating", "gift_suitable", "stock"} <= {
        word
        for e in line4
        for word in ("title", "gender", "price", "rating", "gift_suitable", "stock")
        if word in e
    }
    assert any(e.startswith("line 5:") and "already used on line 2" in e for e in errors)
    assert not any(e.startswith("line 2:") for e in errors)
    with session_for(get_engine(url)) as session:
        assert session.execute(select(func.count(Product.id))).scalar_one() == 0
    dispose_engine(url)


def test_jsonl_errors_and_ids_already_in_the_catalog(tmp_path: Path) -> None:
    good = {
        "id": "X1",
        "title": "T",
        "brand": "B",
        "product_type": "mug",
        "category": "home",
        "price": 3,
        "stock": 1,
    }
    report = check_file(write(tmp_path / "a.jsonl", json.dumps(good) + "\n{not json\n[1, 2]\n"), {"X1"})
    assert report.errors == [
        "line 1: id X1 is already in the catalog",
        "line 2: not valid JSON (Expecting property name enclosed in double quotes)",
        "line 3: a record must be an object with product fields",
    ]
    assert check_file(write(tmp_path / "empty.jsonl", "\n")).errors == ["the file has no products"]


def test_cli_reports_problems_and_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    bad = write(
        tmp_path / "bad.csv", CSV_HEADER + "A1,Mug,H,mug,home,unisex,adult,red,,oops,4,no,x,one size:1\n"
    )
    assert catalog_cli(["--url", url, "import", str(bad)]) == 1
    assert "line 2: price is not a number" in capsys.readouterr().err
    assert catalog_cli(["--url", url, "demo", "--size", "300"]) == 0
    assert catalog_cli(["--url", url, "stats"]) == 0
    assert "300 products" in capsys.readouterr().out
    dispose_engine(url)


def product_with(stock: dict) -> Product:
    rows = [StockLevel(size=size, position=i, quantity=q) for i, (size, q) in enumerate(stock.items())]
    return Product(id="T1", title="Tee", price=10.0, stock=rows)


def test_stock_in_a_size_is_read_from_the_product() -> None:
    tee = product_with({"S": 0, "M": 3, "L": 1})
    assert tee.sized and tee.real_sizes == ["S", "M", "L"]
    assert [tee.quantity_for(size) for size in ("m", "S", "L ", "XL", None, "")] == [3, 0, 1, 0, 4, 4]
    assert tee.available() and tee.available("m") and not tee.available("s") and not tee.available("XL")
    assert tee.makes_size("l") and tee.makes_size("S") and not tee.makes_size("XL")
    assert [tee.size_label(size) for size in ("m", "L", None, "XL")] == ["M", "L", ONE_SIZE, ONE_SIZE]


def test_a_product_sold_without_sizes_answers_for_any_size() -> None:
    mug = product_with({ONE_SIZE: 2})
    assert not mug.sized and mug.real_sizes == [] and mug.sizes == [ONE_SIZE]
    assert mug.quantity_for("M") == mug.quantity_for(None) == 2
    assert mug.available("M") and mug.makes_size("M")
    assert mug.size_label("m") == mug.size_label(None) == ONE_SIZE
    sold_out = product_with({ONE_SIZE: 0})
    assert not sold_out.available() and not sold_out.available("M") and sold_out.quantity_for("M") == 0
