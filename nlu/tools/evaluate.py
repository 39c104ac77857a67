"""Evaluate the joint NLU model and the DIET baseline side by side.

    python -m nlu.tools.evaluate --model-config config.yml --baseline-config config.diet.yml \\
        --train data --test tests/data/heldout_nlu.yml --test tests/data/heldout_nlu_spoken.yml \\
        --bio ../shared/datasets/queryner/validation.jsonl --out reports/eval

`--test` is repeatable: the written held-out split and its spoken-form copy (what phone ASR writes) are
scored by the same models, and the report puts their headline figures side by side.

`--mapping` defaults to data/lexicon/queryner_mapping.yml, the importer's mapping (one file for both).

Both configs are trained on the same data (or loaded with --model / --baseline-model) and every message
is parsed through a loaded Rasa `Agent`, the way the server parses it, so latency includes Rasa's own
overhead. The metrics are pure functions in nlu/tools/metrics.py (unit-tested on hand-computed cases).

The joint model's calibration is scored beside: expected calibration error (ECE) of the intent, of each
attribute (the model alone, and cue-fused as served) and of the entity spans, with the archive's fitted
temperatures (nlu/calibration.py) and without them (raw, T = 1), plus how often a reading set by the
cue lexicon (at `cue_confidence`) is right.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from common.schema import PARSE_ATTRIBUTES_KEY, normalise_attribute_value
from common.stats import percentile
from nlu.pipeline_config import attribute_schema_of
from nlu.tools.import_bio import (
    ATTRIBUTES_FROM_SPANS,
    DEFAULT_MAPPING,
    TypeMapping,
    character_spans,
    convert,
    load_mapping,
    read_jsonl,
)
from nlu.tools.metrics import (
    Span,
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
    span_confidence_correct,
    span_prf,
)

if TYPE_CHECKING:
    from rasa.engine.graph import GraphSchema, SchemaNode
    from rasa.engine.storage.storage import ModelStorage

    from nlu.component import JointShoppingNLU
    from nlu.prediction import Prediction

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------
# Evaluation sets


@dataclass
class GoldExample:
    text: str
    intent: Optional[str]
    entities: List[Span]
    attributes: Dict[str, str] = field(default_factory=dict)


@dataclass
class EvalSet:
    """Gold examples plus which entity types and attributes this set can judge."""

    name: str
    examples: List[GoldExample]
    entity_types: Optional[Set[str]] = None  # None: all types
    has_intents: bool = True
    attributes: Sequence[str] = ()


def load_bio_set(path: Path, mapping: TypeMapping, attributes: Sequence[str]) -> EvalSet:
    """A BIO JSONL file ({"tokens", "tags"} per line) as an evaluation set, read by the importer's code.

    Only mapped entity types are judged. Attribute gold labels exist only where the file marks
    attribute evidence (e.g. QueryNER `department`: "womens", "baby boy"), weak-labelled by the
    importer; only gender and age_group with a non-neutral label are judged.
    """
    examples = []
    for query in read_jsonl(path):
        converted = convert(query, mapping)
        gold_attributes = {
            name: value
            for name, value in converted.attributes.items()
            if name in attributes and value != "unknown"
        }
        examples.append(GoldExample(converted.text, None, character_spans(converted), gold_attributes))
    return EvalSet(
        name=path.stem,
        examples=examples,
        entity_types=set(mapping.entities.values()),
        has_intents=False,
        attributes=[a for a in attributes if a in ATTRIBUTES_FROM_SPANS],
    )


def load_rasa_set(path: Path, attribute_schema: Mapping[str, Sequence[str]]) -> EvalSet:
    """Rasa NLU YAML: intents, annotated entities and attribute labels (metadata, else weak labels)."""
    from rasa.shared.nlu.training_data.loading import load_data

    from nlu.component import example_attribute_labels

    data = load_data(str(path))
    examples = [
        GoldExample(
            text=message.get("text"),
            intent=message.get("intent"),
            entities=[(e["start"], e["end"], e["entity"]) for e in message.get("entities") or []],
            attributes=example_attribute_labels(message, attribute_schema),
        )
        for message in data.intent_examples
    ]
    return EvalSet(name=path.stem, examples=examples, attributes=list(attribute_schema))


# ----------------------------------------------------------------------------------------------------
# Running a model


@dataclass
class ParsedExample:
    intent: Optional[str]
    intent_confidence: float
    entities: List[Span]
    attributes: Dict[str, Tuple[str, float]]
    seconds: float


def parse_all(model_path: str, texts: Sequence[str]) -> List[ParsedExample]:
    """Parse each text alone through a loaded Rasa Agent (as /model/parse does) and time it."""
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)

    async def run() -> List[ParsedExample]:
        await agent.parse_message("warm up")  # first call builds lazy state; not a user's latency
        results = []
        for text in texts:
            started = time.perf_counter()
            parsed = await agent.parse_message(text)
            seconds = time.perf_counter() - started
            intent = parsed.get("intent") or {}
            attributes = {
                name: (normalise_attribute_value(a["value"]), float(a["confidence"]))
                for name, a in (parsed.get(PARSE_ATTRIBUTES_KEY) or {}).items()
            }
            results.append(
                ParsedExample(
                    intent=intent.get("name"),
                    intent_confidence=float(intent.get("confidence") or 0.0),
                    entities=[(e["start"], e["end"], e["entity"]) for e in parsed.get("entities") or []],
                    attributes=attributes,
                    seconds=seconds,
                )
            )
        return results

    return asyncio.run(run())


def train(config: Path, data: Path, domain: Path, out: Path, name: str) -> Tuple[str, float]:
    """Train an NLU-only model; returns the archive path and the wall-clock training seconds."""
    from rasa.model_training import train_nlu

    started = time.perf_counter()
    model = train_nlu(str(config), str(data), str(out), fixed_model_name=name, domain=str(domain))
    if not model:
        raise RuntimeError(f"training {config} produced no model")
    return str(model), time.perf_counter() - started


def judged_spans(
    eval_set: EvalSet, parsed: Sequence[ParsedExample]
) -> Tuple[List[List[Span]], List[List[Span]]]:
    """Gold and predicted spans per example, of the entity types the set can judge only."""
    keep = eval_set.entity_types
    gold = [[s for s in ex.entities if keep is None or s[2] in keep] for ex in eval_set.examples]
    predicted = [[s for s in p.entities if keep is None or s[2] in keep] for p in parsed]
    return gold, predicted


def score(eval_set: EvalSet, parsed: Sequence[ParsedExample], schema: Mapping[str, Sequence[str]]) -> Dict:
    """All metrics of one model on one evaluation set."""
    gold_spans, predicted_spans = judged_spans(eval_set, parsed)
    seconds = [p.seconds * 1000 for p in parsed]
    result: Dict[str, Any] = {
        "examples": len(eval_set.examples),
        "entities": span_prf(gold_spans, predicted_spans),
        "latency_ms": {"p50": percentile(seconds, 50), "p95": percentile(seconds, 95)},
    }
    if eval_set.has_intents:
        gold_intents = [ex.intent for ex in eval_set.examples]
        predicted_intents = [p.intent for p in parsed]
        result["intent"] = {
            "accuracy": accuracy(gold_intents, predicted_intents),
            "macro_f1": macro_f1(gold_intents, predicted_intents),
            "ece": expected_calibration_error(
                [p.intent_confidence for p in parsed],
                [g == p for g, p in zip(gold_intents, predicted_intents, strict=True)],
            ),
        }
    attributes: Dict[str, Any] = {}
    pooled_confidence: List[float] = []
    pooled_correct: List[bool] = []
    for name in eval_set.attributes:
        rows = [
            (ex.attributes[name], p.attributes[name])
            for ex, p in zip(eval_set.examples, parsed, strict=True)
            if name in ex.attributes and name in p.attributes
        ]
        if not rows:
            continue
        gold = [g for g, _ in rows]
        predicted = [p for _, (p, _) in rows]
        labels = [normalise_attribute_value(v) for v in schema.get(name, sorted(set(gold) | set(predicted)))]
        correct = [g == p for g, p in zip(gold, predicted, strict=True)]
        confidences = [c for _, (_, c) in rows]
        pooled_confidence += confidences
        pooled_correct += correct
        attributes[name] = {
            "examples": len(rows),
            "accuracy": accuracy(gold, predicted),
            "macro_f1": macro_f1(gold, predicted, labels),
            "ece": expected_calibration_error(confidences, correct),
            "labels": labels,
            "confusion": confusion_matrix(gold, predicted, labels),
        }
    if attributes:
        result["attributes"] = {
            "per_attribute": attributes,
            "macro_f1": sum(a["macro_f1"] for a in attributes.values()) / len(attributes),
            "ece": expected_calibration_error(pooled_confidence, pooled_correct),
        }
    return result


# ----------------------------------------------------------------------------------------------------
# Calibration of the joint model


def joint_node(schema: GraphSchema) -> Tuple[str, SchemaNode]:
    """(node name, node) of a graph schema's JointShoppingNLU step; ValueError when it has none."""
    from nlu.component import JointShoppingNLU

    for name, node in schema.nodes.items():
        if isinstance(node.uses, type) and issubclass(node.uses, JointShoppingNLU):
            return name, node
    raise ValueError("no JointShoppingNLU step in the model's graph")


