"""The shipped NLU data passes the project validator and `rasa data validate`; each check fires."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from common.schema import DEFAULT_ATTRIBUTES, ENTITY_TYPES, INTENTS
from nlu.pipeline_config import attribute_schema_of
from nlu.tools.generate_data import (
    DEFAULT_EXCLUDE,
    DEFAULT_OUT,
    DEFAULT_SEED,
    DEFAULT_SPOKEN_OUT,
    DEFAULT_VOCAB,
    HAND_WRITTEN,
    SPOKEN_HELDOUT_SEED,
    SPOKEN_SEED,
    SPOKEN_SHARE,
    existing_texts,
    generate,
    generated_texts,
    hand_written_examples,
    load_vocab,
    spoken_heldout,
    spoken_heldout_yaml,
    spoken_variants,
    spoken_variants_yaml,
    to_yaml,
)
from nlu.tools.validate_data import DEFAULT_HELDOUT, DEFAULT_SPOKEN_HELDOUT, load_examples, validate

ROOT = Path(__file__).resolve().parent.parent


def _write(path: Path, body: str) -> Path:
    path.write_text('version: "3.1"\nnlu:\n' + body, encoding="utf-8")
    return path


def _messages(tmp_path: Path, body: str, heldout_body: str | None = None) -> List[str]:
    train = _write(tmp_path / "train.yml", body)
    paths = [train]
    heldout = None
    if heldout_body is not None:
        heldout = _write(tmp_path / "heldout.yml", heldout_body)
        paths.append(heldout)
    problems, _ = validate(paths, DEFAULT_ATTRIBUTES, heldout, base=tmp_path)
    return [str(p) for p in problems]


def test_shipped_data_and_heldout_pass_the_validator() -> None:
    problems, count = validate([ROOT / "data", DEFAULT_HELDOUT], DEFAULT_ATTRIBUTES, DEFAULT_HELDOUT, ROOT)
    assert [str(p) for p in problems] == []
    assert count > 4000


def test_shipped_data_covers_every_intent_and_entity_type() -> None:
    examples = [ex for f in sorted((ROOT / "data" / "nlu").rglob("*.yml")) for ex in load_examples(f)]
    assert {ex.intent for ex in examples} == set(INTENTS)
    assert {e.entity for ex in examples for e in ex.entities} == set(ENTITY_TYPES)
    heldout = load_examples(DEFAULT_HELDOUT)
    assert {ex.intent for ex in heldout} == set(INTENTS)
    assert len(heldout) >= 350


def test_the_attribute_schema_is_read_from_the_joint_step_of_a_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "pipeline:\n"
        "  - name: WhitespaceTokenizer\n"
        "    attributes: {colour_family: [warm, cool]}\n"  # another step's settings are not ours
        "  - name: nlu.component.JointShoppingNLU\n"
        "    attributes: {gift: [false, true], budget_tier: [Low, high]}\n",
        encoding="utf-8",
    )
    assert attribute_schema_of(config) == {"gift": ["false", "true"], "budget_tier": ["low", "high"]}
    config.write_text("pipeline:\n  - name: nlu.component.JointShoppingNLU\n", encoding="utf-8")
    assert attribute_schema_of(config) == DEFAULT_ATTRIBUTES
    assert attribute_schema_of(tmp_path / "missing.yml") == DEFAULT_ATTRIBUTES
    assert attribute_schema_of(ROOT / "config.yml") == DEFAULT_ATTRIBUTES  # what the project ships


def test_clean_fixture_has_no_problems(tmp_path: Path) -> None:
    body = """- intent: search_product
  examples:
  - text: |
      bday present for my [10yo](age) [son](recipient)
    metadata:
      attributes: {gender: male, age_group: kid, gift: true}
- intent: greet
  examples: |
    - hi
"""
    assert _messages(tmp_path, body) == []


def test_unknown_intent_entity_attribute_and_value_are_reported_with_line(tmp_path: Path) -> None:
    body = """- intent: buy_stuff
  examples: |
    - [shoes](product_typ) please
