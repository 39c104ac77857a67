"""BIO / CoNLL import: spans land on the right words, department spans become attributes, Rasa reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rasa.shared.nlu.constants import METADATA, METADATA_EXAMPLE
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from nlu.tools.import_bio import (
    DEFAULT_MAPPING,
    BioImportError,
    bio_spans,
    import_file,
    load_mapping,
    read_jsonl,
    to_yaml,
)

ROOT = Path(__file__).resolve().parent.parent
QUERYNER_VALIDATION = ROOT.parent / "shared" / "datasets" / "queryner" / "validation.jsonl"


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _read(yaml_text: str):
    return RasaYAMLReader().reads(yaml_text).training_examples


def _import(source: Path, out: Path) -> subprocess.CompletedProcess:
    """The importer as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "nlu.tools.import_bio", str(source), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_jsonl_import_maps_types_turns_department_into_attributes_and_drops_unmapped(tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "q.jsonl",
        [
            {
                "tokens": ["nike", "running", "shoes", "womens", "size", "8", "vintage"],
                "tags": [
                    "B-creator",
                    "B-core_product_type",
                    "I-core_product_type",
                    "B-department",
                    "B-UoM",
                    "I-UoM",
                    "B-condition",
                ],
            },  # fmt: skip
            {"tokens": ["lego", "for", "boys"], "tags": ["B-creator", "B-department", "I-department"]},
        ],
    )
    converted, stats = import_file(source, load_mapping(DEFAULT_MAPPING), "jsonl")
    messages = _read(to_yaml(converted, "search_product", "q.jsonl"))
    assert [m.get("intent") for m in messages] == ["search_product", "search_product"]
    first = messages[0]
    assert first.get("text") == "nike running shoes womens size 8 vintage"
    got = [(e["entity"], first.get("text")[e["start"] : e["end"]]) for e in first.get("entities")]
    assert got == [("brand", "nike"), ("product_type", "running shoes"), ("size", "size 8")]
    assert first.get(METADATA)[METADATA_EXAMPLE]["attributes"] == {"gender": "female", "age_group": "adult"}
    second = messages[1]
    assert second.get(METADATA)[METADATA_EXAMPLE]["attributes"] == {"gender": "male", "age_group": "kid"}
    assert stats["entity:brand"] == 2 and stats["examples"] == 2


def test_conll_import_and_custom_mapping(tmp_path: Path) -> None:
    conll = tmp_path / "q.conll"
    rows = "red B-COL\nhoodie B-PROD\n\n-DOCSTART- O\n\ncheap B-PRICE\nmugs B-PROD\n"
    conll.write_text(rows, encoding="utf-8")
    mapping = tmp_path / "map.yml"
    mapping.write_text("entities: {COL: color, PROD: product_type}\n", encoding="utf-8")
    converted, stats = import_file(conll, load_mapping(mapping), "conll")
    expected = ["[red](color) [hoodie](product_type)", "cheap [mugs](product_type)"]
    assert [c.annotated for c in converted] == expected
    assert stats["queries"] == 2


def test_duplicates_and_markup_characters(tmp_path: Path) -> None:
    source = _jsonl(
        tmp_path / "q.jsonl",
        [
            {"tokens": ["usb", "[2", "pack]"], "tags": ["B-core_product_type", "B-quantity", "I-quantity"]},
            {"tokens": ["usb", "[2", "pack]"], "tags": ["B-core_product_type", "B-quantity", "I-quantity"]},
        ],
    )
    converted, stats = import_file(source, load_mapping(DEFAULT_MAPPING), "jsonl")
    assert stats["duplicates_or_known"] == 1
    messages = _read(to_yaml(converted, "search_product", "q"))
    assert [(e["entity"], e["value"]) for e in messages[0].get("entities")] == [
        ("product_type", "usb"),
        ("quantity", "(2 pack)"),
    ]


def test_bio_spans_handles_stray_inside_tags() -> None:
    assert bio_spans(["I-color", "I-color", "O", "B-x", "I-y"]) == [(0, 2, "color"), (3, 4, "x"), (4, 5, "y")]


def test_bad_input_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    lines = '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n'
    bad.write_text(lines, encoding="utf-8")
    with pytest.raises(BioImportError, match=r"bad.jsonl:2: 2 tokens but 1 tags"):
        list(read_jsonl(bad))
    run = _import(bad, tmp_path / "o.yml")
    assert run.returncode == 1 and "bad.jsonl:2" in run.stderr and "Traceback" not in run.stderr


def test_queryner_validation_imports_and_spans_match_source_tokens(tmp_path: Path) -> None:
    if not QUERYNER_VALIDATION.exists():
        pytest.skip("../shared/datasets/queryner is not available")
    out = tmp_path / "queryner_validation.yml"
    run = _import(QUERYNER_VALIDATION, out)
    assert run.returncode == 0, run.stderr
    messages = _read(out.read_text(encoding="utf-8"))
    lines = QUERYNER_VALIDATION.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line]
    by_text = {" ".join(r["tokens"]): r for r in records}
    mapping = load_mapping(DEFAULT_MAPPING)
    assert len(messages) > 800
    checked = 0
    for message in messages:
        record = by_text.get(message.get("text"))
        if record is None:  # a token had markup characters replaced
            continue
        expected = [
            (mapping.entities[kind], " ".join(record["tokens"][s:e]))
            for s, e, kind in bio_spans(record["tags"])
            if kind in mapping.entities
        ]
        got = [(e["entity"], message.get("text")[e["start"] : e["end"]]) for e in message.get("entities", [])]
        assert got == expected, message.get("text")
        assert all(e["entity"] != "department" for e in message.get("entities", []))
        checked += 1
    assert checked > 800
    with_attributes = [m for m in messages if (m.get(METADATA) or {}).get(METADATA_EXAMPLE)]
    assert len(with_attributes) > 50


def test_imported_file_names_the_licence_beside_its_source(tmp_path: Path) -> None:
    record = {"tokens": ["red", "mug"], "tags": ["B-color", "B-core_product_type"]}
    source = _jsonl(tmp_path / "q.jsonl", [record])
    (tmp_path / "LICENSE").write_text("MIT License\n\nCopyright (c) 2024 Some Lab\n\nPermission is ...\n")
    out = tmp_path / "imported.yml"
    run = _import(source, out)
    assert run.returncode == 0, run.stderr
    header = out.read_text(encoding="utf-8").splitlines()[:3]
    assert any("MIT License" in line and "Copyright (c) 2024 Some Lab" in line for line in header)
    assert [m.get("text") for m in _read(out.read_text(encoding="utf-8"))] == ["red mug"]