def joint_component(storage: ModelStorage, schema: GraphSchema) -> JointShoppingNLU:
    """The JointShoppingNLU of an unpacked model, loaded the way Rasa loads it (its stored config over the
    component's defaults)."""
    from rasa.engine.graph import ExecutionContext

    from nlu.component import JointShoppingNLU

    name, node = joint_node(schema)
    config = {**JointShoppingNLU.get_default_config(), **node.config}
    return JointShoppingNLU.load(config, storage, node.resource, ExecutionContext(schema, node_name=name))


def load_joint_component(archive: str, directory: Path) -> JointShoppingNLU:
    """The archive's JointShoppingNLU, loaded the way Rasa loads it (its files unpacked into `directory`)."""
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    storage, metadata = LocalModelStorage.from_model_archive(directory, Path(archive))
    try:
        return joint_component(storage, metadata.predict_schema)
    except ValueError:
        raise ValueError(f"{archive} has no JointShoppingNLU step") from None


def _calibration_errors(
    eval_set: EvalSet, model_alone: Sequence[Prediction], fused: Sequence[Prediction]
) -> Dict[str, Any]:
    """ECE of intent, each attribute (model alone and fused) and entity spans for one set of predictions."""
    errors: Dict[str, Any] = {}
    golds = eval_set.examples
    if eval_set.has_intents:
        errors["intent"] = expected_calibration_error(
            [p.intent_ranking[0][1] for p in model_alone],
            [p.intent_ranking[0][0] == ex.intent for p, ex in zip(model_alone, golds, strict=True)],
        )
    for key, predictions in (("attributes", model_alone), ("attributes_fused", fused)):
        errors[key] = {}
        for name in eval_set.attributes:
            rows = [
                (p.attributes[name], ex.attributes[name])
                for p, ex in zip(predictions, eval_set.examples, strict=True)
                if name in ex.attributes and name in p.attributes
            ]
            if rows:
                errors[key][name] = expected_calibration_error(
                    [reading.confidence for reading, _ in rows],
                    [normalise_attribute_value(reading.value) == gold for reading, gold in rows],
                )
    keep = eval_set.entity_types
    errors["spans"] = expected_calibration_error(
        *span_confidence_correct(
            [[s for s in ex.entities if keep is None or s[2] in keep] for ex in eval_set.examples],
            [
                [
                    (e["start"], e["end"], e["entity"], e["confidence_entity"])
                    for e in p.entities
                    if keep is None or e["entity"] in keep
                ]
                for p in model_alone
            ],
        )
    )
    return errors


