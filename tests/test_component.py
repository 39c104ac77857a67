"""JointShoppingNLU as Rasa runs it: train from NLU YAML (with attribute metadata), persist, load, parse.

One tiny component (two epochs, a few dozen examples, an extra `budget_tier` attribute declared only in
the config) is trained per module; the tests then check the parse contract of docs/architecture.md and
that the persisted model loads without the encoder package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
import torch
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

import nlu.component as component_module
from common.schema import DEFAULT_ATTRIBUTES, PARSE_ATTRIBUTES_KEY, PARSE_TAGGING_CONFIDENCE_KEY
from nlu.component import JointShoppingNLU, example_attribute_labels, training_examples
from nlu.cue_fusion import SOURCE_CUES, SOURCE_MODEL_AND_CUES, fuse_attributes, fuse_with_cues
from nlu.modeling_joint import CONFIG_FILE_NAME, CONFIGURABLE_FIELDS, JointShoppingConfig
from nlu.pipeline_config import joint_step
from nlu.prediction import SOURCE_MODEL, AttributeReading

NLU_YAML = """
version: "3.1"
nlu:
- intent: search_product
  examples:
  - text: |
      bday present for my 10yo [son](recipient)
    metadata:
      attributes: {gender: male, age_group: kid, gift: true, budget_tier: mid}
  - text: |
      cheap [red](color) [nike](brand) [shoes](product_type)
    metadata:
      attributes: {budget_tier: low}
  - text: |
      luxury [leather](material) [handbag](product_type) for my [wife](recipient)
    metadata:
      attributes: {gender: female, age_group: adult, gift: true, budget_tier: high}
  - text: |
      [adidas](brand) [backpack](product_type) under [$40](price)
    metadata:
      attributes: {budget_tier: low}
  - text: |
      premium [headphones](product_type) for my [dad](recipient)
    metadata:
      attributes: {gender: male, age_group: adult, budget_tier: high}
  - text: |
      [blue](color) [dress](product_type) for my [daughter](recipient)
    metadata:
      attributes: {budget_tier: mid}
  - text: |
      [lego](product_type) set for a 7 year old
    metadata:
      attributes: {budget_tier: mid}
  - text: |
      [crib](product_type) for a newborn
    metadata:
      attributes: {budget_tier: mid}
- intent: greet
  examples: |
    - hello
    - hi there
    - hey
- intent: goodbye
  examples: |
    - bye
    - see you later
- intent: thanks
  examples: |
    - thanks a lot
    - thank you