- intent: search_product
  examples:
  - text: |
      [hoodie](product_type) for my [son](recipient)
    metadata:
      attributes: {gendr: male}
  - text: |
      [hoodie](product_type) for a [teen](recipient)
    metadata:
      attributes: {age_group: elderly}
"""
    messages = _messages(tmp_path, body)
    assert any(m.startswith("train.yml:5: unknown intent 'buy_stuff'") for m in messages), messages
    assert any(m.startswith("train.yml:5: unknown entity type 'product_typ'") for m in messages), messages
    assert any(m.startswith("train.yml:8: unknown attribute 'gendr'") for m in messages), messages
    value_problem = [m for m in messages if m.startswith("train.yml:12:")]
    assert value_problem and "elderly" in value_problem[0] and "age_group" in value_problem[0], messages


def test_span_that_cuts_a_word_and_bare_brackets_are_reported(tmp_path: Path) -> None:
    body = """- intent: search_product
  examples: |
    - something for my [mom](recipient)s birthday
    - [boots] in black
"""
    messages = _messages(tmp_path, body)
    assert any(m.startswith("train.yml:5:") and "cuts a word" in m for m in messages), messages
    assert any(m.startswith("train.yml:6:") and "no (entity_type)" in m for m in messages), messages


def test_duplicate_and_contradictory_examples_are_reported(tmp_path: Path) -> None:
    body = """- intent: search_product
  examples: |
    - [red](color) [scarf](product_type)
    - Red  [scarf](product_type)
    - [hats](product_type)
- intent: refine_search
  examples: |
    - [red](color) [scarf](product_type)
    - [hats](product_type)
"""
    messages = _messages(tmp_path, body)
    assert any(m.startswith("train.yml:6: contradicts train.yml:5") and "entities" in m for m in messages)
    assert any(m.startswith("train.yml:10: contradicts train.yml:5") and "intent" in m for m in messages)
    assert any(m.startswith("train.yml:11: contradicts train.yml:7") and "intent" in m for m in messages)
    body_dup = """- intent: greet
  examples: |
    - hello
    - hello
"""
    assert _messages(tmp_path, body_dup) == ["train.yml:6: duplicate of train.yml:5: 'hello'"]


def test_heldout_text_in_training_is_reported(tmp_path: Path) -> None:
    train = """- intent: greet
  examples: |
    - hey there
"""
    heldout = """- intent: greet
  examples: |
    - hey there
    - good evening
"""
    messages = _messages(tmp_path, train, heldout)
    assert messages == ["heldout.yml:5: held-out text 'hey there' is also in training (train.yml:5)"]


def test_weak_label_contradicting_explicit_label_is_reported(tmp_path: Path) -> None:
    body = """- intent: search_product
  examples:
  - text: |
      necklace for my [wife](recipient)
    metadata:
      attributes: {gender: male}
