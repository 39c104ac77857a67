"""The learning-loop benchmark: does reviewing the bot's most doubtful messages first teach it more than
reviewing as many random ones?

    nice -n 5 .venv/bin/python benchmarks/bench_learning_loop.py --queries 2000 --sizes 100,200,400 \\
        --base-examples 0 --epochs 4 --random-draws 2 --train-seeds 42,7 --json reports/learning-loop.json

(the runs in docs/nlu-results.md, "Learning loop": about 5 minutes of training per model on the idle
2-core machine, so 10 models with one training seed, 19 with two)

1. A base model is trained on the project's own `data/nlu` (all of it, or a stratified sample with
   --base-examples N; no QueryNER example), NLU only (`rasa train nlu`), with the recipe's epochs and no
   calibration slice. Every model of the run uses the same recipe (config.yml's `reviewed_repeat`
   included: since session 10 each exported review counts 4 times an epoch; pass a --config with 1 to
   weigh reviews as written examples). --base-queries N adds N QueryNER train queries (outside the
   stream, the dev split and validation) to the base data: a model that has already seen real queries,
   as the shipped one has, where the issue's setting (0) starts from written data alone.
2. A sample of QueryNER train queries is sent through the bot (bot.launcher.BotProcesses, REST webhook)
   as live traffic; the conversation log (learning/broker.py, on a temporary database) keeps each
   message with its parse and doubt (learning/doubt.py).
3. For each N, arms on copies of that log: doubt-first takes the first N items of the console's own queue
   (GET /api/queue?state=unreviewed, paged: its order, identical texts collapsed, near-duplicates spread;
   items without a gold label passed over); random takes N distinct texts from a seeded shuffle, once per
   --random-draws seed (each N's random set holds the smaller N's). Each chosen message gets its QueryNER
   gold label (mapped by data/lexicon/queryner_mapping.yml) through the console's correction API (an admin
   logged in through the login form); then learning.export writes the reviewed messages and a model is
   retrained on the base data plus the export, once per --train-seeds seed (one training's seed moves
   QueryNER F1 by about a point, as much as the deltas measured here).
4. Every model is scored on the QueryNER validation split and on a dev split of QueryNER train queries
   outside the stream (--dev-queries; a second opinion), entity micro-F1 as nlu/tools/evaluate.py scores
   it. An arm's F1 is that of its seeds' pooled per-query counts. Per N and set: doubt-first, each random
   draw, their mean, the delta, and a paired bootstrap over the queries (nlu.tools.metrics.
   paired_bootstrap: 95% interval of the delta, share of resamples where doubt-first is ahead). The
   tables go to stdout, everything to --json. --resume keeps --work and reuses its base data, base
   model, logged traffic and every trained model (delete a model file to retrain it).

The path each step took is printed and kept in the JSON, so the figures say what they measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.launcher import BotProcesses, child_env, venv_bin  # noqa: E402
from bot.training_config import shrink_epochs  # noqa: E402
from nlu.pipeline_config import attribute_schema_of  # noqa: E402
from nlu.tools.evaluate import judged_spans, load_bio_set, parse_all  # noqa: E402
from nlu.tools.import_bio import (  # noqa: E402
    DEFAULT_MAPPING,
    character_spans,
    convert,
    load_mapping,
    read_jsonl,
    to_yaml,
)
from nlu.tools.metrics import Counts, micro_f1, paired_bootstrap, prf, span_counts, summed  # noqa: E402
from nlu.tools.validate_data import Example, load_examples, normalise_for_dedup  # noqa: E402

QUERYNER = PROJECT_ROOT.parent / "shared" / "datasets" / "queryner"
JOINT_STEP = "nlu.component.JointShoppingNLU"
Label = Dict[str, Any]
BASE_QUERIES_SEED = 2027
STREAM_PATH = "bot REST webhook + learning.broker"  # how live traffic reaches the log (kept in the JSON)

_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line with the elapsed wall time, flushed (the run is long and logged to a file)."""
    elapsed = time.monotonic() - _STARTED
    print(f"[{time.strftime('%H:%M:%S')} +{elapsed / 60:5.1f} min] {message}", flush=True)


# ----------------------------------------------------------------------------------------------------
# Pure transforms


