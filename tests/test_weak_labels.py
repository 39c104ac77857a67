"""Weak attribute labels: the guideline's examples, the no-evidence cases and explicit-label precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.schema import DEFAULT_ATTRIBUTES
from nlu.weak_labels import attribute_labels, label_attributes, load_lexicon


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bday present for my 10yo son", {"gender": "male", "age_group": "kid", "gift": "true"}),
        ("christmas lights for the porch", {}),
        ("graduation cap and gown", {}),
        ("unisex hoodie", {}),
        ("she's 13 and wants a phone", {"gender": "female", "age_group": "teen"}),
        ("dino toys, he's turning 5", {"gender": "male", "age_group": "kid"}),
        ("teething toys for a 6 month old", {"age_group": "baby"}),
        ("something for a 10 year old", {"age_group": "kid"}),
        ("40th bday gift for my husband", {"gender": "male", "age_group": "adult", "gift": "true"}),
        ("diapers size 3", {"age_group": "baby"}),
        ("lego sets", {"age_group": "kid"}),
        ("beard trimmer", {"gender": "male"}),
        ("sports bra", {"gender": "female"}),
        ("womens boots size 8", {"gender": "female", "age_group": "adult"}),
        ("xmas pjs for the kids", {"age_group": "kid", "gift": "true"}),
        ("mothers day flowers", {"gender": "female", "age_group": "adult", "gift": "true"}),
        ("fathers day card from the kids", {"gender": "male", "age_group": "adult", "gift": "true"}),
        ("secret santa under 20 bucks", {"gift": "true"}),
        ("running shoes for me", {"gift": "false"}),
    ],
)
def test_guideline_examples(text: str, expected: dict) -> None:
    assert label_attributes(text) == expected


def test_buying_for_someone_is_not_by_itself_a_gift() -> None:
    assert "gift" not in label_attributes("school shoes for my daughter")
    assert "gift" not in label_attributes("kids birthday party plates")


def test_possessive_names_someone_else_unless_occasion_follows() -> None:
    assert label_attributes("gift for my son's girlfriend")["gender"] == "female"
    assert label_attributes("my mom's bday")["gift"] == "true"


def test_disagreeing_cues_give_no_label() -> None:
    assert "age_group" not in label_attributes("a 2 year old and a 7 year old")
    assert "gender" not in label_attributes("matching pjs for my son and daughter")


def test_person_words_beat_product_types() -> None:
    assert label_attributes("lego for my dad")["age_group"] == "adult"
    assert label_attributes("a dress for my son's costume party")["gender"] == "male"


def test_colours_and_measures_are_not_ages_or_babies() -> None:
    assert label_attributes("baby blue sweater") == {}
    assert "age_group" not in label_attributes("he's 6 feet tall, need long jeans")
    assert label_attributes("the price is 50") == {}


def test_attribute_labels_fill_every_attribute_and_explicit_wins() -> None:
    labels = attribute_labels("bday present for my 10yo son", {"gift": True}, DEFAULT_ATTRIBUTES)
    assert labels.values == {"gender": "male", "age_group": "kid", "gift": "true"}
    assert labels.conflicts == []
    neutral = attribute_labels("usb c cable", None, DEFAULT_ATTRIBUTES)
    assert neutral.values == {"gender": "unknown", "age_group": "unknown", "gift": "false"}


def test_contradiction_is_reported_and_explicit_kept() -> None:
    labels = attribute_labels("present for my wife", {"gender": "male"}, DEFAULT_ATTRIBUTES)
    assert labels.values["gender"] == "male"
    assert len(labels.conflicts) == 1 and "gender" in labels.conflicts[0]


def test_new_attribute_comes_only_from_explicit_labels() -> None:
    schema = {**DEFAULT_ATTRIBUTES, "budget_tier": ["low", "mid", "high", "unknown"]}
    assert attribute_labels("cheap gift for mom", None, schema).values["budget_tier"] == "unknown"
    explicit = attribute_labels("cheap gift for mom", {"budget_tier": "Low"}, schema)
    assert explicit.values["budget_tier"] == "low"


def test_unknown_explicit_value_names_attribute_and_value() -> None:
    with pytest.raises(ValueError) as err:
        attribute_labels("x", {"age_group": "elderly"}, DEFAULT_ATTRIBUTES)
    assert "age_group" in str(err.value) and "elderly" in str(err.value)


def test_lexicon_path_is_configurable(tmp_path: Path) -> None:
    custom = tmp_path / "cues.yml"
    custom.write_text(
        "people: {nan: {gender: female, age_group: adult}}\npronouns: {}\nproduct_types: {}\n"
        "gift: {words: [pressie]}\nnumeric_age: {bands: {adult: [18, 130]}}\n",
        encoding="utf-8",
    )
    lex = load_lexicon(custom)
    expected = {"gender": "female", "age_group": "adult", "gift": "true"}
    assert label_attributes("a pressie for my nan", lex) == expected
    assert load_lexicon(custom) is lex


@pytest.mark.parametrize(
    ("people", "numeric_age", "named"),
    [
        ("{nan: {gender: woman}}", "{}", "people.nan"),  # the bad entry is named
        ("{}", "{number_words: {ten: 10}}", "number_words"),  # number words are common/numbers.py's only
    ],
)
def test_bad_lexicon_is_refused_naming_the_entry(
    tmp_path: Path, people: str, numeric_age: str, named: str
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        f"people: {people}\npronouns: {{}}\nproduct_types: {{}}\ngift: {{}}\nnumeric_age: {numeric_age}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=named):
        load_lexicon(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a scooter, she's twelve", {"gender": "female", "age_group": "kid"}),
        ("hoodie for a twenty-one year old", {"age_group": "adult"}),
        ("she is turning thirteen", {"gender": "female", "age_group": "teen"}),
        ("nineteen year old nephew", {"gender": "male", "age_group": "adult"}),
    ],
)
def test_ages_in_words_use_the_shared_number_words(text: str, expected: dict) -> None:
    assert label_attributes(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "🎁🎁🎁", "подарок для сына", "a\x00b\x07c", "1" * 10000])
def test_junk_input_gives_no_labels(text: str) -> None:
    assert label_attributes(text) == {}


def test_long_input_is_labelled_in_bounded_time() -> None:
    import time

    start = time.perf_counter()
    label_attributes("bday present for my 10yo son " * 400)
    assert time.perf_counter() - start < 2.0


def test_only_nlu_reads_the_cue_lexicon() -> None:
    # Cue words reach the bot through the parse (nlu/cue_fusion.py inside JointShoppingNLU.process), never
    # by a second reading elsewhere, so /model/parse, the evaluation and the actions agree.
    root = Path(__file__).resolve().parent.parent
    skipped = {".venv", ".git", "nlu", "tests"}
    readers = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if not skipped & set(path.relative_to(root).parts)
        and any(name in path.read_text(encoding="utf-8") for name in ("weak_labels", "attribute_cues"))
    ]
    assert readers == []
