"""Terse (search-box) forms of hand-written requests: what the generator keeps, drops and misspells."""

from __future__ import annotations

import random
from typing import Mapping, Optional

from common.schema import DEFAULT_ATTRIBUTES
from nlu.tools.generate_data import plain_text
from nlu.tools.spoken_forms import parse
from nlu.tools.terse_forms import terse_form, terse_forms, terse_segments, typo
from nlu.tools.validate_data import Example, normalise_for_dedup, parse_annotated


def example(annotated: str, intent: str = "search_product",
            attributes: Optional[Mapping[str, object]] = None) -> Example:
    text, entities, problems = parse_annotated(annotated)
    assert not problems
    return Example("t.yml", 1, intent, annotated, text, entities, attributes)


def test_a_chatty_request_loses_its_request_words_and_keeps_every_span() -> None:
    segments = terse_segments(parse(
        "Hi, I'm looking for some [red](color) [running shoes](product_type) for my [son](recipient), "
        "[size 5](size) please"
    ))
    assert segments == [("red", "color"), ("running shoes", "product_type"), ("boys", None),
                        ("size 5", "size")]


def test_apostrophes_and_case_go_but_span_words_stay_in_their_spans() -> None:
    segments = terse_segments(parse("Do you have [Men's](recipient) [Nike](brand) [trainers](product_type)?"))
    assert segments == [("mens", "recipient"), ("nike", "brand"), ("trainers", "product_type")]


def test_a_slip_keeps_the_first_letter_and_changes_one_letter_at_most() -> None:
    rng = random.Random(3)
    for _ in range(200):
        slipped = typo("trainers", rng)
        assert slipped[0] == "t" and abs(len(slipped) - len("trainers")) <= 1 and slipped != ""
    assert typo("red", rng) == "red"  # too short to misspell safely


def test_the_form_keeps_the_labels_only_where_the_cues_still_show_them() -> None:
    son = example("looking for a [lego](brand) [set](product_type) for my [son](recipient)",
                  attributes={"gender": "male", "age_group": "kid", "gift": "false"})
    form = terse_form(son, random.Random(1), set(), DEFAULT_ATTRIBUTES)
    assert form is not None
    assert plain_text(form.annotated).endswith("boys")
    assert dict(form.attributes)["gender"] == "male" and dict(form.attributes)["age_group"] == "kid"
    # "girls" says kid where "daughter" did not: no form rather than a label the text does not carry
    daughter = example("I want [pjs](product_type) for my [daughter](recipient)",
                       attributes={"gender": "female", "age_group": "unknown", "gift": "false"})
    assert terse_form(daughter, random.Random(1), set(), DEFAULT_ATTRIBUTES) is None


def test_already_terse_or_taken_texts_give_no_form() -> None:
    terse = example("[red](color) [dress](product_type)")
    assert terse_form(terse, random.Random(0), set(), DEFAULT_ATTRIBUTES) is None
    chatty = example("I need a [red](color) [dress](product_type) please")
    form = terse_form(chatty, random.Random(5), set(), DEFAULT_ATTRIBUTES)
    assert form is not None and [e for _, e in parse(form.annotated) if e] == ["color", "product_type"]
    taken = {normalise_for_dedup(plain_text(form.annotated))}
    assert terse_form(chatty, random.Random(5), taken, DEFAULT_ATTRIBUTES) is None


def test_generation_is_deterministic_and_respects_the_quota_per_intent() -> None:
    sources = [example(f"I'm looking for a [red](color) [dress](product_type) in [size {n}](size) please")
               for n in range(4, 30)]
    first = terse_forms(sources, set(), seed=7)
    assert first == terse_forms(sources, set(), seed=7)
    assert 0 < len(first) <= len(sources)
    assert all(not plain_text(form.annotated).startswith("im ") for form in first)