def calibration_scores(component: JointShoppingNLU, eval_set: EvalSet) -> Dict[str, Any]:
    """The joint model's ECE on one set, raw (T = 1) and with its fitted temperatures, and the cue readings.

    Both arms run through the component's own `predict_texts` (its runtime, its decoding), once with cue
    fusion off (the model alone) and once as configured (what /model/parse gives).
    """
    from nlu.cue_fusion import SOURCE_CUES, SOURCE_MODEL_AND_CUES

    if component.model is None:
        raise ValueError("the archive's JointShoppingNLU holds no trained model")
    texts = [ex.text for ex in eval_set.examples]
    config, fitted = component.component_config, dict(component.model.config.temperatures)
    result: Dict[str, Any] = {"temperatures": fitted, "cue_confidence": config.get("cue_confidence")}
    try:
        for arm, temperatures in (("raw", {}), ("calibrated", fitted)):
            component.model.config.temperatures = temperatures
            component.component_config = {**config, "cue_fusion": False}
            model_alone = component.predict_texts(texts)
            component.component_config = config
            fused = component.predict_texts(texts)
            result[arm] = _calibration_errors(eval_set, model_alone, fused)
    finally:
        component.model.config.temperatures, component.component_config = fitted, config
    # Readings the cue lexicon set (or raised) to cue_confidence: how often they are right.
    for source in (SOURCE_CUES, SOURCE_MODEL_AND_CUES):
        right = [
            normalise_attribute_value(reading.value) == ex.attributes[name]
            for p, ex in zip(fused, eval_set.examples, strict=True)
            for name, reading in p.attributes.items()
            if reading.source == source and name in ex.attributes and name in eval_set.attributes
        ]
        accuracy_of_source = sum(right) / len(right) if right else None
        result[f"{source} readings"] = {"count": len(right), "accuracy": accuracy_of_source}
    return result


