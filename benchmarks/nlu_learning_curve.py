"""Entity, intent and attribute scores of the joint model after every epoch of one training run.

    python benchmarks/nlu_learning_curve.py --epochs 8 [--eval tests/data/heldout_nlu.yml] [--data data/nlu]
        [--learning-rate 1e-4] [--seed 42] [--entity-decoder crf] [--no-cue-fusion]

`--data` and `--eval` may be given several times (e.g. `--data data/nlu --data data/imported` and
`--eval tests/data/heldout_nlu.yml --eval ../shared/datasets/queryner/validation.jsonl`); every evaluation
file is scored after every epoch, a BIO JSONL file as `python -m nlu.tools.evaluate --bio` scores it (the
importer's type mapping; only mapped types judged).

Trains `nlu.training.train_model` directly (no Rasa graph) with the settings of config.yml's
JointShoppingNLU step over the component's defaults (flags override both), and scores the evaluation file
after each epoch, parsing through `nlu.component.parse_texts`: the same post-processing (cue fusion) as
/model/parse. Use a dev split of the training data, not the held-out split, to choose epochs or other
settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from common.schema import normalise_attribute_value  # noqa: E402
from nlu.component import JointShoppingNLU, joint_config_for, parse_texts, training_examples  # noqa: E402
from nlu.encoder import Encoder  # noqa: E402
from nlu.modeling_joint import JointShoppingModel  # noqa: E402
from nlu.pipeline_config import attribute_schema, joint_step  # noqa: E402
from nlu.tools.evaluate import EvalSet, ParsedExample, load_bio_set, load_rasa_set, score  # noqa: E402
from nlu.tools.import_bio import DEFAULT_MAPPING, load_mapping  # noqa: E402
from nlu.training import set_seed, train_model  # noqa: E402

DEFAULT_EVAL = PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml"


def scores(
    model: JointShoppingModel, encoder: Encoder, eval_set: EvalSet, settings: Mapping[str, Any]
) -> str:
    """One line of figures, scored by `nlu.tools.evaluate.score` (a BIO set judges its mapped types only)."""
    texts = [example.text for example in eval_set.examples]
    predictions = [
        p
        for start in range(0, len(texts), 64)
        for p in parse_texts(model, encoder, texts[start : start + 64], settings)
    ]
    parsed = [
        ParsedExample(
            intent=p.intent_ranking[0][0] if p.intent_ranking else None,
            intent_confidence=p.intent_ranking[0][1] if p.intent_ranking else 0.0,
            entities=[(e["start"], e["end"], e["entity"]) for e in p.entities],
            attributes={
                name: (normalise_attribute_value(a.value), a.confidence) for name, a in p.attributes.items()
            },
            seconds=0.0,
        )
        for p in predictions
    ]
    result = score(eval_set, parsed, model.config.attributes)
    entities = result["entities"]["micro"]
    line = f"entity P {entities['precision']:.3f} R {entities['recall']:.3f} F1 {entities['f1']:.4f}"
    if "intent" in result:
        line += f"  intent acc {result['intent']['accuracy']:.3f}"
    if "attributes" in result:
        line += f"  attribute macro-F1 {result['attributes']['macro_f1']:.3f}"
    return line


def load_eval_set(path: Path, schema: Mapping[str, Sequence[str]]) -> EvalSet:
    """Rasa NLU YAML, or BIO JSONL (e.g. QueryNER) read through the importer's default type mapping."""
    if path.suffix == ".jsonl":
        return load_bio_set(path, load_mapping(DEFAULT_MAPPING), list(schema))
    return load_rasa_set(path, schema)


def main(argv: Optional[Sequence[str]] = None) -> List[float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, action="append")
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument("--eval", type=Path, action="append")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--entity-decoder", choices=["crf", "softmax"])
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--seed", type=int, dest="random_seed")
    parser.add_argument("--no-cue-fusion", action="store_false", dest="cue_fusion", default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--freeze-word-embeddings", action="store_true", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    flags = (
        "epochs", "entity_decoder", "learning_rate", "random_seed", "cue_fusion", "freeze_word_embeddings"
    )
    settings = {**JointShoppingNLU.get_default_config(), **joint_step(args.config)}
    settings.update({name: getattr(args, name) for name in flags if getattr(args, name) is not None})

    from rasa.shared.nlu.training_data.loading import load_data
    from transformers import AutoTokenizer

    schema = attribute_schema(settings)
    data_paths = args.data or [PROJECT_ROOT / "data" / "nlu"]
    messages = [m for path in data_paths for m in load_data(str(path)).intent_examples if m.get("text")]
    examples = training_examples(messages, schema)
    eval_sets = {path.name: load_eval_set(path, schema) for path in args.eval or [DEFAULT_EVAL]}
    print(
        f"{len(examples)} examples from {', '.join(map(str, data_paths))}; scoring "
        + ", ".join(f"{len(s.examples)} of {name}" for name, s in eval_sets.items()),
        flush=True,
    )

    set_seed(int(settings["random_seed"]))
    config = joint_config_for(examples, schema, settings)
    model = JointShoppingModel(config)
    tokenizer = AutoTokenizer.from_pretrained(config.encoder_path, local_files_only=True)
    encoder = Encoder(tokenizer, config.max_length)
    started = time.perf_counter()

    def report(epoch: int, loss: float) -> None:
        elapsed = time.perf_counter() - started
        for name, eval_set in eval_sets.items():
            figures = scores(model, encoder, eval_set, settings)
            print(f"epoch {epoch:2d}  loss {loss:.4f}  {elapsed:6.0f} s  {name}: {figures}", flush=True)

    return train_model(
        model,
        encoder,
        examples,
        epochs=int(settings["epochs"]),
        batch_size=int(settings["batch_size"]),
        learning_rate=float(settings["learning_rate"]),
        head_learning_rate=float(settings["head_learning_rate"]),
        seed=int(settings["random_seed"]),
        show_progress=False,
        on_epoch_end=report,
        freeze_word_embeddings=bool(settings.get("freeze_word_embeddings")),
    )


if __name__ == "__main__":
    main()
