"""Serving speed of the joint network on other encoders, side by side: does a bigger encoder fit the budget?

    python benchmarks/bench_encoders.py --encoder mpnet-base=/path/to/all-mpnet-base-v2 [--rounds 5]

Each encoder (the shipped MiniLM-L6 first, then every --encoder NAME=DIR, a Hugging Face model folder)
gets the joint network of `nlu.modeling_joint` with the project's label sets (untrained heads: speed does
not depend on the weights' values), exported and quantized the way `persist` does it
(`nlu.onnx_runtime.export_int8`). Then every held-out message is tokenized and run alone, as
`JointShoppingNLU` serves it, through int8 onnxruntime on one thread, and through torch fp32 (one thread),
rounds interleaved across encoders so machine load hits them alike. It prints parameters, int8 file
size, p50/p95 ms of the network per message, and each row's ratio to MiniLM-L6's.

The network is most of a parse, not all of it (tokenising, CRF decoding, cue fusion and Rasa's own
overhead come on top and do not depend on the encoder): a parse on encoder X costs about the MiniLM-L6
parse plus the difference of the network rows. Accuracy needs a full training per encoder
(`benchmarks/nlu_learning_curve.py --config`), which this script does not do.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from common.schema import ENTITY_TYPES  # noqa: E402
from common.stats import percentile  # noqa: E402
from nlu.component import default_encoder_path  # noqa: E402
from nlu.encoder import Encoder  # noqa: E402
from nlu.labels import tag_labels_for  # noqa: E402
from nlu.modeling_joint import JointShoppingConfig, JointShoppingModel  # noqa: E402
from nlu.onnx_runtime import OnnxJointRunner, export_int8  # noqa: E402
from nlu.tools.validate_data import load_examples  # noqa: E402


def build(
    path: str, intents: Sequence[str], scratch: Path
) -> Tuple[Encoder, JointShoppingModel, OnnxJointRunner]:
    """Tokenizer, torch model and int8 runner of the joint network on the encoder at `path`."""
    config = JointShoppingConfig(encoder_path=path, intent_labels=list(intents),
                                 tag_labels=tag_labels_for(ENTITY_TYPES))
    model = JointShoppingModel(config).eval()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    scratch.mkdir(parents=True, exist_ok=True)
    runner = OnnxJointRunner(export_int8(model, scratch), num_threads=1)
    return Encoder(tokenizer, config.max_length), model, runner


def time_one_round(encoder: Encoder, model: JointShoppingModel, runner: OnnxJointRunner,
                   texts: Sequence[str], out: Dict[str, List[float]]) -> None:
    """One pass over the texts, each alone: network milliseconds per message for int8 and torch."""
    for text in texts:
        tensors, _, _ = encoder.encode([text])
        started = time.perf_counter()
        runner(**tensors)
        out["int8"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with torch.inference_mode():
            model(**tensors)
        out["torch"].append((time.perf_counter() - started) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--encoder", action="append", default=[], metavar="NAME=DIR",
                        help="a Hugging Face model folder to compare (repeatable)")
    parser.add_argument("--heldout", type=Path, default=PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml")
    parser.add_argument("--messages", type=int, default=200, help="held-out messages timed per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as served: one message, one thread

    examples = load_examples(args.heldout)
    texts = [example.text for example in examples][: args.messages]
    intents = sorted({example.intent for example in examples})
    encoders = [("minilm-l6 (shipped)", default_encoder_path())]
    for spec in args.encoder:
        name, _, path = spec.partition("=")
        if not name or not path or not Path(path).is_dir():
            parser.error(f"--encoder {spec!r}: expected NAME=DIR with DIR a Hugging Face model folder")
        encoders.append((name, path))

    built = {}
    with tempfile.TemporaryDirectory(prefix="shopcue-encoders-") as scratch:
        for index, (name, path) in enumerate(encoders):
            print(f"building {name} ({path})", flush=True)
            built[name] = build(path, intents, Path(scratch) / str(index))
            built[name][0].encode(texts[:4])
        times: Dict[str, Dict[str, List[float]]] = {name: {"int8": [], "torch": []} for name, _ in encoders}
        load_start = os.getloadavg()
        for round_index in range(args.rounds):
            for name, _ in encoders:
                time_one_round(*built[name], texts, times[name])
            print(f"round {round_index + 1}/{args.rounds} done", flush=True)
        sizes = {name: built[name][2].path.stat().st_size for name, _ in encoders}

    reference = times[encoders[0][0]]
    print(f"\n{len(texts)} held-out messages x {args.rounds} rounds, one at a time, one thread; "
          f"load average {load_start[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    print("| encoder | parameters | int8 file | int8 p50 / p95 ms | x L6 | torch fp32 p50 / p95 ms | x L6 |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in encoders:
        model = built[name][1]
        params = sum(p.numel() for p in model.parameters()) / 1e6
        row = times[name]
        cells = []
        for runtime in ("int8", "torch"):
            p50, p95 = percentile(row[runtime], 50), percentile(row[runtime], 95)
            ratio = p50 / percentile(reference[runtime], 50)
            cells += [f"{p50:.2f} / {p95:.2f}", f"{ratio:.2f}x"]
        print(f"| {name} | {params:.1f} M | {sizes[name] / 1e6:.0f} MB | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
