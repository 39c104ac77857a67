"""Serving the joint model through ONNX Runtime: the archive's int8 network parses as the PyTorch model does.

A small component (a 2-layer random encoder with MiniLM's tokenizer, fitted to a few dozen examples) is
trained and persisted through Rasa's model storage once per module; persisting exports the int8 network.
The fp32 export must parse exactly as torch; the int8 one like it on clear inputs. Older archives (no ONNX
file) and `runtime: torch` serve with PyTorch.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message
from transformers import AutoTokenizer, BertConfig, BertModel

from common.schema import DEFAULT_ATTRIBUTES, PARSE_ATTRIBUTES_KEY
from nlu.component import JointShoppingNLU, default_encoder_path
from nlu.onnx_runtime import ONNX_INT8_FILE_NAME, RUNTIME_TORCH, OnnxJointRunner, export_onnx
from tests.test_component import BUDGET, NLU_YAML  # the component tests' examples (budget_tier: config only)

# Training texts: the inputs the small model is sure about.
CLEAR = [
    "bday present for my 10yo son",
    "cheap red nike shoes",
    "luxury leather handbag for my wife",
    "adidas backpack under $40",
    "blue dress for my daughter",
    "hello",
    "see you later",
    "thank you",
]
# Unseen and odd texts, for the exact (fp32) comparison: any ranking, whatever the model makes of them.
ODD = ["red shoes for my son", "a gift for my wife", "hi", "", "🛍️🎁", "x" * 300, "nike nike nike adidas"]


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def _config(**overrides: Any) -> Dict[str, Any]:
    config = JointShoppingNLU.get_default_config()
    config.update(
        attributes={**{k: list(v) for k, v in DEFAULT_ATTRIBUTES.items()}, **BUDGET},
        epochs=25,
        batch_size=8,
        learning_rate=1e-3,
        head_learning_rate=1e-2,
        max_length=24,
        show_progress=False,
    )
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def small_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with random weights beside MiniLM's tokenizer: quick to train and export."""
    directory = tmp_path_factory.mktemp("small_encoder")
    tokenizer = AutoTokenizer.from_pretrained(default_encoder_path(), local_files_only=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def storage_and_resource(tmp_path_factory: pytest.TempPathFactory, small_encoder: Path):
    data = RasaYAMLReader().reads(NLU_YAML)
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    resource = Resource("joint_nlu")
    component = JointShoppingNLU.create(_config(model_path=str(small_encoder)), storage, resource, _context())
    component.train(data.merge(data).merge(data))
    return storage, resource


@pytest.fixture(scope="module")
def served(storage_and_resource) -> JointShoppingNLU:
    """The component as `rasa run` loads it: the default config, so the int8 network."""
    storage, resource = storage_and_resource
    return JointShoppingNLU.load(_config(), storage, resource, _context())


@pytest.fixture(scope="module")
def with_torch(storage_and_resource) -> JointShoppingNLU:
    storage, resource = storage_and_resource
    return JointShoppingNLU.load(_config(runtime=RUNTIME_TORCH), storage, resource, _context())


@pytest.fixture(scope="module")
def fp32(storage_and_resource, with_torch, tmp_path_factory: pytest.TempPathFactory) -> JointShoppingNLU:
    """The same weights exported without quantization, served through the same runner."""
    storage, resource = storage_and_resource
    path = export_onnx(with_torch.model, tmp_path_factory.mktemp("fp32") / "model.fp32.onnx")
    runner = OnnxJointRunner(path)
    return JointShoppingNLU(
        _config(), storage, resource, _context(), with_torch.model, with_torch.tokenizer, runner
    )


def _parse(component: JointShoppingNLU, *texts: str) -> List[Dict[str, Any]]:
    messages = [Message(data={"text": text}) for text in texts]
    return [m.as_dict(only_output_properties=True) for m in component.process(messages)]


def _assert_same_parse(a: Dict[str, Any], b: Dict[str, Any], tolerance: float) -> None:
    assert [r["name"] for r in a["intent_ranking"]] == [r["name"] for r in b["intent_ranking"]]
    for ra, rb in zip(a["intent_ranking"], b["intent_ranking"], strict=True):
        assert ra["confidence"] == pytest.approx(rb["confidence"], abs=tolerance)
    span = ("entity", "start", "end", "value")
    assert [[e[k] for k in span] for e in a["entities"]] == [[e[k] for k in span] for e in b["entities"]]
    for ea, eb in zip(a["entities"], b["entities"], strict=True):
        assert ea["confidence_entity"] == pytest.approx(eb["confidence_entity"], abs=tolerance)
    assert _attribute_values(a) == _attribute_values(b)
    attributes_b = b[PARSE_ATTRIBUTES_KEY]
    for name, reading in a[PARSE_ATTRIBUTES_KEY].items():
        assert reading["confidence"] == pytest.approx(attributes_b[name]["confidence"], abs=tolerance)


def _attribute_values(parsed: Dict[str, Any]) -> Dict[str, Any]:
    return {name: reading["value"] for name, reading in parsed[PARSE_ATTRIBUTES_KEY].items()}


def test_persisting_stores_the_int8_network_and_serving_uses_it(storage_and_resource, served) -> None:
    storage, resource = storage_and_resource
    with storage.read_from(resource) as directory:
        assert (Path(directory) / ONNX_INT8_FILE_NAME).stat().st_size > 0
    assert served.runner is not None
    # The torch forward pass is not what answers: break it and the parse still comes back.
    served.model.forward = _broken
    try:
        (parsed,) = _parse(served, "cheap red nike shoes")
    finally:
        del served.model.forward
    assert parsed["intent"]["name"] == "search_product"
    assert {e["value"] for e in parsed["entities"]} >= {"red", "nike", "shoes"}


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("this runtime must not run the network this way")


def test_runtime_torch_serves_with_pytorch(with_torch) -> None:
    assert with_torch.runner is None
    (parsed,) = _parse(with_torch, "cheap red nike shoes")
    assert parsed["intent"]["name"] == "search_product"


def test_the_fp32_export_parses_exactly_as_torch(fp32, with_torch) -> None:
    for text in CLEAR + ODD:
        (exported,) = _parse(fp32, text)
        (reference,) = _parse(with_torch, text)
        _assert_same_parse(exported, reference, tolerance=1e-4)
    # Batched (padded) rows read as the same texts alone: the padding mask is a graph input, not traced.
    for batched, alone in zip(_parse(fp32, *CLEAR), _parse(with_torch, *CLEAR), strict=True):
        _assert_same_parse(batched, alone, tolerance=1e-4)


def test_the_int8_network_reads_clear_inputs_as_torch(served, with_torch) -> None:
    for text in CLEAR:
        (quantized,) = _parse(served, text)
        (reference,) = _parse(with_torch, text)
        assert quantized["intent"]["name"] == reference["intent"]["name"], text
        assert quantized["intent"]["confidence"] == pytest.approx(reference["intent"]["confidence"], abs=0.05)
        span = ("entity", "start", "end")
        assert [[e[k] for k in span] for e in quantized["entities"]] == [
            [e[k] for k in span] for e in reference["entities"]
        ], text
        assert _attribute_values(quantized) == _attribute_values(reference), text


def test_a_message_parses_the_same_alone_and_in_a_batch(served) -> None:
    # Dynamic quantization scales activations per call: in one padded batch, neighbours would move the
    # confidences. The runner runs each message alone, so a batch changes nothing.
    texts = CLEAR + ODD
    assert _parse(served, *texts) == [_parse(served, text)[0] for text in texts]


@pytest.mark.parametrize("text", ["", "   ", "🛍️🎁", "\x00\x1b[2J", "подарок сыну", "x" * 10_000])
def test_edge_case_messages_parse_through_the_int8_network(served, text: str) -> None:
    (parsed,) = _parse(served, text)
    assert parsed["entities"] == []
    assert parsed["intent"]["name"]


def test_an_archive_without_the_onnx_file_serves_with_torch(
    storage_and_resource, with_torch, tmp_path: Path
) -> None:
    storage, resource = storage_and_resource
    old_storage = LocalModelStorage(tmp_path)
    with storage.read_from(resource) as directory, old_storage.write_to(resource) as old:
        shutil.copytree(directory, old, dirs_exist_ok=True)
        (Path(old) / ONNX_INT8_FILE_NAME).unlink()
    old_component = JointShoppingNLU.load(_config(), old_storage, resource, _context())
    assert old_component.runner is None
    text = "luxury leather handbag for my wife"
    assert _parse(old_component, text) == _parse(with_torch, text)


def test_exporting_leaves_the_model_as_it_was(with_torch, tmp_path) -> None:
    # The exporter restores its wrapper's mode recursively; a model left in training mode would parse with
    # dropout on, differently every time.
    before = _parse(with_torch, *CLEAR)
    export_onnx(with_torch.model, tmp_path / "again.onnx")
    assert not with_torch.model.training
    assert _parse(with_torch, *CLEAR) == before


def test_an_unknown_runtime_is_a_clear_error(storage_and_resource) -> None:
    storage, resource = storage_and_resource
    with pytest.raises(ValueError, match="runtime must be one of onnx_int8, torch, not 'tensorrt'"):
        JointShoppingNLU.load(_config(runtime="tensorrt"), storage, resource, _context())
