"""Speed and size of the joint NLU model next to the DIET baseline, in one run.

    python benchmarks/bench_nlu.py [--model models/joint.tar.gz] [--baseline-model models/diet.tar.gz]

For each config (trained here on --data unless an archive is given) it measures:
- training wall time (only when trained here),
- model archive size on disk,
- single-query latency through a running `rasa run --enable-api` server's /model/parse (p50/p95),
- in-process NLU graph latency for one message (no HTTP, no Agent bookkeeping) (p50/p95),
- throughput of the in-process NLU graph at batch 1 and at --batch-size messages per call,
- the server's resident memory after the queries.
It prints a table with the joint/DIET ratio of every figure. Figures depend on the machine and its load;
the script prints both so a reader can compare them side by side, never alone.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from common.stats import percentile  # noqa: E402
from nlu.tools.evaluate import train  # noqa: E402

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


def format_table(results: Dict[str, Dict[str, Optional[float]]], baseline: str) -> str:
    names = list(results)
    metrics = [m for m in next(iter(results.values()))]
    others = [n for n in names if n != baseline]
    header = ["metric", *names] + [f"{n}/{baseline}" for n in others]
    rows = [header]
    for metric in metrics:
        row = [metric] + [
            "n/a" if results[n].get(metric) is None else f"{results[n][metric]:.2f}" for n in names
        ]
        for n in others:
            a, b = results[n].get(metric), results[baseline].get(metric)
            row.append(f"{a / b:.2f}x" if a is not None and b else "n/a")
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
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    results: Dict[str, Dict[str, Optional[float]]] = {}
    for name, config, model in [
        ("joint", args.config, args.model),
        ("diet", args.baseline_config, args.baseline_model),
    ]:
        training_seconds: Optional[float] = None
        if model is None:
            print(f"training {name} ({config}) ...", flush=True)
            model, training_seconds = train(config, args.data, args.domain, args.out, name)
        figures: Dict[str, Optional[float]] = {
            "training_s": training_seconds,
            "archive_mb": Path(model).stat().st_size / 2**20,
        }
        print(f"benchmarking {name} ({model}) ...", flush=True)
        figures.update(server_figures(model, QUERIES, args.rounds))
        figures.update(in_process_figures(model, QUERIES, args.rounds, args.batch_size))
        results[name] = figures
    print()
    print(format_table(results, baseline="diet"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