"""

BUDGET = {"budget_tier": ["low", "mid", "high"]}


def _config(**overrides: Any) -> Dict[str, Any]:
    config = JointShoppingNLU.get_default_config()
    config.update(
        attributes={**{k: list(v) for k, v in DEFAULT_ATTRIBUTES.items()}, **BUDGET},
        epochs=2,
        batch_size=8,
        max_length=24,
        show_progress=False,
    )
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def training_data():
    data = RasaYAMLReader().reads(NLU_YAML)
    return data.merge(data).merge(data)  # three copies: a few dozen examples


@pytest.fixture(scope="module")
def storage_and_resource(tmp_path_factory: pytest.TempPathFactory, training_data):
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    resource = Resource("joint_nlu")
    context = ExecutionContext(GraphSchema({}), "test")
    component = JointShoppingNLU.create(_config(), storage, resource, context)
    returned = component.train(training_data)
    assert returned == resource
    return storage, resource


@pytest.fixture(scope="module")
def loaded(storage_and_resource) -> JointShoppingNLU:
    storage, resource = storage_and_resource
    return JointShoppingNLU.load(_config(), storage, resource, ExecutionContext(GraphSchema({}), "test"))


def _parse(component: JointShoppingNLU, *texts: str) -> list[Dict[str, Any]]:
    messages = [Message(data={"text": text}) for text in texts]
    return [m.as_dict(only_output_properties=True) for m in component.process(messages)]


def test_model_defaults_have_one_home_and_config_yml_agrees() -> None:
    component_defaults = JointShoppingNLU.get_default_config()
    model_defaults = JointShoppingConfig()
    for name in CONFIGURABLE_FIELDS:
        assert component_defaults[name] == getattr(model_defaults, name), name
    assert (model_defaults.entity_decoder, model_defaults.max_length) == ("crf", 48)
    shipped = joint_step()  # config.yml's JointShoppingNLU step
    assert (shipped["entity_decoder"], shipped["max_length"]) == ("crf", 48)


def test_metadata_labels_win_and_the_rest_is_weak_labelled(training_data) -> None:
    schema = {**DEFAULT_ATTRIBUTES, **BUDGET}
    bday = next(m for m in training_data.intent_examples if m.get("text").startswith("bday"))
    assert example_attribute_labels(bday, schema) == {
        "gender": "male",
        "age_group": "kid",
        "gift": "true",
        "budget_tier": "mid",
    }
    hello = next(m for m in training_data.intent_examples if m.get("text") == "hello")
    assert example_attribute_labels(hello, schema) == {
        "gender": "unknown",
        "age_group": "unknown",
        "gift": "false",
        "budget_tier": "low",
    }


def test_parse_output_follows_the_contract(loaded) -> None:
    (parsed,) = _parse(loaded, "cheap red nike shoes for my son")
    assert set(parsed) >= {"intent", "intent_ranking", "entities", PARSE_ATTRIBUTES_KEY}
    assert parsed["intent"]["name"] in {"search_product", "greet", "goodbye", "thanks"}
    assert 0.0 <= parsed["intent"]["confidence"] <= 1.0
    ranking = parsed["intent_ranking"]
    assert 1 <= len(ranking) <= 10 and ranking[0] == parsed["intent"]
    assert [r["confidence"] for r in ranking] == sorted((r["confidence"] for r in ranking), reverse=True)
    for entity in parsed["entities"]:
        assert set(entity) == {"entity", "start", "end", "value", "confidence_entity", "extractor"}
        assert entity["extractor"] == "JointShoppingNLU"
        assert "cheap red nike shoes for my son"[entity["start"] : entity["end"]] == entity["value"]
    attributes = parsed[PARSE_ATTRIBUTES_KEY]
    assert set(attributes) == {"gender", "age_group", "gift", "budget_tier"}  # budget_tier: config only
    assert isinstance(attributes["gift"]["value"], bool)
    assert attributes["gender"]["value"] in DEFAULT_ATTRIBUTES["gender"]
    assert attributes["budget_tier"]["value"] in BUDGET["budget_tier"]
    assert 0.0 < parsed[PARSE_TAGGING_CONFIDENCE_KEY] <= 1.0  # the tagger's reading of every word
    assert all(0.0 <= a["confidence"] <= 1.0 for a in attributes.values())
    json.dumps(parsed)  # what /model/parse sends must be plain JSON


def test_batch_parse_matches_single_parse(loaded) -> None:
    texts = ["hello", "bday present for my 10yo son", "adidas backpack under $40"]
    batched = _parse(loaded, *texts)
    single = [_parse(loaded, text)[0] for text in texts]
    for a, b in zip(batched, single, strict=True):
        assert a["intent"]["name"] == b["intent"]["name"]
        assert a["intent"]["confidence"] == pytest.approx(b["intent"]["confidence"], abs=1e-4)
        assert [(e["start"], e["end"], e["entity"]) for e in a["entities"]] == [
            (e["start"], e["end"], e["entity"]) for e in b["entities"]
        ]


@pytest.mark.parametrize("text", ["", "   ", "🛍️🎁", "\x00\x1b[2J", "подарок сыну", "x" * 10_000])
def test_edge_case_messages_parse_without_entities(loaded, text: str) -> None:
    (parsed,) = _parse(loaded, text)
    assert parsed["entities"] == []
    assert parsed["intent"]["name"]
    if not text.startswith("x"):
        assert parsed[PARSE_ATTRIBUTES_KEY]["gender"]["value"] == "unknown"
        assert parsed[PARSE_ATTRIBUTES_KEY]["gift"]["value"] is False
    if not text.strip() or text == "🛍️🎁":
        assert parsed[PARSE_TAGGING_CONFIDENCE_KEY] == 1.0  # no word to tag, nothing to doubt


def test_persisted_model_is_self_contained(storage_and_resource, loaded, monkeypatch) -> None:
    storage, resource = storage_and_resource
    with storage.read_from(resource) as directory:
        saved = json.loads((Path(directory) / CONFIG_FILE_NAME).read_text())
    assert saved["encoder_path"] is None and saved["encoder_config"]["model_type"] == "bert"
    assert saved["attributes"]["budget_tier"] == ["low", "mid", "high"]
    assert saved["entity_decoder"] == "crf"
    assert saved["intent_entity_types"]["greet"] == []  # greetings never carry entities
    assert "product_type" in saved["intent_entity_types"]["search_product"]

    def no_package() -> str:
        raise AssertionError("loading a trained model must not touch the encoder package")

    monkeypatch.setattr(component_module, "default_encoder_path", no_package)
    reloaded = JointShoppingNLU.load(_config(), storage, resource, ExecutionContext(GraphSchema({}), "test"))
    (parsed,) = _parse(reloaded, "luxury leather handbag for my wife")
    assert parsed[PARSE_ATTRIBUTES_KEY]["budget_tier"]["value"] in BUDGET["budget_tier"]
    # The CRF's learned transitions travel in the archive: a reload decodes exactly as before.
    text = "red nike running shoes for my son"
    assert _parse(reloaded, text) == _parse(loaded, text)


def test_training_gives_the_serving_thread_count_back(loaded) -> None:
    # Training may use every core; a server must go back to the configured single thread.
    assert torch.get_num_threads() == _config()["num_threads"] == 1


def test_untrained_component_leaves_messages_alone(tmp_path: Path) -> None:
    component = JointShoppingNLU.load(
        _config(), LocalModelStorage(tmp_path), Resource("missing"), ExecutionContext(GraphSchema({}), "test")
    )
    (parsed,) = _parse(component, "red shoes")
    assert "intent" not in parsed and PARSE_ATTRIBUTES_KEY not in parsed


# Cue fusion (nlu/cue_fusion.py): the post-processing step of `process` behind the `cue_fusion` switch.
CUE = JointShoppingNLU.get_default_config()["cue_confidence"]
NOTHING_SAID = {
    "gender": AttributeReading("unknown", 0.9),
    "age_group": AttributeReading("unknown", 0.9),
    "gift": AttributeReading("false", 0.7),
}


def test_missing_attributes_fall_back_to_the_cue_lexicon() -> None:
    fused = fuse_with_cues("a gift for my wife", NOTHING_SAID, CUE)
    assert fused["gender"] == ("female", CUE, SOURCE_CUES)
    assert fused["gift"] == ("true", CUE, SOURCE_CUES)
    assert fuse_with_cues("red trainers", NOTHING_SAID, CUE) == NOTHING_SAID  # no cue: the model's reading


def test_cue_words_back_up_the_models_attributes() -> None:
    unsure = {
        "gender": AttributeReading("female", 0.6),
        "age_group": AttributeReading("unknown", 0.9),
        "gift": AttributeReading("true", 0.98),
    }
    assert fuse_with_cues("I need a gift for my wife", unsure, CUE) == {
        "gender": ("female", CUE, SOURCE_MODEL_AND_CUES),  # agreeing: the higher confidence
        "age_group": ("adult", CUE, SOURCE_CUES),  # the model left it unknown
        "gift": ("true", 0.98, SOURCE_MODEL_AND_CUES),
    }
    # The model wins where it is surer than a cue, and where the text has no cue at all.
    sure_male = {"gender": AttributeReading("male", 0.97)}
    assert fuse_attributes(sure_male, {"gender": "female"}, CUE) == {"gender": ("male", 0.97, SOURCE_MODEL)}
    assert fuse_with_cues("trainers", sure_male, CUE) == sure_male
    # ... and loses where it is less sure than the cue.
    unsure_male = {"gender": AttributeReading("male", 0.55)}
    assert fuse_with_cues("trainers for my wife", unsure_male, CUE)["gender"] == ("female", CUE, SOURCE_CUES)


def test_cue_fusion_adds_evidence_only_for_the_models_attributes_and_values() -> None:
    # A neutral cue ("for me": gift false) says nothing; the model's reading stands.
    fused = fuse_attributes({"gift": AttributeReading("true", 0.6)}, {"gift": "false"}, CUE)
    assert fused["gift"] == ("true", 0.6, SOURCE_MODEL)
    # No attribute appears that the model does not have, and no value its schema lacks.
    assert "gender" not in fuse_attributes({"gift": AttributeReading("false", 0.9)}, {"gender": "male"}, CUE)
    no_babies = {"age_group": ["kid", "adult", "unknown"]}
    model = {"age_group": AttributeReading("unknown", 0.9)}
    assert fuse_with_cues("a rattle for a newborn", model, CUE, no_babies) == model


@pytest.fixture(scope="module")
def unfused(storage_and_resource) -> JointShoppingNLU:
    storage, resource = storage_and_resource
    context = ExecutionContext(GraphSchema({}), "test")
    return JointShoppingNLU.load(_config(cue_fusion=False), storage, resource, context)


def _readings(parsed: Dict[str, Any]) -> Dict[str, AttributeReading]:
    return {
        name: AttributeReading(str(a["value"]).lower(), a["confidence"], a["source"])
        for name, a in parsed[PARSE_ATTRIBUTES_KEY].items()
    }


@pytest.mark.parametrize("text", ["a gift for my wife", "teething toys for a 6 month old", "red nike shoes"])
def test_process_fuses_cues_only_when_switched_on(loaded, unfused, text: str) -> None:
    (model_only,) = _parse(unfused, text)
    (fused,) = _parse(loaded, text)
    assert {a["source"] for a in model_only[PARSE_ATTRIBUTES_KEY].values()} == {SOURCE_MODEL}
    schema = loaded.model.config.attributes
    assert _readings(fused) == fuse_with_cues(text, _readings(model_only), CUE, schema)
    assert isinstance(fused[PARSE_ATTRIBUTES_KEY]["gift"]["value"], bool)  # still a JSON boolean
    assert {k: fused[k] for k in ("intent", "entities")} == {k: model_only[k] for k in ("intent", "entities")}


def test_cue_confidence_is_read_from_the_config(storage_and_resource) -> None:
    storage, resource = storage_and_resource
    context = ExecutionContext(GraphSchema({}), "test")
    certain = JointShoppingNLU.load(_config(cue_confidence=1.0), storage, resource, context)
    (parsed,) = _parse(certain, "a present for my wife")
    assert parsed[PARSE_ATTRIBUTES_KEY]["gender"]["value"] == "female"
    assert parsed[PARSE_ATTRIBUTES_KEY]["gender"]["confidence"] == 1.0


REVIEWED_YAML = """
version: "3.1"
nlu:
- intent: search_product
  examples:
  - text: |
      [nike](brand) air max mens
    metadata:
      source: review
      attributes: {gender: male}
  - text: |
      red [trainers](product_type)