def stratified_sample(examples: Sequence[Example], total: int, seed: int, floor: int = 15) -> List[Example]:
    """About `total` examples with each intent's share kept, and at least `floor` of every intent (or
    all it has), deduplicated by text, so a small recipe still sees every intent."""
    by_intent: Dict[str, List[Example]] = defaultdict(list)
    seen = set()
    for example in examples:
        key = normalise_for_dedup(example.text)
        if key not in seen:
            seen.add(key)
            by_intent[example.intent].append(example)
    count = sum(len(v) for v in by_intent.values())
    rng = random.Random(seed)
    sample: List[Example] = []
    for intent in sorted(by_intent):
        pool = list(by_intent[intent])
        rng.shuffle(pool)
        want = max(min(floor, len(pool)), round(total * len(pool) / count))
        sample += pool[:want]
    return sample


def nlu_yaml(examples: Sequence[Example], header: str) -> str:
    """Rasa NLU YAML of annotated examples, attribute labels kept as example metadata."""
    by_intent: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for example in examples:
        item: Dict[str, Any] = {"text": example.annotated}
        if example.attributes:
            item["metadata"] = {"attributes": dict(example.attributes)}
        by_intent[example.intent].append(item)
    blocks = [{"intent": intent, "examples": items} for intent, items in sorted(by_intent.items())]
    body = yaml.safe_dump({"version": "3.1", "nlu": blocks}, sort_keys=False, allow_unicode=True, width=1000)
    return f"# {header}\n{body}"