# ----------------------------------------------------------------------------------------------------
# Report


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _get(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def markdown_report(report: Mapping[str, Any]) -> str:
    """A readable side-by-side report; every figure of ours next to the baseline's."""
    models = list(report["models"])
    lines = ["# NLU evaluation: joint model vs DIET baseline", ""]
    for name in models:
        info = report["models"][name]
        lines.append(
            f"- **{name}**: config `{info['config']}`, model `{info['model']}`, "
            f"training time {_fmt(info.get('training_seconds'), 1)} s"
        )
    lines.append("")
    if len(report["sets"]) > 1:
        lines += _summary(report, models)
    for set_name, results in report["sets"].items():
        lines += [f"## {set_name}", ""]
        header = "| metric | " + " | ".join(models) + " |"
        lines += [header, "|---" * (len(models) + 1) + "|"]
        rows = [
            ("examples", ("examples",)),
            ("entity micro P", ("entities", "micro", "precision")),
            ("entity micro R", ("entities", "micro", "recall")),
            ("entity micro F1", ("entities", "micro", "f1")),
            ("intent accuracy", ("intent", "accuracy")),
            ("intent macro-F1", ("intent", "macro_f1")),
            ("intent ECE", ("intent", "ece")),
            ("attribute macro-F1 (mean)", ("attributes", "macro_f1")),
            ("attribute ECE", ("attributes", "ece")),
            ("parse p50 ms", ("latency_ms", "p50")),
            ("parse p95 ms", ("latency_ms", "p95")),
        ]
        for label, keys in rows:
            lines.append(f"| {label} | " + " | ".join(_fmt(_get(results[m], *keys)) for m in models) + " |")
        types = sorted({t for m in models for t in (_get(results[m], "entities", "per_type") or {})})
        if types:
            lines += ["", "Entity F1 per type (support):", "", header, "|---" * (len(models) + 1) + "|"]
            for t in types:
                cells = []
                for m in models:
                    entry = _get(results[m], "entities", "per_type", t)
                    cells.append(f"{_fmt(entry['f1'])} ({entry['support']})" if entry else "n/a")
                lines.append(f"| {t} | " + " | ".join(cells) + " |")
        for m in models:
            if "calibration" in results[m]:
                lines += calibration_lines(m, results[m]["calibration"])
        for m in models:
            per_attribute = _get(results[m], "attributes", "per_attribute") or {}
            for attribute, a in per_attribute.items():
                lines += [
                    "",
                    f"{m} · `{attribute}`: accuracy {_fmt(a['accuracy'])}, macro-F1 "
                    f"{_fmt(a['macro_f1'])}, ECE {_fmt(a['ece'])} ({a['examples']} examples). "
                    "Confusion (rows gold, columns predicted):",
                    "",
                ]
                lines.append("| gold \\ predicted | " + " | ".join(a["labels"]) + " |")
                lines.append("|---" * (len(a["labels"]) + 1) + "|")
                for label, row in zip(a["labels"], a["confusion"], strict=True):
                    lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    return "\n".join(lines)


def calibration_lines(model: str, calibration: Mapping[str, Any]) -> List[str]:
    """ECE raw and with the fitted temperatures, per head, and how often the cue-set readings are right."""
    from nlu.cue_fusion import SOURCE_CUES, SOURCE_MODEL_AND_CUES
    from nlu.modeling_joint import INTENT_HEAD, TAGS_HEAD, attribute_head

    temperatures = calibration.get("temperatures") or {}
    raw, calibrated = calibration["raw"], calibration["calibrated"]
    rows: List[Tuple[str, Tuple[str, ...], Optional[str]]] = []
    if "intent" in raw:
        rows.append(("intent", ("intent",), INTENT_HEAD))
    for name in raw["attributes"]:
        rows.append((f"`{name}`, model alone", ("attributes", name), attribute_head(name)))
        rows.append((f"`{name}`, cue-fused (served)", ("attributes_fused", name), None))
    rows.append(("entity spans (exact match)", ("spans",), TAGS_HEAD))
    lines = [
        "",
        f"{model} · expected calibration error (10 bins), raw (T = 1) and with the archive's temperatures:",
        "",
        "| confidence | ECE raw | ECE calibrated | T |",
        "|---|---|---|---|",
    ]
    for label, keys, head in rows:
        temperature = _fmt(temperatures.get(head, 1.0)) if head else "as above"
        before, after = _fmt(_get(raw, *keys)), _fmt(_get(calibrated, *keys))
        lines.append(f"| {label} | {before} | {after} | {temperature} |")
    cue_confidence = _fmt(calibration.get("cue_confidence"), 2)
    sources = ((SOURCE_CUES, "set by the cue lexicon"), (SOURCE_MODEL_AND_CUES, "raised to it by a cue"))
    for source, what in sources:
        counts = calibration.get(f"{source} readings") or {}
        lines.append(
            f"\nAttribute readings {what} (confidence {cue_confidence}): {counts.get('count', 0)}, "
            f"right {_fmt(counts.get('accuracy'))}."
        )
    return lines


def _summary(report: Mapping[str, Any], models: Sequence[str]) -> List[str]:
    """One row per set (written vs spoken held-out, QueryNER): the headline figures of every model."""
    columns = [("entity F1", ("entities", "micro", "f1")), ("intent acc", ("intent", "accuracy"))]
    columns.append(("attribute macro-F1", ("attributes", "macro_f1")))
    header = "| set | examples | " + " | ".join(f"{m} {name}" for m in models for name, _ in columns) + " |"
    lines = ["## All sets", "", header, "|---" * (2 + len(models) * len(columns)) + "|"]
    for set_name, results in report["sets"].items():
        examples = _fmt(_get(results[models[0]], "examples")) if models else "n/a"
        cells = [_fmt(_get(results[m], *keys)) for m in models for _, keys in columns]
        lines.append(f"| {set_name} | {examples} | " + " | ".join(cells) + " |")
    return [*lines, ""]


# ----------------------------------------------------------------------------------------------------
# CLI


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m nlu.tools.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--model-config", type=Path, default=Path("config.yml"))
    parser.add_argument("--baseline-config", type=Path, default=Path("config.diet.yml"))
    parser.add_argument("--train", type=Path, default=Path("data"), help="training data (file or folder)")
    parser.add_argument("--domain", type=Path, default=Path("bot/domain.yml"))
    parser.add_argument(
        "--test", type=Path, action="append", default=[], help="held-out Rasa NLU YAML (repeatable)"
    )
    parser.add_argument("--bio", type=Path, action="append", default=[], help="BIO JSONL file (repeatable)")
    parser.add_argument(
        "--mapping", type=Path, default=DEFAULT_MAPPING, help="type mapping for --bio files (YAML)"
    )
    parser.add_argument("--model", help="trained archive of --model-config (skips training)")
    parser.add_argument("--baseline-model", help="trained archive of --baseline-config (skips training)")
    parser.add_argument("--no-baseline", action="store_true", help="evaluate only the joint model")
    parser.add_argument("--out", type=Path, default=Path("reports/eval"))
    args = parser.parse_args(argv)
    if not args.test and not args.bio:
        parser.error("give --test and/or --bio")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)

    schema = attribute_schema_of(args.model_config)
    eval_sets: List[EvalSet] = []
    eval_sets += [load_rasa_set(path, schema) for path in args.test]
    if args.bio:
        mapping = load_mapping(args.mapping)
        eval_sets += [load_bio_set(path, mapping, list(schema)) for path in args.bio]

    candidates = [("joint", args.model_config, args.model)]
    if not args.no_baseline:
        candidates.append(("diet", args.baseline_config, args.baseline_model))
    report: Dict[str, Any] = {"models": {}, "sets": {s.name: {} for s in eval_sets}}
    for name, config, model in candidates:
        training_seconds = None
        if model is None:
            logger.info(f"training {name} from {config} on {args.train}")
            model, training_seconds = train(config, args.train, args.domain, args.out / "models", name)
        report["models"][name] = {"config": str(config), "model": model, "training_seconds": training_seconds}
        for eval_set in eval_sets:
            logger.info(f"parsing {len(eval_set.examples)} examples of {eval_set.name} with {name}")
            parsed = parse_all(model, [ex.text for ex in eval_set.examples])
            report["sets"][eval_set.name][name] = score(eval_set, parsed, schema)
        if name == "joint":
            with tempfile.TemporaryDirectory() as directory:
                try:
                    component = load_joint_component(model, Path(directory))
                except ValueError as error:
                    logger.warning(f"no calibration scores: {error}")
                    continue
                for eval_set in eval_sets:
                    logger.info(f"scoring the calibration of {name} on {eval_set.name}")
                    calibration = calibration_scores(component, eval_set)
                    report["sets"][eval_set.name][name]["calibration"] = calibration
    (args.out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (args.out / "report.md").write_text(markdown_report(report), encoding="utf-8")
    print(markdown_report(report))
    return report


if __name__ == "__main__":
    main()
