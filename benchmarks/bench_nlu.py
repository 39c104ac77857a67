"""Speed and size of the joint NLU model next to the DIET baseline, in one run.

    python benchmarks/bench_nlu.py [--model models/joint.tar.gz] [--baseline-model models/diet.tar.gz]
                                   [--runtimes torch,onnx_int8] [--no-baseline] [--no-server]

For each config (trained here on --data unless an archive is given) it measures:
- training wall time (only when trained here),
- model archive size on disk,
- single-query latency through a running `rasa run --enable-api` server's /model/parse (p50/p95),
- in-process NLU graph latency for one message (no HTTP, no Agent bookkeeping) (p50/p95),
- throughput of the in-process NLU graph at batch 1 and at --batch-size messages per call,
- the server's resident memory after the queries,
- entity micro-F1, intent accuracy and attribute macro-F1 on the held-out split (--heldout), scored by
  nlu/tools/evaluate.py.
The joint archive is measured once per --runtimes value (the component's `runtime`: the same weights,
re-persisted in a scratch folder so the archive carries the int8 ONNX file, nlu/onnx_runtime.py). It
prints a table with every row's ratio to DIET (to the joint torch row with --no-baseline), and the
machine's load average. Figures depend on the machine and its load; compare rows of one run, never alone.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from common.stats import percentile  # noqa: E402
from nlu.onnx_runtime import RUNTIME_ONNX_INT8, RUNTIME_TORCH, RUNTIMES  # noqa: E402
from nlu.pipeline_config import attribute_schema_of  # noqa: E402
from nlu.tools.evaluate import joint_component, joint_node, load_rasa_set, parse_all, score, train  # noqa: E402

QUERIES = [
    "bday present for my 10yo son",
    "red nike running shoes under $50",
    "something for my wife, she likes gardening",
    "cheaper please",
    "show me more",
    "compare the first two",
    "is the second one in stock in size 8",
    "add it to my cart",
    "waterproof hiking boots mens size 11",
    "lego set for a 7 year old girl",
    "baby shower gift under 30",
    "bluetooth headphones with noise cancelling",
    "hi",
    "thanks!",
    "talk to a human",
    "leather handbag in black for mother's day",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc (Linux)."""
    total_kb = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def post_json(url: str, payload: Dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def server_figures(model: str, queries: Sequence[str], rounds: int) -> Dict[str, float]:
    """Start `rasa run --enable-api` on the archive, time /model/parse per query, read its memory."""
    port = free_port()
    rasa = str(Path(sys.executable).parent / "rasa")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [rasa, "run", "--enable-api", "-m", model, "--port", str(port), "--endpoints", os.devnull],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(PROJECT_ROOT),
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 300
            while True:
                try:
                    urllib.request.urlopen(f"{url}/status", timeout=5)
                    break
                except OSError:
                    if process.poll() is not None or time.time() > deadline:
                        log.seek(0)
                        raise RuntimeError(
                            f"rasa server did not start:\n{log.read()[-3000:].decode()}"
                        ) from None
                    time.sleep(1)
            for text in queries[:3]:
                post_json(f"{url}/model/parse", {"text": text})  # warm-up
            latencies = []
            for _ in range(rounds):
                for text in queries:
                    started = time.perf_counter()
                    post_json(f"{url}/model/parse", {"text": text})
                    latencies.append((time.perf_counter() - started) * 1000)
            return {
                "http_p50_ms": percentile(latencies, 50),
                "http_p95_ms": percentile(latencies, 95),
                "server_rss_mb": rss_mb(process.pid),
            }
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def in_process_figures(model: str, queries: Sequence[str], rounds: int, batch_size: int) -> Dict[str, float]:
    """Run the loaded NLU graph directly: one message per call, then `batch_size` messages per call."""
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    agent = Agent.load(model)
    processor = agent.processor
    target = processor.model_metadata.nlu_target
    tracker = DialogueStateTracker("bench", slots=[])

    def run(texts: Sequence[str]) -> List[Any]:
        messages = [UserMessage(text) for text in texts]
        results = processor.graph_runner.run(
            inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker}, targets=[target]
        )
        return results[target]

    run(queries[:2])
    single = []
    for _ in range(rounds):
        for text in queries:
            started = time.perf_counter()
            run([text])
            single.append((time.perf_counter() - started) * 1000)
    batch = [queries[i % len(queries)] for i in range(batch_size)]
    batch_rounds = max(1, rounds * len(queries) // batch_size)
    started = time.perf_counter()
    for _ in range(batch_rounds):
        parsed = run(batch)
    batched_seconds = time.perf_counter() - started
    assert len(parsed) == batch_size
    return {
        "graph_p50_ms": percentile(single, 50),
        "graph_p95_ms": percentile(single, 95),
        "throughput_batch1_per_s": 1000 * len(single) / sum(single),
        f"throughput_batch{batch_size}_per_s": batch_rounds * batch_size / batched_seconds,
    }


def runtime_archives(model: str, runtimes: Sequence[str], scratch: Path) -> Dict[str, str]:
    """Copies of a joint archive whose JointShoppingNLU step serves with each runtime.

    The component is loaded from the unpacked archive and persisted again, which adds the int8 ONNX file
    (an archive trained before it existed has none); only the step's `runtime` key differs between copies.
    """
    from rasa.engine.graph import GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    unpacked = scratch / "unpacked"
    with tarfile.open(model, "r:gz") as archive:
        archive.extractall(unpacked, filter="data")
    metadata = json.loads((unpacked / "metadata.json").read_text())
    schema = GraphSchema.from_dict(copy.deepcopy(metadata["predict_schema"]))  # from_dict edits its input
    try:
        name, _ = joint_node(schema)
    except ValueError as error:
        raise SystemExit(f"{model}: {error}") from None
    joint_component(LocalModelStorage(unpacked / "components"), schema).persist()
    node = metadata["predict_schema"]["nodes"][name]
    archives = {}
    for runtime in runtimes:
        node["config"]["runtime"] = runtime
        (unpacked / "metadata.json").write_text(json.dumps(metadata))
        archives[runtime] = str(scratch / f"joint-{runtime}.tar.gz")
        with tarfile.open(archives[runtime], "w:gz") as archive:
            archive.add(unpacked, arcname="")
    return archives


def heldout_figures(model: str, heldout: Path, schema: Dict[str, List[str]]) -> Dict[str, Optional[float]]:
    """Held-out entity micro-F1, intent accuracy and attribute macro-F1 (None: the model gives no attributes).

    Each text is parsed alone, as /model/parse does; the attributes judged are the joint config's.
    """
    eval_set = load_rasa_set(heldout, schema)
    report = score(eval_set, parse_all(model, [ex.text for ex in eval_set.examples]), schema)
    return {
        "heldout_entity_f1": report["entities"]["micro"]["f1"],
        "heldout_intent_accuracy": report["intent"]["accuracy"],
        "heldout_attribute_macro_f1": report.get("attributes", {}).get("macro_f1"),
    }


def format_table(results: Dict[str, Dict[str, Optional[float]]], baseline: str) -> str:
    names = list(results)
    metrics = [m for m in next(iter(results.values()))]
    others = [n for n in names if n != baseline]
    header = ["metric", *names] + [f"{n}/{baseline}" for n in others]
    rows = [header]
    for metric in metrics:
        # Held-out scores: 4 digits, and the comparison as a difference in points (a ratio would hide it).
        score = metric.startswith("heldout_")
        row = [metric] + [
            "n/a" if results[n].get(metric) is None else f"{results[n][metric]:.{4 if score else 2}f}"
            for n in names
        ]
        for n in others:
            a, b = results[n].get(metric), results[baseline].get(metric)
            if a is None or not b:
                row.append("n/a")
            else:
                row.append(f"{(a - b) * 100:+.2f} pt" if score else f"{a / b:.2f}x")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, Optional[float]]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument("--baseline-config", type=Path, default=PROJECT_ROOT / "config.diet.yml")
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT / "data")
    parser.add_argument("--domain", type=Path, default=PROJECT_ROOT / "bot" / "domain.yml")
    parser.add_argument("--model", help="trained archive of --config (skips training)")
    parser.add_argument("--baseline-model", help="trained archive of --baseline-config (skips training)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "reports" / "bench")
    parser.add_argument("--rounds", type=int, default=10, help="passes over the query list")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--runtimes",
        default=f"{RUNTIME_TORCH},{RUNTIME_ONNX_INT8}",
        help=f"the joint model's runtimes to measure, comma-separated ({', '.join(RUNTIMES)})",
    )
    parser.add_argument("--heldout", type=Path, default=PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml")
    parser.add_argument("--no-baseline", action="store_true", help="no DIET row (no DIET archive at hand)")
    parser.add_argument("--no-server", action="store_true", help="skip the /model/parse and memory figures")
    args = parser.parse_args(argv)
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if not runtimes or set(runtimes) - set(RUNTIMES):
        parser.error(f"--runtimes: give some of {', '.join(RUNTIMES)}, not {args.runtimes!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's per-message debug lines would drown the table

    print(f"load average (1, 5, 15 min) at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    schema = attribute_schema_of(args.config)
    candidates = [("joint", args.config, args.model)]
    if not args.no_baseline:
        candidates.append(("diet", args.baseline_config, args.baseline_model))
    results: Dict[str, Dict[str, Optional[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as scratch:
        for name, config, model in candidates:
            training_seconds: Optional[float] = None
            if model is None:
                print(f"training {name} ({config}) ...", flush=True)
                model, training_seconds = train(config, args.data, args.domain, args.out, name)
            rows = {name: model}
            if name == "joint":
                print(f"writing the joint archive once per runtime ({', '.join(runtimes)}) ...", flush=True)
                copies = runtime_archives(model, runtimes, Path(scratch))
                rows = {f"joint/{runtime}": copy for runtime, copy in copies.items()}
            for row, archive in rows.items():
                figures: Dict[str, Optional[float]] = {
                    "training_s": training_seconds,
                    "archive_mb": Path(archive).stat().st_size / 2**20,
                }
                print(f"benchmarking {row} ({archive}) ...", flush=True)
                if not args.no_server:
                    figures.update(server_figures(archive, QUERIES, args.rounds))
                figures.update(in_process_figures(archive, QUERIES, args.rounds, args.batch_size))
                figures.update(heldout_figures(archive, args.heldout, schema))
                results[row] = figures
    print()
    baseline = "diet" if "diet" in results else next(iter(results))
    print(format_table(results, baseline=baseline))
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
