"""Entity, intent and attribute scores of the joint model after every epoch of one training run.

    python benchmarks/nlu_learning_curve.py --epochs 8 [--eval tests/data/heldout_nlu.yml] [--data data/nlu]
        [--learning-rate 1e-4] [--seed 42] [--entity-decoder crf]

Trains `nlu.training.train_model` directly (no Rasa graph; the component's defaults from
`JointShoppingNLU.get_default_config()`) and scores the evaluation file after each epoch. Use a dev split
of the training data, not the held-out split, to choose epochs or other settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from nlu.component import JointShoppingNLU, joint_config_for, training_examples  # noqa: E402
from nlu.encoder import Encoder  # noqa: E402
from nlu.modeling_joint import JointShoppingModel  # noqa: E402
from nlu.pipeline_config import attribute_schema_of  # noqa: E402
from nlu.prediction import predict  # noqa: E402
from nlu.tools.evaluate import EvalSet, load_rasa_set, macro_f1, span_prf  # noqa: E402
from nlu.training import set_seed, train_model  # noqa: E402


def scores(
    model: JointShoppingModel, encoder: Encoder, eval_set: EvalSet, schema: Mapping[str, Sequence[str]]
) -> str:
    texts = [example.text for example in eval_set.examples]
    predictions = [
        p for start in range(0, len(texts), 64) for p in predict(model, encoder, texts[start : start + 64])
    ]
    entities = span_prf(
        [example.entities for example in eval_set.examples],
        [[(e["start"], e["end"], e["entity"]) for e in p.entities] for p in predictions],
    )["micro"]
    gold_intents = [example.intent for example in eval_set.examples]
    intent = sum(p.intent_ranking[0][0] == gold for p, gold in zip(predictions, gold_intents, strict=True))
    intent /= max(1, len(texts))
    attribute_f1 = [
        macro_f1(
            [example.attributes[name] for example in eval_set.examples],
            [p.attributes[name][0] for p in predictions],
            list(values),
        )
        for name, values in schema.items()
    ]
    return (
        f"entity P {entities['precision']:.3f} R {entities['recall']:.3f} F1 {entities['f1']:.4f}  "
        f"intent acc {intent:.3f}  attribute macro-F1 {sum(attribute_f1) / len(attribute_f1):.3f}"
    )


def main(argv: Optional[Sequence[str]] = None) -> List[float]:
    defaults = JointShoppingNLU.get_default_config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT / "data" / "nlu")
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml", help="for its attributes")
    parser.add_argument("--eval", type=Path, default=PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml")
    parser.add_argument("--epochs", type=int, default=defaults["epochs"])
    parser.add_argument("--entity-decoder", choices=["crf", "softmax"], default=defaults["entity_decoder"])
    parser.add_argument("--learning-rate", type=float, default=defaults["learning_rate"])
    parser.add_argument("--seed", type=int, default=defaults["random_seed"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from rasa.shared.nlu.training_data.loading import load_data
    from transformers import AutoTokenizer

    schema = attribute_schema_of(args.config)
    messages = [m for m in load_data(str(args.data)).intent_examples if m.get("text")]
    examples = training_examples(messages, schema)
    eval_set = load_rasa_set(args.eval, schema)
    print(f"{len(examples)} examples from {args.data}; scoring {len(eval_set.examples)} of {args.eval}")

    set_seed(args.seed)
    config = joint_config_for(examples, schema, {**defaults, "entity_decoder": args.entity_decoder})
    model = JointShoppingModel(config)
    tokenizer = AutoTokenizer.from_pretrained(config.encoder_path, local_files_only=True)
    encoder = Encoder(tokenizer, config.max_length)
    started = time.perf_counter()

    def report(epoch: int, loss: float) -> None:
        elapsed = time.perf_counter() - started
        figures = scores(model, encoder, eval_set, schema)
        print(f"epoch {epoch:2d}  loss {loss:.4f}  {elapsed:6.0f} s  {figures}", flush=True)

    return train_model(
        model,
        encoder,
        examples,
        epochs=args.epochs,
        batch_size=defaults["batch_size"],
        learning_rate=args.learning_rate,
        head_learning_rate=defaults["head_learning_rate"],
        seed=args.seed,
        show_progress=False,
        on_epoch_end=report,
    )


if __name__ == "__main__":
    main()