"""
    messages = _messages(tmp_path, body)
    assert len(messages) == 1
    assert messages[0].startswith("train.yml:5: weak label contradicts explicit label: gender")


def test_cli_reports_malformed_yaml_with_file_and_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    broken = 'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n  - oops: [open\n'
    bad.write_text(broken, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "nlu.tools.validate_data", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "bad.yml:6: malformed YAML" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_cli_exit_code_is_zero_on_clean_data(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.yml", "- intent: greet\n  examples: |\n    - hi\n")
    command = [sys.executable, "-m", "nlu.tools.validate_data", str(good)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 examples checked: no problems" in run.stdout


def test_generated_file_is_reproduced_byte_for_byte() -> None:
    vocab = load_vocab(DEFAULT_VOCAB)
    examples = generate(vocab, DEFAULT_SEED, existing_texts(DEFAULT_EXCLUDE))
    expected = to_yaml(examples, DEFAULT_SEED, str(DEFAULT_VOCAB.relative_to(ROOT)))
    hint = "run `python -m nlu.tools.generate_data` and commit"
    assert DEFAULT_OUT.read_text(encoding="utf-8") == expected, hint


def test_generator_seed_changes_output_and_labels_match_cues() -> None:
    vocab = load_vocab(DEFAULT_VOCAB)
    small = {**vocab, "counts": {"search_product": 60}}
    first = generate(small, seed=1)
    assert first == generate(small, seed=1)
    assert first != generate(small, seed=2)
    gifts = [dict(ex.attributes)["gift"] for ex in first]
    assert {"true", "false"} <= set(gifts)


@pytest.mark.timeout(600)
def test_rasa_data_validate_passes_without_warnings() -> None:
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "bot" / "domain.yml"), [str(ROOT / "data")]
    )
    try:
        validate_files(fail_on_warnings=True, max_history=None, importer=importer)
    except SystemExit as exit_:
        pytest.fail(f"rasa data validate failed (exit {exit_.code}); run it to see the warnings")


def test_generator_product_cues_agree_with_the_cue_lexicon() -> None:
    from nlu.weak_labels import label_attributes

    vocab = load_vocab(DEFAULT_VOCAB)
    for family in vocab["families"].values():
        for entry in family["product_types"]:
            if isinstance(entry, dict) and entry.get("attrs"):
                cues = label_attributes(str(entry["text"]))
                assert {k: str(v) for k, v in entry["attrs"].items()}.items() <= cues.items(), entry


def test_generator_keeps_filler_of_outside_quantity_spans() -> None:
    vocab = load_vocab(DEFAULT_VOCAB)
    small = {
        **vocab,
        "quantity_forms": ["a pair of", "2"],
        "counts": {"search_product": 400, "add_to_cart": 200},
    }
    examples = generate(small, seed=3)
    annotated = [example.annotated for example in examples]
    assert any("[a pair](quantity) of " in text for text in annotated)
    assert not any(" of](quantity)" in text or text.rstrip().endswith(" of") for text in annotated)


def test_spoken_heldout_text_in_training_is_refused_but_the_same_example_in_both_splits_is_not(
    tmp_path: Path,
) -> None:
    train = _write(tmp_path / "train.yml", "- intent: greet\n  examples: |\n    - um hey there\n")
    written = _write(
        tmp_path / "heldout.yml", "- intent: greet\n  examples: |\n    - hey there!\n    - hiya\n"
    )
    spoken = _write(
        tmp_path / "spoken.yml", "- intent: greet\n  examples: |\n    - um hey there\n    - hiya\n"
    )
    problems, _ = validate([train, written, spoken], DEFAULT_ATTRIBUTES, [written, spoken], base=tmp_path)
    assert [str(p) for p in problems] == [
        "spoken.yml:5: held-out text 'um hey there' is also in training (train.yml:5)"
    ]


def test_the_shipped_spoken_heldout_split_passes_the_validator_as_held_out() -> None:
    heldouts = [DEFAULT_HELDOUT, DEFAULT_SPOKEN_HELDOUT]
    problems, count = validate([ROOT / "data", *heldouts], DEFAULT_ATTRIBUTES, heldouts, ROOT)
    assert [str(p) for p in problems] == []
    assert count > 4000 + 2 * len(load_examples(DEFAULT_HELDOUT))


def test_spoken_files_are_reproduced_byte_for_byte() -> None:
    hint = "run `python -m nlu.tools.generate_data` and commit"
    heldout = spoken_heldout(load_examples(DEFAULT_HELDOUT), existing_texts([HAND_WRITTEN]))
    assert DEFAULT_SPOKEN_HELDOUT.read_text(encoding="utf-8") == spoken_heldout_yaml(
        heldout, SPOKEN_HELDOUT_SEED
    ), hint
    avoid = existing_texts(DEFAULT_EXCLUDE) | generated_texts(DEFAULT_OUT)
    variants = spoken_variants(hand_written_examples(), avoid)
    expected = spoken_variants_yaml(variants, SPOKEN_SEED, SPOKEN_SHARE)
    assert DEFAULT_SPOKEN_OUT.read_text(encoding="utf-8") == expected, hint
