"""Temperature scaling (nlu/calibration.py): the fit, the held-out split, and a trained component's parse.

The component tests train one tiny model (MiniLM, a few epochs, the parse-contract data of
tests/test_component.py repeated) with half of it held out, so that the temperatures are really fitted
and stored in the archive; they then check that only confidences move.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
import torch
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

import nlu.component as component_module
from common.schema import DEFAULT_ATTRIBUTES, PARSE_ATTRIBUTES_KEY
from nlu.calibration import (
    MIN_CALIBRATION_EXAMPLES,
    binary_nll,
    calibration_split,
    fit_softmax_temperature,
    fit_temperature,
    softmax_nll,
)
from nlu.component import JointShoppingNLU
from nlu.labels import Example
from nlu.modeling_joint import (
    CONFIG_FILE_NAME,
    INTENT_HEAD,
    TAGS_HEAD,
    BIOTagCRF,
    JointShoppingConfig,
    attribute_head,
)
from nlu.tools.calibrate import main as calibrate_main
from nlu.tools.evaluate import EvalSet, GoldExample, calibration_scores, load_joint_component, markdown_report
from nlu.tools.metrics import expected_calibration_error, span_confidence_correct
from tests.test_component import BUDGET, NLU_YAML

TAGS = ["O", "B-recipient", "I-recipient", "B-occasion", "I-occasion"]
TEXTS = [
    "bday present for my 10yo son",
    "luxury leather handbag for my wife",
    "premium headphones for my dad",
    "hello",
    "thank you",
    "bye",
]


def _synthetic(true_temperature: float, n: int = 4000, classes: int = 5, seed: int = 0):
    """Logits whose labels are drawn from softmax(logits / T): raw softmax is over-confident for T > 1."""
    generator = torch.Generator().manual_seed(seed)
    logits_nc = torch.randn(n, classes, generator=generator) * 4
    labels_n = torch.multinomial((logits_nc / true_temperature).softmax(dim=-1), 1, generator=generator)
    return logits_nc, labels_n.squeeze(1)


def _top_confidence_and_correct(logits_nc: torch.Tensor, labels_n: torch.Tensor):
    probs_nc = logits_nc.softmax(dim=-1)
    return probs_nc.max(dim=-1).values.tolist(), (probs_nc.argmax(dim=-1) == labels_n).tolist()


def test_fit_recovers_a_known_temperature() -> None:
    logits_nc, labels_n = _synthetic(2.5)
    assert fit_temperature(softmax_nll(logits_nc, labels_n)) == pytest.approx(2.5, rel=0.1)
    sharp_nc, sharp_labels_n = _synthetic(0.5, seed=1)
    assert fit_temperature(softmax_nll(sharp_nc, sharp_labels_n)) == pytest.approx(0.5, rel=0.1)


def test_a_head_without_a_single_mistake_keeps_its_raw_confidences() -> None:
    logits_nc, labels_n = _synthetic(2.5)
    assert fit_softmax_temperature(logits_nc, logits_nc.argmax(dim=-1)) is None
    assert fit_softmax_temperature(logits_nc, labels_n) == pytest.approx(2.5, rel=0.1)


def test_scaling_lowers_ece_of_an_over_confident_set() -> None:
    logits_nc, labels_n = _synthetic(3.0, n=6000)
    temperature = fit_temperature(softmax_nll(logits_nc[:3000], labels_n[:3000]))
    before = expected_calibration_error(*_top_confidence_and_correct(logits_nc[3000:], labels_n[3000:]))
    after = expected_calibration_error(
        *_top_confidence_and_correct(logits_nc[3000:] / temperature, labels_n[3000:])
    )
    assert before > 0.15
    assert after < 0.03


def test_binary_nll_prefers_the_confidence_that_matches_the_hit_rate() -> None:
    correct = [True] * 7 + [False] * 3
    assert binary_nll([0.7] * 10, correct) < binary_nll([0.95] * 10, correct)
    assert binary_nll([0.7] * 10, correct) < binary_nll([0.5] * 10, correct)


def _examples(counts: Dict[str, int]) -> List[Example]:
    return [Example(f"{intent} {i}", intent, []) for intent, n in counts.items() for i in range(n)]


def test_split_is_stratified_by_intent_capped_and_seeded() -> None:
    examples = _examples({"search_product": 100, "greet": 30, "thanks": 1})
    kept, held_out = calibration_split(examples, 0.1, 500, seed=7)
    held_intents = [ex.intent for ex in held_out]
    assert held_intents.count("search_product") == 10 and held_intents.count("greet") == 3
    assert "thanks" in [ex.intent for ex in kept]  # an intent's only example stays in training
    assert sorted(ex.text for ex in kept + held_out) == sorted(ex.text for ex in examples)

    def held_texts(seed: int) -> List[str]:
        return [ex.text for ex in calibration_split(examples, 0.1, 500, seed=seed)[1]]

    assert held_texts(7) == [ex.text for ex in held_out] and held_texts(8) != held_texts(7)
    assert len(calibration_split(examples, 0.5, 20, seed=7)[1]) <= 20
    assert calibration_split(examples, 0.0, 500, seed=7) == (examples, [])


def test_crf_temperature_keeps_the_best_path_and_moves_only_the_marginals() -> None:
    torch.manual_seed(3)
    crf = BIOTagCRF(TAGS).requires_grad_(False)
    for parameter in crf.parameters():
        parameter.normal_()
    emissions_wt = torch.randn(5, len(TAGS)) * 3
    path, confidences = crf.decode(emissions_wt)
    for temperature in (0.3, 2.0, 6.0):
        tempered_path, tempered = crf.decode(emissions_wt, temperature)
        assert tempered_path == path
        assert crf.marginals(emissions_wt, temperature).sum(dim=1) == pytest.approx(torch.ones(5), abs=1e-4)
        # A flatter potential is less sure of its own best path, a sharper one more.
        mean = sum(tempered) / len(tempered)
        assert (mean < sum(confidences) / 5) if temperature > 1 else (mean > sum(confidences) / 5)


def test_span_confidence_is_judged_by_exact_match() -> None:
    gold = [[(0, 3, "color"), (4, 9, "product_type")]]
    predicted = [[(0, 3, "color", 0.9), (4, 8, "product_type", 0.8), (10, 12, "size", 0.4)]]
    assert span_confidence_correct(gold, predicted) == ([0.9, 0.8, 0.4], [True, False, False])


def test_config_without_temperatures_reads_as_one() -> None:
    old = JointShoppingConfig().to_dict()
    del old["temperatures"]
    config = JointShoppingConfig.from_dict(old)
    assert config.temperatures == {}
    assert config.temperature(INTENT_HEAD) == config.temperature(TAGS_HEAD) == 1.0


# ----------------------------------------------------------------------------------------------------
# A trained component


def _config(**overrides: Any) -> Dict[str, Any]:
    config = JointShoppingNLU.get_default_config()
    config.update(
        attributes={**{k: list(v) for k, v in DEFAULT_ATTRIBUTES.items()}, **BUDGET},
        epochs=4,
        batch_size=8,
        max_length=24,
        show_progress=False,
        calibration_fraction=0.5,
    )
    config.update(overrides)
    return config


PRODUCTS = ["shoes", "backpack", "headphones", "dress", "watch", "jacket"]
RECIPIENTS = ["son", "wife", "dad", "daughter", "mom"]
SMALL_TALK = {
    "greet": ["hello there", "hi", "hey you", "good morning", "hiya", "hello again", "hey there", "morning"],
    "goodbye": ["bye now", "see you", "goodbye", "bye bye", "see you soon", "later then", "cya", "farewell"],
    "thanks": ["thanks", "thank you so much", "cheers", "many thanks", "thanks a bunch", "thx", "thank u"],
}


def _templated_yaml() -> str:
    """54 distinct templated examples (Rasa drops duplicate examples, so copies would not add any)."""
    searches = "".join(
        f"    - [{product}](product_type) for my [{recipient}](recipient)\n"
        for product in PRODUCTS
        for recipient in RECIPIENTS
    )
    talk = "".join(
        f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {text}\n" for text in texts)
        for intent, texts in SMALL_TALK.items()
    )
    return f'version: "3.1"\nnlu:\n- intent: search_product\n  examples: |\n{searches}{talk}'


@pytest.fixture(scope="module")
def training_data():
    """The parse-contract data of tests/test_component.py plus the templated examples."""
    return RasaYAMLReader().reads(NLU_YAML).merge(RasaYAMLReader().reads(_templated_yaml()))


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


@pytest.fixture(scope="module")
def storage_and_resource(tmp_path_factory: pytest.TempPathFactory, training_data):
    storage = LocalModelStorage(tmp_path_factory.mktemp("calibrated"))
    resource = Resource("joint_nlu")
    JointShoppingNLU.create(_config(), storage, resource, _context()).train(training_data)
    return storage, resource


def _parse(component: JointShoppingNLU, texts: List[str]) -> List[Dict[str, Any]]:
    messages = [Message(data={"text": text}) for text in texts]
    return [m.as_dict(only_output_properties=True) for m in component.process(messages)]


def _decisions(parsed: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "intent": parsed["intent"]["name"],
        "ranking": [r["name"] for r in parsed["intent_ranking"]],
        "entities": [(e["start"], e["end"], e["entity"], e["value"]) for e in parsed["entities"]],
        "attributes": {name: a["value"] for name, a in parsed[PARSE_ATTRIBUTES_KEY].items()},
    }


def _confidences(parsed: Dict[str, Any]) -> List[float]:
    return [
        parsed["intent"]["confidence"],
        *[e["confidence_entity"] for e in parsed["entities"]],
        *[a["confidence"] for a in parsed[PARSE_ATTRIBUTES_KEY].values()],
    ]


def test_trained_component_stores_temperatures_and_only_confidences_move(storage_and_resource) -> None:
    storage, resource = storage_and_resource
    with storage.read_from(resource) as directory:
        stored = json.loads((Path(directory) / CONFIG_FILE_NAME).read_text())["temperatures"]
    heads = {INTENT_HEAD, TAGS_HEAD, *(attribute_head(name) for name in _config()["attributes"])}
    assert set(stored) <= heads and INTENT_HEAD in stored  # a head without a mistake to fit on keeps 1
    assert all(t > 0 for t in stored.values()) and any(abs(t - 1.0) > 0.01 for t in stored.values())

    calibrated = JointShoppingNLU.load(_config(cue_fusion=False), storage, resource, _context())
    assert calibrated.model.config.temperatures == stored
    # No span in the held-out half leaves the tags unfitted: then a set one shows the same.
    calibrated.model.config.temperatures.setdefault(TAGS_HEAD, 3.0)
    raw = JointShoppingNLU.load(_config(cue_fusion=False), storage, resource, _context())
    raw.model.config.temperatures = {}

    with_t, without_t = _parse(calibrated, TEXTS), _parse(raw, TEXTS)
    assert [_decisions(p) for p in with_t] == [_decisions(p) for p in without_t]
    assert any(p["entities"] for p in with_t), "the tiny model should find some span"
    assert [_confidences(p) for p in with_t] != [_confidences(p) for p in without_t]
    assert all(
        a["intent"]["confidence"] != b["intent"]["confidence"] for a, b in zip(with_t, without_t, strict=True)
    )


def test_archive_without_temperatures_parses_as_before(storage_and_resource, tmp_path: Path) -> None:
    storage, resource = storage_and_resource
    with storage.read_from(resource) as directory:
        files = {p.relative_to(directory): p.read_bytes() for p in Path(directory).rglob("*") if p.is_file()}
    old_storage = LocalModelStorage(tmp_path)
    with old_storage.write_to(resource) as directory:
        for relative, content in files.items():
            (Path(directory) / relative).parent.mkdir(parents=True, exist_ok=True)
            (Path(directory) / relative).write_bytes(content)
        config = json.loads((Path(directory) / CONFIG_FILE_NAME).read_text())
        del config["temperatures"]  # what an archive from before calibration holds
        (Path(directory) / CONFIG_FILE_NAME).write_text(json.dumps(config))
    old = JointShoppingNLU.load(_config(), old_storage, resource, _context())
    assert old.model.config.temperatures == {}
    raw = JointShoppingNLU.load(_config(), storage, resource, _context())
    raw.model.config.temperatures = {}
    assert _parse(old, TEXTS) == _parse(raw, TEXTS)


def _captured_training(monkeypatch: pytest.MonkeyPatch, training_data, tmp_path: Path, **overrides: Any):
    """Trains with the training loop replaced by a recorder: which examples would it have trained on?"""
    trained_on: List[int] = []
    def record(model: Any, encoder: Any, examples: List[Example], **_: Any) -> None:
        trained_on.append(len(examples))

    monkeypatch.setattr(component_module, "train_model", record)
    component = JointShoppingNLU.create(
        _config(**overrides), LocalModelStorage(tmp_path), Resource("joint_nlu"), _context()
    )
    component.train(training_data)
    return component, trained_on


def test_fraction_zero_trains_on_everything_and_fits_nothing(monkeypatch, training_data, tmp_path) -> None:
    component, trained_on = _captured_training(monkeypatch, training_data, tmp_path, calibration_fraction=0)
    assert trained_on == [len(training_data.intent_examples)]
    assert component.model.config.temperatures == {}


def test_too_few_to_hold_out_trains_on_everything(monkeypatch, training_data, tmp_path, caplog) -> None:
    # 0.2 of the examples, stratified, is fewer than MIN_CALIBRATION_EXAMPLES.
    with caplog.at_level("INFO", logger="nlu.component"):
        component, trained_on = _captured_training(
            monkeypatch, training_data, tmp_path, calibration_fraction=0.2
        )
    assert 0.2 * len(training_data.intent_examples) < MIN_CALIBRATION_EXAMPLES
    assert trained_on == [len(training_data.intent_examples)]
    assert component.model.config.temperatures == {}
    assert "calibration skipped" in caplog.text


def test_evaluation_reports_ece_raw_and_calibrated_from_the_parse_confidences(storage_and_resource) -> None:
    storage, resource = storage_and_resource
    component = JointShoppingNLU.load(_config(), storage, resource, _context())
    component.model.config.temperatures.setdefault(TAGS_HEAD, 3.0)
    fitted = dict(component.model.config.temperatures)
    gold = {
        "bday present for my 10yo son": ("search_product", [(24, 27, "recipient")]),
        "premium headphones for my dad": ("search_product", [(8, 18, "product_type"), (26, 29, "recipient")]),
        "hello": ("greet", []),
        "thank you": ("thanks", []),
    }
    eval_set = EvalSet(
        "tiny",
        [GoldExample(text, intent, spans, {"gift": "false"}) for text, (intent, spans) in gold.items()],
        attributes=["gift"],
    )
    result = calibration_scores(component, eval_set)

    served = _parse(component, list(gold))  # /model/parse's confidences: calibrated, cue-fused
    intent_confidences = [p["intent"]["confidence"] for p in served]
    gold_intents = [intent for intent, _ in gold.values()]
    intent_right = [p["intent"]["name"] == g for p, g in zip(served, gold_intents, strict=True)]
    assert result["calibrated"]["intent"] == pytest.approx(
        expected_calibration_error(intent_confidences, intent_right)
    )
    gifts = [p[PARSE_ATTRIBUTES_KEY]["gift"] for p in served]
    assert result["calibrated"]["attributes_fused"]["gift"] == pytest.approx(
        expected_calibration_error([a["confidence"] for a in gifts], [a["value"] is False for a in gifts])
    )
    assert result["raw"]["intent"] != result["calibrated"]["intent"]
    assert set(result["raw"]) == {"intent", "attributes", "attributes_fused", "spans"}
    assert component.model.config.temperatures == fitted  # the component is left as it was
    models = {"joint": {"config": "config.yml", "model": "model.tar.gz"}}
    report = markdown_report({"models": models, "sets": {"tiny": {"joint": {"calibration": result}}}})
    assert "| intent |" in report and "| entity spans (exact match) |" in report


def test_post_hoc_calibration_changes_only_the_temperatures(trained_model: Path, tmp_path: Path) -> None:
    # Sentences with some mistakes to fit on (a trained model reads the templated ones without any).
    dev = Path(__file__).parent / "data" / "heldout_nlu_spoken.yml"
    out = tmp_path / "calibrated.tar.gz"
    temperatures = calibrate_main(["--model", str(trained_model), "--dev", str(dev), "--out", str(out)])
    assert INTENT_HEAD in temperatures

    def files(archive: Path) -> Dict[str, bytes]:
        with tarfile.open(archive, "r:gz") as tar:
            return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}

    before, after = files(trained_model), files(out)
    changed = {name for name in before if before[name] != after.get(name)}
    assert set(after) == set(before) and len(changed) == 1 and changed.pop().endswith(CONFIG_FILE_NAME)
    component = load_joint_component(str(out), tmp_path / "unpacked")
    assert component.model.config.temperatures == temperatures


def test_post_hoc_calibration_refuses_to_overwrite_its_input(trained_model: Path, capsys) -> None:
    archive = str(trained_model)
    with pytest.raises(SystemExit):
        calibrate_main(["--model", archive, "--dev", archive, "--out", archive])
    assert "--out must differ" in capsys.readouterr().err
