"""Spoken forms (nlu/tools/spoken_forms.py): spans stay aligned, numbers are said, held-out copy matches."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import List

import pytest

from common.numbers import number_value, number_words
from common.schema import DEFAULT_ATTRIBUTES
from nlu.tools.evaluate import markdown_report
from nlu.tools.generate_data import SPOKEN_SHARE, hand_written_examples, spoken_example
from nlu.tools.spoken_forms import Style, render, speak, speak_number_token, spoken_words
from nlu.tools.validate_data import (
    DEFAULT_HELDOUT,
    DEFAULT_SPOKEN_HELDOUT,
    Example,
    load_examples,
    parse_annotated,
)
from nlu.weak_labels import attribute_labels

ROOT = Path(__file__).resolve().parent.parent
SPOKEN_VARIANTS = ROOT / "data" / "nlu" / "generated" / "spoken_variants.yml"
FILLERS = ("um", "uh", "er", "hmm", "you know", "i mean")
ALL_WORDS = Style(numbers_in_words=1.0, words_mode=True)


def _said(annotated: str, style: Style = ALL_WORDS, seed: int = 0) -> str:
    """The example's words in the given style, without fillers, case or punctuation (their own choices)."""
    words, types = spoken_words(annotated, random.Random(seed), style)
    return render(words, types)


def _examples() -> List[Example]:
    return [*hand_written_examples(), *load_examples(DEFAULT_HELDOUT)]


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (29, "twenty nine"), (100, "one hundred"),
     (150, "one hundred fifty"), (1000, "one thousand"), (2500, "two thousand five hundred"),
     (20000, "twenty thousand"), (1_000_001, "one million one")],
)  # fmt: skip
def test_number_words_says_digits_as_words(n: int, words: str) -> None:
    assert number_words(n) == words


def test_number_words_reads_back_with_number_value_and_refuses_what_it_cannot_say() -> None:
    assert all(number_value(number_words(n)) == n for n in range(100))
    with pytest.raises(ValueError):
        number_words(-1)


def test_spans_stay_aligned_on_every_example_for_several_seeds() -> None:
    examples = _examples()
    assert len(examples) > 4000
    checked = 0
    for seed in (1, 2, 3):
        for example in examples:
            spoken = speak(example.annotated, seed)
            if spoken is None:
                assert not re.search(r"[a-z0-9]", example.text, re.I), example.annotated  # emoji alone
                continue
            text, entities, problems = parse_annotated(spoken)
            assert problems == [], spoken
            assert [e.entity for e in entities] == [e.entity for e in example.entities], (
                example.text,
                spoken,
            )
            for entity, written in zip(entities, example.entities, strict=True):
                span = text[entity.start : entity.end]
                assert entity.value == span and span == span.strip() and span, spoken
                assert entity.start == 0 or not (text[entity.start - 1].isalnum() and span[0].isalnum())
                assert entity.end == len(text) or not (text[entity.end].isalnum() and span[-1].isalnum())
                said = f" {span.lower()} "
                heard = f" {written.value.lower()} "
                assert not any(f" {f} " in said and f" {f} " not in heard for f in FILLERS), spoken
            assert not re.search(r"[\[\]()]", text), spoken
            checked += 1
    assert checked > 12000


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("[$50](price)", {"[fifty dollars](price)"}),
        ("for my [10yo](age)", {"for my [ten year old](age)"}),
        ("for my [10 yo](age)", {"for my [ten year old](age)"}),
        ("[7 y.o.](age)", {"[seven year old](age)"}),
        ("[size 8](size)", {"[size eight](size)"}),
        ("[2 pack](quantity)", {"[two pack](quantity)"}),
        ("[3 pack](quantity)", {"[three pack](quantity)"}),
        ("[under 30](price)", {"[under thirty](price)"}),
        ("[$29.99](price)", {"[twenty nine dollars ninety nine](price)", "[twenty nine ninety nine](price)"}),
        ("[size 10.5](size)", {"[size ten and a half](size)", "[size ten point five](size)"}),
        ("[$30-40](price)", {"[thirty to forty dollars](price)"}),
        ("[£15-25](price)", {"[fifteen to twenty five pounds](price)"}),
        ("[40th birthday](occasion)", {"[fortieth birthday](occasion)"}),
        ("[21st](occasion)", {"[twenty first](occasion)"}),
        ("in her [70s](age)", {"in her [seventies](age)"}),
        ("[0-6m](size)", {"[zero to six months](size)"}),
        ("[ages 8-12](age)", {"[ages eight to twelve](age)"}),
        ("[500ml](size)", {"[five hundred ml](size)", "[five hundred milliliter](size)"}),
        ('[27"](size)', {"[twenty seven inch](size)", "[twenty seven inches](size)"}),
        ("[1/2 size](size)", {"[half size](size)"}),
        (
            "[100% cotton](material)",
            {"[one hundred percent cotton](material)", "[a hundred percent cotton](material)"},
        ),
        ("[x6](quantity)", {"[times six](quantity)"}),
        ("compare #1 and #2", {"compare number one and number two"}),
        # product names and codes keep the digits Whisper writes for them
        (
            "[iphone 15](model) [34c](size) [1080p](feature)",
            {"[iphone 15](model) [34c](size) [1080p](feature)"},
        ),
        ("gift for u pls", {"gift for you please"}),
        ("[👍](feature) ok", {"okay", "ok"}),  # an emoji cannot be said; a span with no words left is dropped
    ],
)
def test_numbers_and_chat_spellings_become_what_a_caller_says(written: str, spoken: set) -> None:
    results = {_said(written, seed=seed) for seed in range(6)}
    assert results <= spoken, results