def annotate(text: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """Rasa's inline markup for character-offset entities: 'red [shoes](product_type)'."""
    parts, position = [], 0
    for entity in sorted(entities, key=lambda e: int(e["start"])):
        start, end = int(entity["start"]), int(entity["end"])
        parts += [text[position:start], f"[{text[start:end]}]({entity['entity']})"]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def gold_label(text: str, spans: Sequence[Tuple[int, int, str]], attributes: Mapping[str, str],
               intent: str) -> Label:
    """A reviewed label in the conversation log's shape, from a QueryNER query's mapped gold spans."""
    return {
        "intent": intent,
        "entities": [{"start": s, "end": e, "entity": t, "value": text[s:e]} for s, e, t in spans],
        "attributes": dict(attributes),
    }


def message_golds(rows: Sequence[Tuple[int, float, str]], golds: Mapping[str, Tuple[str, Label]]
                  ) -> Dict[int, Label]:
    """Each logged message's gold label, carried onto the text the log stored (the broker may have
    redacted or re-spaced it; learning.review.remap_label keeps the spans it can still find)."""
    from learning.review import remap_label

    out: Dict[int, Label] = {}
    for message_id, _, text in sorted(rows):
        key = normalise_for_dedup(text)
        if key in golds:
            gold_text, gold = golds[key]
            out[message_id] = remap_label(gold, gold_text, text)
    return out


def one_per_text(rows: Sequence[Tuple[int, float, str]], labelled: Mapping[int, Label]
                 ) -> List[Tuple[int, float]]:
    """(id, doubt) of the first labelled message of each distinct text: the queue collapses identical
    texts into one review, so the random arm draws texts, not copies."""
    seen, out = set(), []
    for message_id, value, text in sorted(rows):
        key = normalise_for_dedup(text)
        if message_id in labelled and key not in seen:
            seen.add(key)
            out.append((message_id, value))
    return out


def base_queries(queries: Sequence[Any], mapping: Any, taken: Set[str], n: int) -> List[Any]:
    """n distinct queries not in `taken`, converted for the base data: those left after the stream and the
    dev split, shuffled again (seed BASE_QUERIES_SEED), the first n (a larger n keeps a smaller one's)."""
    left, seen = [], set(taken)
    for query in queries:
        converted = convert(query, mapping)
        key = normalise_for_dedup(converted.text)
        if key and key not in seen:
            seen.add(key)
            left.append(converted)
    random.Random(BASE_QUERIES_SEED).shuffle(left)
    return left[:n]


def random_first(ids: Sequence[int], n: int, seed: int) -> List[int]:
    """n ids from one seeded shuffle, so a larger n keeps the smaller n's choice."""
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return order[:n]


def recipe_config(config: Mapping[str, Any], epochs: int) -> Dict[str, Any]:
    """The benchmark's training config: the project's NLU pipeline with `epochs` for the joint model and
    no calibration slice (it would hold back some of the reviewed examples, by chance, from one arm more
    than the other; temperatures move confidences, never the spans scored here)."""
    shrunk = shrink_epochs(config, {JOINT_STEP: epochs})
    for step in shrunk.get("pipeline", []):
        if step.get("name") == JOINT_STEP:
            step["calibration_fraction"] = 0.0
    return {k: v for k, v in shrunk.items() if k != "policies"}


# ----------------------------------------------------------------------------------------------------
# Training and scoring


def train_nlu(config: Path, data: Path, out: Path, name: str, log_path: Path) -> Path:
    """`rasa train nlu` in a child process (logged), with a progress line every minute."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        venv_bin("rasa"), "train", "nlu", "--config", str(config), "--nlu", str(data),
        "--domain", str(PROJECT_ROOT / "bot" / "domain.yml"), "--out", str(out), "--fixed-model-name", name,
    ]
    started = time.monotonic()
    next_report = started + 60
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=child_env(), stdout=log,
                                   stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(2)
            if time.monotonic() >= next_report:
                next_report += 60
                say(f"  training {name}: {time.monotonic() - started:.0f} s")
    if process.returncode != 0:
        raise RuntimeError(f"rasa train nlu failed for {name}; see {log_path}")
    archive = out / f"{name}.tar.gz"
    say(f"  trained {name} in {time.monotonic() - started:.0f} s")
    return archive


def entity_counts(model: Path, eval_set: Any) -> List[Counts]:
    """Per query (tp, fp, fn) of a model's entity spans on an evaluation set, the types it judges only
    (nlu/tools/evaluate.py's scoring: summed, they give its entity micro-F1)."""
    return span_counts(*judged_spans(eval_set, parse_all(str(model), [ex.text for ex in eval_set.examples])))


def pooled(runs: Sequence[Sequence[Counts]]) -> List[Counts]:
    """One model's counts summed over its training seeds, query by query (the bootstrap's unit stays
    the query; the F1 of the pooled counts is the seeds' F1 as one larger evaluation)."""
    return [summed(by_seed) for by_seed in zip(*runs, strict=True)]


def dev_split(queries: Iterable[Tuple[Any, str]], taken: Set[str], size: int, path: Path) -> Path:
    """A development split of QueryNER train for a second opinion: the next `size` distinct queries of the
    seeded order that are neither streamed nor in the validation split (`taken`: their keys), as BIO JSONL."""
    lines = []
    for query, key in queries:
        if len(lines) == size:
            break
        if key and key not in taken:
            taken.add(key)
            lines.append(json.dumps({"tokens": query.tokens, "tags": query.tags}))
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------
# The conversation log: live traffic, review, export


def stream_queries(model: Path, texts: Sequence[str], db_url: str) -> str:
    """Send every text through the running bot as live traffic; its event broker (learning/broker.py)
    logs each message with its parse and doubt into `db_url`. Returns the path's description."""
    from learning import db

    engine = db.get_engine(db_url)
    with BotProcesses(model=model, database_url=db_url) as bot:
        say(f"bot up at {bot.rasa_url}; logging by learning.broker")
        for i, text in enumerate(texts):
            bot.send(f"loop-{i:05d}", text)
            if (i + 1) % 250 == 0:
                say(f"  streamed {i + 1}/{len(texts)} queries")
        deadline = time.monotonic() + 60  # the broker writes after the reply; give the last rows a moment
        while time.monotonic() < deadline and _count(engine) < len(texts):
            time.sleep(1)
    say(f"logged {_count(engine)} messages")
    return STREAM_PATH


def _count(engine: Any) -> int:
    from sqlalchemy import func, select

    from learning import db

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(db.messages)).scalar_one())