"""


def test_reviewed_examples_are_seen_reviewed_repeat_times_an_epoch(tmp_path: Path, monkeypatch) -> None:
    messages = RasaYAMLReader().reads(REVIEWED_YAML).intent_examples
    seen: Dict[str, int] = {}

    def count_examples(model, encoder, examples, **_: Any) -> None:
        for example in examples:
            seen[example.text] = seen.get(example.text, 0) + 1

    monkeypatch.setattr(component_module, "train_model", count_examples)
    context = ExecutionContext(GraphSchema({}), "test")
    storage = LocalModelStorage(tmp_path)
    component = JointShoppingNLU.create(
        _config(reviewed_repeat=3, calibration_fraction=0.0), storage, Resource("r"), context
    )
    schema = {**DEFAULT_ATTRIBUTES, **BUDGET}
    component._train_examples(training_examples(messages, schema), schema)
    assert seen == {"nike air max mens": 3, "red trainers": 1}


def test_reviewed_repeat_below_one_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(component_module, "train_model", lambda *args, **kwargs: None)
    messages = RasaYAMLReader().reads(REVIEWED_YAML).intent_examples
    context = ExecutionContext(GraphSchema({}), "test")
    component = JointShoppingNLU.create(
        _config(reviewed_repeat=0), LocalModelStorage(tmp_path), Resource("r"), context
    )
    schema = {**DEFAULT_ATTRIBUTES, **BUDGET}
    with pytest.raises(ValueError, match="reviewed_repeat"):
        component._train_examples(training_examples(messages, schema), schema)