def test_a_transcript_that_keeps_digits_still_says_the_currency_and_the_age() -> None:
    digits = Style(words_mode=False)
    assert (
        _said("[under $30](price) for my [10yo](age)", digits)
        == "[under 30 dollars](price) for my [10 year old](age)"
    )
    assert _said("[size 8](size) [£15-25](price)", digits) == "[size 8](size) [15 to 25 pounds](price)"


def test_money_and_number_tokens_directly() -> None:
    rng = random.Random(3)
    assert speak_number_token("$1", rng) == "one dollar"
    assert speak_number_token("£0.99", rng) == "ninety nine pence"
    said = {
        "one hundred twenty",
        "a hundred twenty",
        "one twenty",
        "a hundred and twenty",
        "one hundred and twenty",
    }
    assert speak_number_token("120x60", rng) in {f"{head} by sixty" for head in said}
    assert speak_number_token("34c", rng) is None and speak_number_token("4k", rng) is None


def test_whole_transcripts_drop_punctuation_and_add_fillers_only_between_spans() -> None:
    outputs = [
        speak("um, [running shoes](product_type) [size 10](size) for my [son](recipient)!", seed)
        for seed in range(200)
    ]
    plain = [parse_annotated(o)[0] for o in outputs if o]
    assert len(plain) == 200
    assert not any("!" in text for text in plain)
    assert any(text == text.lower() for text in plain) and any(text[:1].isupper() for text in plain)
    assert any(re.search(r"\b(uh|er|like|you know|i mean|hmm|so|well)\b", text, re.I) for text in plain)
    assert any("size ten" in text.lower() for text in plain) and any("size 10" in text for text in plain)


def test_apostrophes_are_dropped_or_restored_never_inside_a_different_word() -> None:
    outputs = {
        speak("[mom's](recipient) bday, i dont want [men's](feature) stuff", seed) for seed in range(60)
    }
    texts = {parse_annotated(o)[0].lower() for o in outputs}
    assert any("moms" in t for t in texts) and any("mom's" in t for t in texts)
    assert any("don't" in t for t in texts) and any("dont" in t for t in texts)
    assert any("birthday" in t for t in texts)


