"""The review queue, review actions and the export of reviewed labels into NLU data (learning/review.py,
learning/export.py), on a temporary SQLite database with rows inserted directly."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.engine import Engine

from common.schema import DEFAULT_ATTRIBUTES
from learning import review
from learning.db import ACCEPTED, AUTO, CORRECTED, SKIPPED, get_engine, messages, reset_engines, suggestions
from learning.export import REVIEWED_FILENAME, REVIEWED_SUBDIR, export_reviewed, is_heldout
from learning.review import QueueFilter, ReviewError
from nlu.tools.validate_data import DEFAULT_HELDOUT, DEFAULT_HELDOUTS, load_examples, validate

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CONFIDENT = {
    "gender": {"value": "female", "confidence": 0.9, "source": "model"},
    "age_group": {"value": "adult", "confidence": 0.3, "source": "model"},  # below the neutral rule
    "gift": {"value": True, "confidence": 0.8, "source": "model+cues"},
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield get_engine(f"sqlite:///{tmp_path}/x.db")
    reset_engines()


def add(
    engine: Engine,
    text: str,
    doubt: float = 0.5,
    intent: str = "search_product",
    entities: Optional[List[Dict[str, Any]]] = None,
    attributes: Optional[Dict[str, Any]] = None,
    minutes: int = 0,
    channel: str = "webchat",
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            messages.insert().values(
                sender_id="s1",
                channel=channel,
                text=text,
                text_key=" ".join(text.lower().split()),
                intent=intent,
                intent_confidence=1 - doubt,
                intent_ranking=[{"name": intent, "confidence": 1 - doubt}],
                entities=entities or [],
                attributes=attributes or {},
                replies=[],
                model_id="m1",
                redactions={},
                doubt=doubt,
                created_at=T0 + timedelta(minutes=minutes),
            )
        )
        return int(result.inserted_primary_key[0])


def span(text: str, word: str, entity: str) -> Dict[str, Any]:
    start = text.index(word)
    return {"start": start, "end": start + len(word), "entity": entity, "value": word}


def texts(page: review.QueuePage) -> List[str]:
    return [item.text for item in page.items]


def row(engine: Engine, message_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


# ------------------------------------------------------------------------------------------- the queue


def test_queue_is_doubt_first_and_collapses_identical_texts_to_the_most_recent(engine: Engine) -> None:
    add(engine, "socks", doubt=0.2)
    old = add(engine, "Red  shoes", doubt=0.4, minutes=1)
    add(engine, "hello there", doubt=0.9, intent="greet")
    newest = add(engine, "red shoes", doubt=0.7, minutes=5)
    page = review.queue(engine, QueueFilter())
    assert texts(page) == ["hello there", "red shoes", "socks"]
    assert page.total == 3
    shoes = page.items[1]
    assert (shoes.message_id, shoes.count, shoes.doubt, shoes.state) == (newest, 2, 0.7, AUTO)
    assert old != newest
    as_json = shoes.to_json()
    assert as_json["created_at"] == "2026-11-01T12:05:00+00:00" and as_json["count"] == 2


def test_filters_narrow_the_queue(engine: Engine) -> None:
    add(engine, "blue jeans", doubt=0.8, channel="voice", minutes=0)
    add(engine, "thanks a lot", doubt=0.6, intent="thanks", minutes=10)
    add(engine, "cheap jeans for kids", doubt=0.3, minutes=20)
    reviewed = add(engine, "a lamp", doubt=0.5, minutes=30)
    review.skip(engine, reviewed, "ann")

    def shown(**kwargs: Any) -> List[str]:
        return texts(review.queue(engine, QueueFilter(**kwargs)))

    assert shown(intent="thanks") == ["thanks a lot"]
    assert shown(channel="voice") == ["blue jeans"]
    assert shown(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=25)) == [
        "thanks a lot",
        "cheap jeans for kids",
    ]
    assert shown(min_doubt=0.5, max_doubt=0.7) == ["thanks a lot", "a lamp"]
    assert shown(text="JEANS") == ["blue jeans", "cheap jeans for kids"]
    assert shown(state="unreviewed") == ["blue jeans", "thanks a lot", "cheap jeans for kids"]
    assert shown(state=SKIPPED) == ["a lamp"]
    assert shown(state="reviewed") == []
    with pytest.raises(ReviewError):
        shown(state="nonsense")


def test_near_duplicates_are_spread_behind_more_diverse_items(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review, "SPREAD_BLOCK", 4)
    add(engine, "red running shoes for men size 9", doubt=0.95)
    add(engine, "red running shoes for men size 10", doubt=0.9)
    add(engine, "red running shoes for men size 11", doubt=0.85)
    for doubt, text in ((0.5, "a gift for my dad"), (0.4, "thanks"), (0.3, "blue scarf"), (0.2, "a lamp")):
        add(engine, text, doubt=doubt)
    order = texts(review.queue(engine, QueueFilter()))
    assert order == [
        "red running shoes for men size 9",
        "a gift for my dad",
        "thanks",
        "blue scarf",
        "red running shoes for men size 10",
        "a lamp",
        "red running shoes for men size 11",
    ]
    # pages are slices of the same order
    assert texts(review.queue(engine, QueueFilter(), limit=3, offset=3)) == order[3:6]


def test_same_intent_and_product_words_count_as_near_duplicates(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review, "SPREAD_BLOCK", 2)
    first, second = "any trainers going cheap", "trainers with lights for my son"
    add(engine, first, doubt=0.9, entities=[span(first, "trainers", "product_type")])
    add(engine, second, doubt=0.8, entities=[span(second, "trainers", "product_type")])
    add(engine, "hello", doubt=0.1, intent="greet")
    assert texts(review.queue(engine, QueueFilter())) == [first, "hello", second]


def test_messages_with_suggestions_get_a_doubt_bonus_and_show_their_evidence(engine: Engine) -> None:
    add(engine, "boots", doubt=0.6)
    hinted = add(engine, "shoes for my girl", doubt=0.2)
    rephrase = add(engine, "I meant for my daughter", doubt=0.1, minutes=1)
    with engine.begin() as conn:
        conn.execute(
            suggestions.insert().values(
                message_id=hinted,
                kind="rephrase",
                label={"attributes": {"gender": "female"}},
                evidence="the shopper rephrased",
                related_message_id=rephrase,
                created_at=T0,
            )
        )
    page = review.queue(engine, QueueFilter())
    assert texts(page)[0] == "shoes for my girl"
    (suggestion,) = page.items[0].to_json()["suggestions"]
    assert suggestion["kind"] == "rephrase"
    assert suggestion["related_text"] == "I meant for my daughter"
    assert suggestion["label"] == {"attributes": {"gender": "female"}}


# -------------------------------------------------------------------------------------------- labels


def test_validate_label_snaps_spans_to_words_and_fills_neutral_attributes() -> None:
    text = "  cheap Leather boots please"
    label = review.validate_label(
        text,
        {
            "intent": "search_product",
            "entities": [
                {"start": 16, "end": 20, "entity": "product_type", "value": "ignored"},
                {"start": 7, "end": 12, "entity": "material"},  # " Leat": space trimmed, word completed
            ],
            "attributes": {"gift": "True"},
        },
    )
    assert label["entities"] == [
        {"start": 8, "end": 15, "entity": "material", "value": "Leather"},
        {"start": 16, "end": 21, "entity": "product_type", "value": "boots"},
    ]
    assert label["attributes"] == {"gender": "unknown", "age_group": "unknown", "gift": True}


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ({"intent": "buy_now"}, "unknown intent"),
        ({"intent": "nlu_fallback"}, "unknown intent"),
        ({"intent": "greet", "entities": [{"start": 0, "end": 3, "entity": "colour"}]}, "entity type"),
        ({"intent": "greet", "entities": [{"start": 5, "end": 40, "entity": "color"}]}, "outside"),
        ({"intent": "greet", "entities": [{"start": 3, "end": 4, "entity": "color"}]}, "white space"),
        ({"intent": "greet", "entities": [{"start": True, "end": 3, "entity": "color"}]}, "integers"),
        (
            {
                "intent": "greet",
                "entities": [
                    {"start": 0, "end": 3, "entity": "color"},
                    {"start": 1, "end": 9, "entity": "product_type"},
                ],
            },
            "overlap",
        ),
        ({"intent": "greet", "attributes": {"mood": "happy"}}, "unknown attribute"),
        ({"intent": "greet", "attributes": {"gender": "other"}}, "unknown value"),
        ({"intent": "greet", "extra": 1}, "unknown label field"),
        ("greet", "must be an object"),
    ],
)
def test_validate_label_rejects_bad_input(label: Any, message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        review.validate_label("red shoes", label)


# ------------------------------------------------------------------------------------------ actions


def test_accept_labels_the_whole_group_with_the_models_parse(engine: Engine) -> None:
    text = "red shoes for my wife"
    entities = [span(text, "red", "color"), span(text, "shoes", "product_type")]
    first = add(engine, text, entities=entities, attributes=CONFIDENT)
    first_row = row(engine, first)
    copy = add(engine, "Red   shoes for my wife", minutes=3)
    other = add(engine, "lamps", doubt=0.9)
    label = review.accept(engine, first, "ann")
    assert label["intent"] == "search_product"
    assert label["attributes"] == {"gender": "female", "age_group": "unknown", "gift": True}
    assert row(engine, copy).state == ACCEPTED and row(engine, first).state == ACCEPTED
    copy_label = row(engine, copy).label
    assert [(e["start"], e["end"], e["value"]) for e in copy_label["entities"]] == [
        (0, 3, "Red"),
        (6, 11, "shoes"),
    ]
    assert row(engine, other).state == AUTO
    assert first_row.state == AUTO
    (item,) = review.queue(engine, QueueFilter(state="reviewed")).items
    assert item.message_id == copy and item.label == copy_label and item.count == 2


def test_accepting_a_fallback_parse_is_refused(engine: Engine) -> None:
    message = add(engine, "wifi password", intent="nlu_fallback")
    with pytest.raises(ReviewError, match="unknown intent 'nlu_fallback'"):
        review.accept(engine, message, "ann")
    with pytest.raises(ReviewError, match="no message"):
        review.accept(engine, 999, "ann")


def test_correct_skip_and_undo_revert_whole_groups_in_order(engine: Engine) -> None:
    first = add(engine, "blue hat", attributes=CONFIDENT)
    copy = add(engine, "Blue hat", minutes=1)
    corrected = review.correct(
        engine,
        first,
        {"intent": "search_product", "entities": [{"start": 5, "end": 8, "entity": "product_type"}]},
        "ann",
    )
    assert corrected["entities"][0]["value"] == "hat"
    assert {row(engine, m).state for m in (first, copy)} == {CORRECTED}
    review.skip(engine, copy, "ann")
    assert {row(engine, m).state for m in (first, copy)} == {SKIPPED}
    assert row(engine, copy).label is None

    assert review.undo(engine, "ann") == copy
    assert {row(engine, m).state for m in (first, copy)} == {CORRECTED}
    assert row(engine, copy).label == corrected
    assert review.undo(engine, "ann") == first
    assert {row(engine, m).state for m in (first, copy)} == {AUTO}
    assert row(engine, first).label is None and row(engine, first).reviewed_by is None
    assert review.undo(engine, "ann") is None


def test_undo_is_per_user_and_leaves_a_later_change_by_someone_else(engine: Engine) -> None:
    message = add(engine, "green scarf")
    review.accept(engine, message, "ann")
    review.skip(engine, message, "bob")
    assert review.undo(engine, "ann") == message
    assert row(engine, message).state == SKIPPED  # bob's skip stands
    assert review.undo(engine, "bob") == message
    assert row(engine, message).state == ACCEPTED


def test_undo_works_like_a_stack(engine: Engine) -> None:
    one, two, three = add(engine, "one hat"), add(engine, "two hats"), add(engine, "three hats")
    review.accept(engine, one, "ann")
    review.accept(engine, two, "ann")
    assert review.undo(engine, "ann") == two
    review.skip(engine, three, "ann")
    assert review.undo(engine, "ann") == three
    assert review.undo(engine, "ann") == one
    assert review.undo(engine, "ann") is None
    assert [row(engine, m).state for m in (one, two, three)] == [AUTO] * 3


def test_remap_label_keeps_spans_across_spacing_and_finds_values_in_other_texts() -> None:
    label = review.validate_label(
        "Red shoes and red socks",
        {
            "intent": "search_product",
            "entities": [
                {"start": 0, "end": 3, "entity": "color"},
                {"start": 14, "end": 17, "entity": "color"},
                {"start": 18, "end": 23, "entity": "product_type"},
            ],
        },
    )
    spaced = review.remap_label(label, "Red shoes and red socks", "red  shoes and RED socks")
    assert [(e["start"], e["end"], e["value"]) for e in spaced["entities"]] == [
        (0, 3, "red"),
        (15, 18, "RED"),
        (19, 24, "socks"),
    ]
    other = review.remap_label(label, "Red shoes and red socks", "<PERSON> wants red or red socks")
    assert [(e["start"], e["value"]) for e in other["entities"]] == [(15, "red"), (22, "red"), (26, "socks")]


def test_bulk_accept_touches_only_the_filtered_unreviewed_set_and_undoes_as_one(engine: Engine) -> None:
    jeans = [add(engine, "blue jeans"), add(engine, "cheap jeans"), add(engine, "jeans for kids")]
    done = add(engine, "black jeans")
    review.correct(engine, done, {"intent": "refine_search"}, "ann")
    fallback = add(engine, "jeans wifi", intent="nlu_fallback")
    other = add(engine, "a red lamp")
    assert review.bulk_accept(engine, QueueFilter(text="jeans"), "bob") == 3
    assert [row(engine, m).state for m in jeans] == [ACCEPTED] * 3
    assert row(engine, done).state == CORRECTED and row(engine, done).label["intent"] == "refine_search"
    assert row(engine, fallback).state == AUTO and row(engine, other).state == AUTO
    assert review.bulk_accept(engine, QueueFilter(text="jeans", state="reviewed"), "bob") == 0
    review.undo(engine, "bob")
    assert [row(engine, m).state for m in jeans] == [AUTO] * 3


def test_agreement_compares_labels_with_the_models_parse(engine: Engine) -> None:
    kept = add(
        engine, "red shoes", attributes=CONFIDENT, entities=[span("red shoes", "shoes", "product_type")]
    )
    changed = add(engine, "blue hat", attributes=CONFIDENT)
    add(engine, "lamp")
    assert review.agreement(engine)["intent"] is None
    review.accept(engine, kept, "ann")
    review.correct(
        engine,
        changed,
        {"intent": "refine_search", "attributes": {"gender": "female", "gift": False}},
        "ann",
    )
    stats = review.agreement(engine)
    assert stats["reviewed"] == 2
    assert stats["intent"] == 0.5 and stats["entities"] == 1.0
    assert stats["attributes"] == {"gender": 1.0, "age_group": 1.0, "gift": 0.5}
    assert stats["states"] == {AUTO: 1, ACCEPTED: 1, CORRECTED: 1, SKIPPED: 0}


# ------------------------------------------------------------------------------------------- export


def _reviewed(engine: Engine, text: str, label: Dict[str, Any]) -> int:
    message = add(engine, text)
    review.correct(engine, message, label, "ann")
    return message


def _train_file(data_dir: Path) -> Path:
    return data_dir / REVIEWED_SUBDIR / REVIEWED_FILENAME


def test_export_writes_nlu_yaml_that_rasa_reads_back(engine: Engine, tmp_path: Path) -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    tricky = "  [Blue] <PERSON>'s  boots:\tsize (8) please #1 "
    plain = "gift for my [dad] wrapped"
    candidates = [
        (tricky, [(4, 7, "color"), (21, 26, "product_type"), (34, 35, "size")]),
        (plain, [(12, 17, "recipient")]),
        ("red hat for my baby", [(0, 3, "color"), (4, 7, "product_type")]),
        ("green socks for my brother", [(0, 5, "color"), (6, 11, "product_type")]),
    ]
    for text, spans in candidates:
        entities = [{"start": s, "end": e, "entity": k} for s, e, k in spans]
        _reviewed(
            engine,
            text,
            {
                "intent": "search_product",
                "entities": entities,
                "attributes": {"gift": True, "gender": "male"},
            },
        )
    result = export_reviewed(engine, tmp_path / "data", tmp_path / "heldout.yml")
    train_path = _train_file(tmp_path / "data")
    assert result.paths == [train_path, tmp_path / "heldout.yml"]
    assert result.train_count + result.heldout_count == 4
    content = train_path.read_text(encoding="utf-8")
    assert content.startswith("# Generated by the Shopcue review console")
    assert "Do not edit by hand" in content

    loaded = {m.get("text"): m for m in load_data(str(train_path)).training_examples}
    loaded.update({m.get("text"): m for m in load_data(str(tmp_path / "heldout.yml")).training_examples})
    written = "(Blue) <PERSON>'s boots: size (8) please #1"
    assert set(loaded) == {
        written,
        "gift for my (dad) wrapped",
        "red hat for my baby",
        "green socks for my brother",
    }
    message = loaded[written]
    assert message.get("intent") == "search_product"
    assert [(e["value"], e["entity"]) for e in message.get("entities")] == [
        ("Blue", "color"),
        ("boots", "product_type"),
        ("8", "size"),
    ]
    for entity in message.get("entities"):
        assert written[entity["start"] : entity["end"]] == entity["value"]
    assert message.get("metadata")["example"]["attributes"] == {
        "gender": "male",
        "age_group": "unknown",
        "gift": True,
    }
    assert loaded["gift for my (dad) wrapped"].get("entities")[0]["value"] == "(dad)"

    again = export_reviewed(engine, tmp_path / "data", tmp_path / "heldout.yml")
    assert again == result and train_path.read_text(encoding="utf-8") == content


def test_export_keeps_heldout_and_training_texts_apart(engine: Engine, tmp_path: Path) -> None:
    heldout_text = load_examples(DEFAULT_HELDOUT)[0].text
    data_dir = tmp_path / "data"
    (data_dir / "nlu").mkdir(parents=True)
    (data_dir / "nlu" / "chat.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hiya\n', encoding="utf-8"
    )
    _reviewed(engine, heldout_text, {"intent": "search_product"})
    _reviewed(engine, "HIYA", {"intent": "greet"})
    reviewed_texts = [f"show me lamp number {n}" for n in range(30)]
    for text in reviewed_texts:
        _reviewed(engine, text, {"intent": "search_product"})
    skipped = add(engine, "a skipped text")
    review.skip(engine, skipped, "ann")

    result = export_reviewed(engine, data_dir, tmp_path / "heldout_reviewed.yml")
    assert (result.skipped_heldout_duplicates, result.skipped_training_duplicates) == (1, 1)
    train = {e.text for e in load_examples(_train_file(data_dir))}
    heldout = {e.text for e in load_examples(tmp_path / "heldout_reviewed.yml")}
    assert train | heldout == set(reviewed_texts)
    assert not train & heldout
    assert heldout == {t for t in reviewed_texts if is_heldout(t)}
    assert 0 < len(heldout) < len(train)
    project_heldout = {e.text.lower() for path in DEFAULT_HELDOUTS for e in load_examples(path)}
    assert not {t.lower() for t in train} & project_heldout


def test_export_leaves_out_labels_the_schema_no_longer_accepts(engine: Engine, tmp_path: Path) -> None:
    good = add(engine, "show me lamp number 2")
    review.accept(engine, good, "ann")
    stale = add(engine, "show me lamp number 4")
    with engine.begin() as conn:
        conn.execute(
            messages.update()
            .where(messages.c.id == stale)
            .values(state=ACCEPTED, label={"intent": "old_intent", "entities": [], "attributes": {}})
        )
    result = export_reviewed(engine, tmp_path / "data", tmp_path / "heldout.yml")
    assert (result.train_count, result.heldout_count, result.skipped_invalid) == (1, 0, 1)


def test_the_data_validator_passes_on_an_export_and_checks_reviewed_files(
    engine: Engine, tmp_path: Path
) -> None:
    for n in range(10):
        text = f"[red] shoes size {n} for my wife"
        _reviewed(
            engine,
            text,
            {
                "intent": "search_product",
                "entities": [{"start": 6, "end": 11, "entity": "product_type"}],
                "attributes": {"gender": "male"},  # the cue word says female: a person's label wins
            },
        )
    data_dir, heldout_path = tmp_path / "data", tmp_path / "heldout_reviewed.yml"
    export_reviewed(engine, data_dir, heldout_path)
    heldouts = [*DEFAULT_HELDOUTS, heldout_path]
    problems, count = validate([data_dir, *heldouts], DEFAULT_ATTRIBUTES, heldouts, base=tmp_path)
    assert [str(p) for p in problems] == []
    assert count == 10 + sum(len(load_examples(path)) for path in DEFAULT_HELDOUTS)

    leaked = load_examples(DEFAULT_HELDOUT)[0].text
    train_path = _train_file(data_dir)
    train_path.write_text(
        train_path.read_text(encoding="utf-8")
        + f"- intent: greet\n  examples:\n  - text: |\n      {leaked}\n",
        encoding="utf-8",
    )
    problems, _ = validate([data_dir, *heldouts], DEFAULT_ATTRIBUTES, heldouts, base=tmp_path)
    messages_ = [str(p) for p in problems]
    assert any("reviewed example without attribute label(s): gender, age_group, gift" in m for m in messages_)
    assert any(
        f"held-out text '{leaked}' is also in training (data/nlu/reviewed/console.yml:" in m
        for m in messages_
    )


def test_rasa_reads_the_reviewed_file_from_the_data_folder(engine: Engine, tmp_path: Path) -> None:
    from rasa.shared.importers.importer import TrainingDataImporter

    _reviewed(engine, "show me lamp number 1", {"intent": "search_product"})
    _reviewed(engine, "show me lamp number 2", {"intent": "search_product"})
    result = export_reviewed(engine, tmp_path / "data", tmp_path / "heldout.yml")
    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "bot" / "domain.yml"), [str(tmp_path / "data")]
    )
    read = {m.get("text") for m in importer.get_nlu_data().intent_examples}
    written = {e.text for e in load_examples(_train_file(tmp_path / "data"))}
    assert result.train_count == len(written) > 0
    assert read == written


@pytest.mark.timeout(600)
def test_rasa_data_validate_passes_with_a_reviewed_file(engine: Engine, tmp_path: Path) -> None:
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    data_dir = tmp_path / "data"
    shutil.copytree(ROOT / "data", data_dir, ignore=shutil.ignore_patterns("reviewed"))
    _reviewed(
        engine,
        "a [sparkly] jumper for my nan",
        {"intent": "search_product", "entities": [{"start": 12, "end": 18, "entity": "product_type"}]},
    )
    _reviewed(engine, "hello", {"intent": "greet"})  # in the hand-written data already: skipped
    _reviewed(engine, "tell me about number two please", {"intent": "product_details"})
    result = export_reviewed(engine, data_dir, tmp_path / "heldout.yml")
    assert result.skipped_training_duplicates == 1
    assert yaml.safe_load(_train_file(data_dir).read_text(encoding="utf-8"))["version"] == "3.1"
    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "bot" / "domain.yml"), [str(data_dir)]
    )
    try:
        validate_files(fail_on_warnings=True, max_history=None, importer=importer)
    except SystemExit as exit_:
        pytest.fail(f"rasa data validate failed (exit {exit_.code}) with a reviewed file present")