def logged_rows(db_url: str) -> List[Tuple[int, float, str]]:
    """(id, doubt, text) of every logged message."""
    from sqlalchemy import select

    from learning import db

    with db.get_engine(db_url).connect() as conn:
        rows = conn.execute(select(db.messages.c.id, db.messages.c.doubt, db.messages.c.text)).all()
    return [(int(r[0]), float(r[1]), str(r[2])) for r in rows]


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (its WAL included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


class ConsoleReviewer:
    """Applies labels the way a reviewer does: an admin logged in to the console (console.app, through
    FastAPI's TestClient) posting to POST /api/messages/{id}/correct with the session's CSRF token."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        from fastapi.testclient import TestClient

        from console.app import create_app
        from console.settings import ConsoleSettings
        from console.users import add_user
        from learning import db

        password = "bench-" + os.urandom(8).hex()
        add_user(db.get_engine(db_url), "bench-admin", password, db.ADMIN)
        settings = ConsoleSettings(database_url=db_url, data_dir=data_dir)
        self.client = TestClient(create_app(settings), base_url="https://testserver")
        form = self.client.get("/login").text
        match = re.search(r'name="csrf_token" value="([^"]+)"', form)
        if match is None:
            raise RuntimeError("the console's login page has no csrf_token field")
        response = self.client.post("/login", data={"username": "bench-admin", "password": password,
                                                    "csrf_token": match.group(1), "next": "/"},
                                    follow_redirects=False)
        if response.status_code != 303:
            raise RuntimeError(f"console login failed: {response.status_code}")
        page = self.client.get("/review").text
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        if match is None:
            raise RuntimeError("the console's pages carry no csrf-token meta tag")
        self.csrf = match.group(1)

    def queue_ids(self, n: int, labelled: Any) -> List[int]:
        """The first n message ids of the review queue as a reviewer sees it (GET /api/queue, unreviewed,
        page by page): most doubtful first, identical texts collapsed, near-duplicates spread out. Items
        without a gold label (`labelled(id)` false: the broker redacted the query into another text) are
        passed over, as a reviewer skips what they cannot label."""
        ids: List[int] = []
        offset = 0
        while len(ids) < n:
            page = {"state": "unreviewed", "limit": 200, "offset": offset}
            response = self.client.get("/api/queue", params=page)
            if response.status_code != 200:
                raise RuntimeError(f"reading the queue: {response.status_code} {response.text}")
            items = response.json()["items"]
            if not items:
                break
            offset += len(items)
            ids += [int(item["message_id"]) for item in items if labelled(int(item["message_id"]))]
        return ids[:n]

    def correct(self, message_id: int, label: Label) -> None:
        response = self.client.post(f"/api/messages/{message_id}/correct", json=label,
                                    headers={"X-CSRF-Token": self.csrf})
        if response.status_code != 200:
            raise RuntimeError(f"correcting message {message_id}: {response.status_code} {response.text}")


def export_reviewed(db_url: str, data_dir: Path, heldout: Path) -> Any:
    """learning.export: reviewed labels into data_dir/nlu/reviewed/console.yml (1 in 5 texts held out)."""
    from learning import db
    from learning.export import export_reviewed as export

    return export(db.get_engine(db_url), data_dir, heldout)


# ----------------------------------------------------------------------------------------------------
# The run


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=2000, help="QueryNER train queries streamed")
    parser.add_argument("--sizes", default="100,200,400", help="numbers of reviews N")
    parser.add_argument("--base-examples", type=int, default=0,
                        help="stratified sample of data/nlu; 0: all of it (deduplicated), as shipped")
    parser.add_argument("--epochs", type=int, default=2, help="joint model epochs, every model")
    parser.add_argument("--base-queries", type=int, default=0,
                        help="QueryNER train queries added to the base data (outside the stream, the dev "
                             "split and validation); 0, the issue's setting: a base that saw no real query")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--random-draws", type=int, default=2,
                        help="random arms per N (seeds seed, seed+1, ...): one draw's luck is not a baseline")
    parser.add_argument("--train-seeds", default="",
                        help="comma-separated training seeds; every arm is trained once per seed and "
                             "scored on its seeds' pooled counts (default: the config's random_seed only)")
    parser.add_argument("--dev-queries", type=int, default=1000,
                        help="a second opinion: QueryNER train queries outside the stream, scored like the "
                             "validation split (0: none)")
    parser.add_argument("--bootstrap", type=int, default=2000,
                        help="paired bootstrap rounds over queries for doubt-first minus the random mean")
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT / "data" / "nlu")
    parser.add_argument("--train", type=Path, default=QUERYNER / "train.jsonl")
    parser.add_argument("--validation", type=Path, default=QUERYNER / "validation.jsonl")
    parser.add_argument("--mapping", type=Path, default=DEFAULT_MAPPING)
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / "artifacts" / "bench-learning-loop")
    parser.add_argument("--resume", action="store_true",
                        help="keep --work: reuse its base model, logged traffic and each arm's trained model")
    parser.add_argument("--json", type=Path, default=PROJECT_ROOT / "reports" / "learning-loop.json")
    args = parser.parse_args(argv)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's per-message debug lines would drown the progress
    logging.basicConfig(level=logging.WARNING)
    sizes = sorted(int(n) for n in args.sizes.split(","))
    started_wall = time.time()
    load_start = os.getloadavg()

    work = args.work
    if work.exists() and not args.resume:
        shutil.rmtree(work)
    (work / "models").mkdir(parents=True, exist_ok=True)

    # the recipe
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    recipe = recipe_config(config, args.epochs)
    joint = next(step for step in recipe["pipeline"] if step.get("name") == JOINT_STEP)
    default_seed = int(joint.get("random_seed", 42))
    train_seeds = [int(x) for x in args.train_seeds.split(",") if x.strip()] or [default_seed]
    config_path = work / "config.yml"  # the recipe at the config's own seed: the base model's
    config_path.write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    seed_configs: Dict[int, Path] = {}
    for train_seed in train_seeds:
        joint["random_seed"] = train_seed
        seed_configs[train_seed] = (config_path if train_seed == default_seed
                                    else work / f"config-seed{train_seed}.yml")
        seed_configs[train_seed].write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    mapping = load_mapping(args.mapping)
    schema = attribute_schema_of(args.config)
    validation = load_bio_set(args.validation, mapping, list(schema))
    say(f"QueryNER validation: {len(validation.examples)} queries")

    # the stream: a seeded sample of distinct train queries, with their mapped gold labels
    golds: Dict[str, Tuple[str, Label]] = {}
    texts: List[str] = []
    queries = list(read_jsonl(args.train))
    random.Random(args.seed).shuffle(queries)
    validation_keys = {normalise_for_dedup(ex.text) for ex in validation.examples}
    for query in queries:
        converted = convert(query, mapping)
        key = normalise_for_dedup(converted.text)
        if not key or key in golds or key in validation_keys:
            continue
        spans = character_spans(converted)
        golds[key] = (converted.text, gold_label(converted.text, spans, converted.attributes, mapping.intent))
        texts.append(converted.text)
        if len(texts) == args.queries:
            break

    eval_sets = {"validation": validation}
    dev_keys: Set[str] = set()
    if args.dev_queries > 0:
        keyed = ((query, normalise_for_dedup(convert(query, mapping).text)) for query in queries)
        dev_path = dev_split(keyed, set(golds) | validation_keys, args.dev_queries, work / "dev.jsonl")
        eval_sets["dev"] = load_bio_set(dev_path, mapping, list(schema))
        dev_keys = {normalise_for_dedup(example.text) for example in eval_sets["dev"].examples}
        say(f"dev split: {len(eval_sets['dev'].examples)} QueryNER train queries outside the stream")

    base_dir = work / "data-base"
    base_dir.mkdir(exist_ok=True)
    base_file = base_dir / "base.yml"
    real_file = base_dir / "queryner_base.yml"
    if args.resume and base_file.exists():  # the resumed models were trained on it, whatever data/ holds now
        base_count = sum(len(load_examples(path)) for path in sorted(base_dir.glob("*.yml")))
        header = base_file.read_text(encoding="utf-8").splitlines()[0]
        base_text = f"{base_count} examples kept from the resumed run ({header})"
    else:
        examples = [ex for path in sorted(args.data.rglob("*.yml")) for ex in load_examples(path)]
        base = (stratified_sample(examples, args.base_examples, args.seed) if args.base_examples > 0
                else stratified_sample(examples, len(examples), args.seed, floor=0))
        header = f"Stratified sample ({len(base)}) of {args.data}, seed {args.seed}."
        base_file.write_text(nlu_yaml(base, header), encoding="utf-8")
        base_count = len(base)
        base_text = (f"{base_count} of {len(examples)} examples of data/nlu (stratified by intent, "
                     f"seed {args.seed})")
        real_file.unlink(missing_ok=True)
        if args.base_queries > 0:
            taken = set(golds) | validation_keys | dev_keys
            real = base_queries(queries, mapping, taken, args.base_queries)
            real_file.write_text(to_yaml(real, mapping.intent, str(args.train)), encoding="utf-8")
            base_count += len(real)
            base_text += f" + {len(real)} QueryNER train queries outside the stream, dev and validation"
    recipe_text = (f"`rasa train nlu`, {config_path.name} = {args.config.name}'s pipeline with {JOINT_STEP} "
                   f"epochs={args.epochs}; base data: {base_text}; retrained: base + exported reviews")
    say(f"recipe: {recipe_text}")

    base_model = work / "models" / "base.tar.gz"
    if args.resume and base_model.exists():
        say(f"resuming: the base model {base_model} is already trained")
    else:
        say("training the base model")
        base_model = train_nlu(config_path, base_dir, work / "models", "base", work / "train-base.log")
    base_scores = {name: prf(*summed(entity_counts(base_model, eval_set)))
                   for name, eval_set in eval_sets.items()}
    say("base model: entity F1 " + ", ".join(f"{k} {v['f1']:.4f}" for k, v in base_scores.items()))

    db_path = work / "live.db"
    stream_path = STREAM_PATH
    if args.resume and db_path.exists():
        say(f"resuming: the live traffic is already logged in {db_path}")
    else:
        stream_path = stream_queries(base_model, texts, f"sqlite:///{db_path}")
    from learning import db

    db.reset_engines()
    rows = logged_rows(f"sqlite:///{db_path}")
    golds_by_id = message_golds(rows, golds)
    labelled = one_per_text(rows, golds_by_id)
    doubts = {message_id: value for message_id, value, _ in rows}  # the queue shows a group's newest copy
    say(f"{len(labelled)} distinct texts of {len(rows)} logged messages have a gold label")

    def run_arm(arm: str, n: int, choose: Any) -> Dict[str, Any]:
        """Copy the live log, review the arm's choice through the console, export, retrain, score."""
        arm_dir = work / f"{arm}-{n}"
        if arm_dir.exists():
            shutil.rmtree(arm_dir)
        arm_db = arm_dir / "loop.db"
        copy_database(db_path, arm_db)
        url = f"sqlite:///{arm_db}"
        data_dir = arm_dir / "data"
        (data_dir / "nlu").mkdir(parents=True)
        for path in base_dir.glob("*.yml"):
            shutil.copy(path, data_dir / "nlu" / path.name)
        console = ConsoleReviewer(url, data_dir)
        chosen = choose(console)
        for message_id in chosen:
            console.correct(message_id, golds_by_id[message_id])
        exported = export_reviewed(url, data_dir, arm_dir / "heldout_reviewed.yml")
        mean_doubt = sum(doubts.get(i, 0.0) for i in chosen) / max(len(chosen), 1)
        say(f"{arm} N={n}: corrected {len(chosen)} through the console API (mean doubt {mean_doubt:.3f}); "
            f"export: {exported.train_count} to training, {exported.heldout_count} held out, "
            f"{exported.skipped_training_duplicates} already in the data; retraining")
        runs: Dict[str, List[List[Counts]]] = {name: [] for name in eval_sets}
        per_seed: Dict[str, List[float]] = {name: [] for name in eval_sets}
        for train_seed, seed_config in seed_configs.items():
            name = f"{arm}-{n}" if train_seed == default_seed else f"{arm}-{n}-seed{train_seed}"
            model = work / "models" / f"{name}.tar.gz"
            if args.resume and model.exists():
                say(f"resuming: {model} is already trained")
            else:
                log_path = arm_dir / f"train-{train_seed}.log"
                model = train_nlu(seed_config, data_dir, work / "models", name, log_path)
            for set_name, eval_set in eval_sets.items():
                counts = entity_counts(model, eval_set)
                runs[set_name].append(counts)
                per_seed[set_name].append(micro_f1(counts))
            say(f"{name}: entity F1 " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in per_seed.items()))
        db.reset_engines()
        arm_counts[(arm, n)] = {set_name: pooled(r) for set_name, r in runs.items()}
        scores = {set_name: {**prf(*summed(counts)), "per_seed_f1": per_seed[set_name]}
                  for set_name, counts in arm_counts[(arm, n)].items()}
        return {**scores["validation"], "scores": scores, "mean_doubt": mean_doubt,
                "exported_train": exported.train_count, "exported_heldout": exported.heldout_count}

    arm_counts: Dict[Tuple[str, int], Dict[str, List[Counts]]] = {}
    results: List[Dict[str, Any]] = []
    paths = {"stream": stream_path, "export": "learning.export.export_reviewed",
             "doubt_first": "console API GET /api/queue?state=unreviewed (the queue's own order)",
             "review": "console API POST /api/messages/{id}/correct (TestClient, admin)"}
    random_seeds = [args.seed + k for k in range(args.random_draws)]
    for n in sizes:
        row: Dict[str, Any] = {"n": n}
        row["doubt_first"] = run_arm("doubt_first", n,
                                     lambda console, n=n: console.queue_ids(n, golds_by_id.__contains__))
        row["random"] = [
            run_arm(f"random{seed}", n,
                    lambda console, n=n, seed=seed: random_first([i for i, _ in labelled], n, seed))
            for seed in random_seeds
        ]
        row["comparison"] = {}
        for set_name in eval_sets:
            random_f1 = [arm["scores"][set_name]["f1"] for arm in row["random"]]
            interval = paired_bootstrap(arm_counts[("doubt_first", n)][set_name],
                                        [arm_counts[(f"random{seed}", n)][set_name] for seed in random_seeds],
                                        rounds=args.bootstrap, seed=args.seed)
            row["comparison"][set_name] = {
                "doubt_first_f1": row["doubt_first"]["scores"][set_name]["f1"], "random_f1": random_f1,
                "random_mean_f1": sum(random_f1) / len(random_f1), "delta": interval["difference"],
                "delta_vs_best_random": row["doubt_first"]["scores"][set_name]["f1"] - max(random_f1),
                "bootstrap": interval,
            }
        results.append(row)

    wall = time.time() - started_wall
    seeds_text = ", ".join(str(seed) for seed in random_seeds)
    seeds_note = ", ".join(str(seed) for seed in train_seeds)
    for set_name in eval_sets:
        print(f"\n{set_name} entity F1 (training seeds {seeds_note}, pooled; 95% paired bootstrap interval "
              f"of doubt-first minus the random mean over {args.bootstrap} resamples of the queries)")
        print(f"| N | doubt-first | random (draws {seeds_text}) | random mean | delta vs mean | "
              f"95% interval | share of resamples ahead | delta vs best draw |")
        print("|---|---|---|---|---|---|---|---|")
        base_f1 = base_scores[set_name]["f1"]
        print(f"| 0 (base) | {base_f1:.4f} | | | | | | |")
        for row in results:
            c = row["comparison"][set_name]
            draws = " / ".join(f"{f1:.4f}" for f1 in c["random_f1"])
            interval = c["bootstrap"]
            print(f"| {row['n']} | {c['doubt_first_f1']:.4f} | {draws} | {c['random_mean_f1']:.4f} | "
                  f"{c['delta']:+.4f} | {interval['low']:+.4f} .. {interval['high']:+.4f} | "
                  f"{interval['share_ahead']:.2f} | {c['delta_vs_best_random']:+.4f} |")
    report = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "recipe": recipe_text, "epochs": args.epochs, "base_examples": base_count, "queries": len(texts),
        "seed": args.seed, "random_draw_seeds": random_seeds, "train_seeds": train_seeds, "paths": paths,
        "base": base_scores["validation"], "base_scores": base_scores,
        "eval_sets": {name: len(eval_set.examples) for name, eval_set in eval_sets.items()},
        "results": results,
        "wall_seconds": wall, "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "validation_queries": len(validation.examples),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    say(f"done in {wall / 60:.1f} min; wrote {args.json}")
    return report


if __name__ == "__main__":
    main()