def test_the_transform_is_deterministic_for_a_seed_and_varies_with_it() -> None:
    examples = [e.annotated for e in _examples()[::40]]
    first = [speak(text, 11) for text in examples]
    assert first == [speak(text, 11) for text in examples]
    other = [speak(text, 12) for text in examples]
    assert sum(a != b for a, b in zip(first, other, strict=True)) > len(examples) // 2


def test_a_variant_carries_its_source_labels_weak_or_explicit() -> None:
    weak = Example(
        "x.yml", 1, "search_product", "bday present for my [10yo](age) [son](recipient)", "", [], None
    )
    weak.text, weak.entities, _ = parse_annotated(weak.annotated)
    variant = spoken_example(weak, seed=5, avoid=set())
    assert variant is not None and variant.intent == "search_product"
    assert dict(variant.attributes) == {"gender": "male", "age_group": "kid", "gift": "true"}


def test_spoken_heldout_matches_the_written_split_example_for_example() -> None:
    from nlu.tools.evaluate import load_rasa_set

    written = load_rasa_set(DEFAULT_HELDOUT, DEFAULT_ATTRIBUTES).examples
    spoken = load_rasa_set(DEFAULT_SPOKEN_HELDOUT, DEFAULT_ATTRIBUTES).examples
    assert len(spoken) == len(written) >= 350
    for w, s in zip(written, spoken, strict=True):
        assert s.intent == w.intent, (w.text, s.text)
        assert [t for _, _, t in s.entities] == [t for _, _, t in w.entities], (w.text, s.text)
        assert s.attributes == w.attributes, (w.text, s.text)
    words = [
        (re.findall(r"\w+", w.text.lower()), re.findall(r"\w+", s.text.lower()))
        for w, s in zip(written, spoken, strict=True)
    ]
    assert sum(a != b for a, b in words) > len(words) // 2  # most of them read differently


def test_spoken_heldout_texts_are_never_training_texts() -> None:
    from nlu.tools.validate_data import normalise_for_dedup

    training = {
        normalise_for_dedup(e.text) for f in sorted((ROOT / "data").rglob("*.yml")) for e in load_examples(f)
    }
    spoken = {normalise_for_dedup(e.text) for e in load_examples(DEFAULT_SPOKEN_HELDOUT)}
    assert not spoken & training


def test_spoken_variants_are_a_stratified_share_of_the_hand_written_data() -> None:
    sources = hand_written_examples()
    variants = load_examples(SPOKEN_VARIANTS)
    per_intent = {}
    for example in sources:
        per_intent[example.intent] = per_intent.get(example.intent, 0) + 1
    counts = {}
    for example in variants:
        counts[example.intent] = counts.get(example.intent, 0) + 1
        assert example.attributes is not None and set(example.attributes) == set(DEFAULT_ATTRIBUTES)
        assert not attribute_labels(example.text, example.attributes, DEFAULT_ATTRIBUTES).conflicts
    assert counts == {intent: max(1, round(SPOKEN_SHARE * n)) for intent, n in per_intent.items()}
    assert 0.08 < len(variants) / len(sources) < 0.16


def test_the_evaluation_report_puts_written_and_spoken_figures_side_by_side() -> None:
    def result(f1: float) -> dict:
        return {"examples": 2, "entities": {"micro": {"f1": f1}}, "intent": {"accuracy": 1.0}}

    report = {
        "models": {"joint": {"config": "config.yml", "model": "m", "training_seconds": 1.0}},
        "sets": {"heldout_nlu": {"joint": result(0.9)}, "heldout_nlu_spoken": {"joint": result(0.8)}},
    }
    markdown = markdown_report(report)
    assert "| set | examples | joint entity F1 | joint intent acc | joint attribute macro-F1 |" in markdown
    assert "| heldout_nlu | 2 | 0.900 | 1.000 | n/a |" in markdown
    assert "| heldout_nlu_spoken | 2 | 0.800 | 1.000 | n/a |" in markdown
