"""The test model's data sample: every intent, entity type and attribute value kept, bounded, repeatable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Set

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from common.schema import INTENTS, METADATA_ATTRIBUTES_KEY
from nlu.pipeline_config import attribute_schema_of
from nlu.tools.sample_data import DEFAULT_MAX_WORDS, DEFAULT_PROPORTIONAL, features, write_sample
from nlu.tools.validate_data import Example, load_examples
from nlu.words import pre_tokenize

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
PER_INTENT = 12


def _examples(folder: Path) -> List[Example]:
    return [ex for path in sorted(folder.rglob("*.yml")) for ex in load_examples(path)]


def _labels_by_intent(examples: List[Example]) -> Dict[str, Set]:
    schema = attribute_schema_of()
    out: Dict[str, Set] = defaultdict(set)
    for example in examples:
        out[example.intent] |= features(example, schema)
    return dict(out)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample(DATA, out, per_intent=PER_INTENT, seed=3)
    return out


def test_every_intent_keeps_each_entity_type_and_attribute_value_it_has_in_full_data(sample: Path) -> None:
    # Per intent, because the model drops entity types an intent never carried in training.
    assert _labels_by_intent(_examples(sample)) == _labels_by_intent(_examples(DATA))


def test_the_sample_is_small_and_its_size_does_not_follow_the_data(sample: Path, tmp_path: Path) -> None:
    full, sampled = _examples(DATA), _examples(sample)
    # The bound comes from the settings alone (each intent's cover fits in its quota; shares round up).
    bound = len(INTENTS) * (PER_INTENT + 1) + DEFAULT_PROPORTIONAL
    assert len(sampled) <= bound
    assert len(sampled) < len(full) / 10
    bigger = tmp_path / "bigger"
    shutil.copytree(DATA, bigger)
    extra = bigger / "nlu" / "more.yml"
    searches = [ex.annotated for ex in full if ex.intent == "search_product"]
    lines = [f"    - {annotated} please{n}" for n in range(3) for annotated in searches][:3000]
    header = 'version: "3.1"\nnlu:\n- intent: search_product\n  examples: |\n'
    extra.write_text(header + "\n".join(lines) + "\n")
    resampled = tmp_path / "resampled"
    write_sample(bigger, resampled, per_intent=PER_INTENT, seed=3)
    assert len(_examples(bigger)) > len(full) + 2000
    assert len(_examples(resampled)) <= bound


def test_long_examples_come_only_for_a_label_no_short_one_carries(sample: Path) -> None:
    schema = attribute_schema_of()
    short_labels: Set = set()
    for example in _examples(DATA):
        if len(pre_tokenize(example.text)) <= DEFAULT_MAX_WORDS:
            short_labels |= {(example.intent, label) for label in features(example, schema)}
    long = [ex for ex in _examples(sample) if len(pre_tokenize(ex.text)) > DEFAULT_MAX_WORDS]
    for example in long:
        assert {(example.intent, label) for label in features(example, schema)} - short_labels, example.text


def test_a_wording_the_caller_names_is_in_the_sample(tmp_path: Path) -> None:
    def selling(folder: Path) -> List[str]:
        return [ex.text for ex in _examples(folder) if "do you sell" in ex.text.lower()]

    write_sample(DATA, tmp_path, per_intent=PER_INTENT, seed=3, keep_phrases=["Do you SELL"])
    assert 1 <= len(selling(tmp_path)) <= len(selling(DATA))
    assert all(len(pre_tokenize(text)) <= DEFAULT_MAX_WORDS for text in selling(tmp_path))


def test_the_same_seed_writes_the_same_sample_and_another_seed_another(sample: Path, tmp_path: Path) -> None:
    write_sample(DATA, tmp_path / "again", per_intent=PER_INTENT, seed=3)
    write_sample(DATA, tmp_path / "other", per_intent=PER_INTENT, seed=4)
    files = sorted(p.relative_to(sample) for p in sample.rglob("*") if p.is_file())
    assert all((sample / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)
    assert any((sample / f).read_bytes() != (tmp_path / "other" / f).read_bytes() for f in files)


def test_stories_rules_and_lexicon_are_copied_unchanged(sample: Path) -> None:
    others = [p for p in DATA.rglob("*") if p.is_file() and not load_examples(p)]
    assert {p.name for p in others} >= {"stories.yml", "rules.yml", "attribute_cues.yml"}
    for path in others:
        assert (sample / path.relative_to(DATA)).read_bytes() == path.read_bytes(), path


def test_synonym_blocks_stay_and_explicit_attributes_reach_rasa(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "nlu").mkdir(parents=True)
    (data / "nlu" / "a.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: greet\n  examples: |\n    - hi\n    - hello there\n"
        "- intent: search_product\n  examples:\n"
        "  - text: a [scarf](product_type) for my [gran](recipient)\n"
        "    metadata:\n      attributes: {gender: female, age_group: adult, gift: true}\n"
        "- synonym: scarf\n  examples: |\n    - scarves\n"
    )
    out = tmp_path / "out"
    write_sample(data, out, per_intent=1, proportional=0)
    training = load_data(str(out))
    assert sorted(training.intents) == ["greet", "search_product"]
    assert len([m for m in training.intent_examples if m.get("intent") == "greet"]) == 1
    search = next(m for m in training.intent_examples if m.get("intent") == "search_product")
    assert search.get("metadata")["example"][METADATA_ATTRIBUTES_KEY] == {
        "gender": "female", "age_group": "adult", "gift": True}
    assert [(e["entity"], e["value"]) for e in search.get("entities")] == [
        ("product_type", "scarf"), ("recipient", "gran")]
    assert training.entity_synonyms == {"scarves": "scarf"}


def test_the_command_line_rejects_a_missing_folder_without_a_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "nlu.tools.sample_data", "--data", str(tmp_path / "no"), "--out", "o"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "is not a folder" in result.stderr and "Traceback" not in result.stderr


def test_an_excluded_folder_neither_reaches_the_sample_nor_changes_it(tmp_path: Path) -> None:
    """data/imported/ (git-ignored, present on some machines only) must not make the test model differ."""
    base = tmp_path / "data"
    shutil.copytree(DATA / "nlu", base / "nlu")
    write_sample(base, tmp_path / "without", per_intent=PER_INTENT, seed=3)
    (base / "imported").mkdir()
    (base / "imported" / "q.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: search_product\n  examples: |\n'
        + "".join(f"    - [widget{n}](product_type)\n" for n in range(500))
    )
    write_sample(base, tmp_path / "with", per_intent=PER_INTENT, seed=3, exclude=["imported"])
    assert not (tmp_path / "with" / "imported").exists()
    files = sorted(p.relative_to(tmp_path / "without") for p in (tmp_path / "without").rglob("*.yml"))
    assert all((tmp_path / "with" / f).read_bytes() == (tmp_path / "without" / f).read_bytes() for f in files)


def test_adding_examples_moves_few_of_the_samples_picks(tmp_path: Path) -> None:
    """The suite's model trains on the sample: data growing by a few examples must not redraw it (a
    redrawn sample has moved that small model's fallback and attribute readings before)."""
    base = tmp_path / "data"
    shutil.copytree(DATA / "nlu", base / "nlu")
    write_sample(base, tmp_path / "before", per_intent=PER_INTENT, seed=3, keep_phrases=["show me"])
    added = [f"show me the {nth} one" for nth in ("first", "second", "third", "fourth", "last")]
    (base / "nlu" / "added.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: product_details\n  examples: |\n'
        + "".join(f"    - {text}\n" for text in added)
    )
    write_sample(base, tmp_path / "after", per_intent=PER_INTENT, seed=3, keep_phrases=["show me"])
    before = {(ex.intent, ex.annotated) for ex in _examples(tmp_path / "before")}
    after = {(ex.intent, ex.annotated) for ex in _examples(tmp_path / "after")}
    assert len(before - after) <= len(added)
