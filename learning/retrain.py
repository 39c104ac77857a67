"""Retrain with a measured gain: export the reviews, train a candidate, score it beside the live model on
the held-out splits, and promote it only if no metric got worse by more than a tolerance.

    python -m learning.retrain [--config config.yml] [--data data] [--epochs NAME=N,...] [--no-promote]
        [--tolerance 0.005]

Steps, each printed as it happens:
1. learning.export writes the reviewed corrections into <data>/nlu/reviewed/console.yml and the review-
   derived test slice tests/data/heldout_reviewed.yml.
2. `rasa train` (bot.launcher.train_model) writes the candidate into models/candidates/; `--epochs`
   shrinks named steps' epochs (bot.training_config.shrink_epochs), e.g. for a quick check.
3. Candidate and live model parse tests/data/heldout_nlu.yml (and the reviewed slice when it has
   examples) through nlu/tools/evaluate.py; the table gives intent accuracy, intent macro-F1, entity
   micro-F1 and attribute macro-F1 for both, with the delta.
4. Both are registered (learning/registry.py) with their metrics; the candidate's parent is the live
   model. With no live model yet, the newest archive in models/ (what `make run` served) is adopted as
   live first, so there is something to beat; with none at all the candidate becomes the first live model.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml
from sqlalchemy.engine import Engine

from learning import registry
from learning.db import LIVE, REPO_ROOT, get_engine

Progress = Callable[[str], None]
MetricTable = Dict[str, Dict[str, float]]  # evaluation set -> metric -> value

# (key, label) of the figures compared, in table order.
METRICS: Tuple[Tuple[str, str], ...] = (
    ("intent_accuracy", "intent accuracy"),
    ("intent_macro_f1", "intent macro-F1"),
    ("entity_micro_f1", "entity micro-F1"),
    ("attribute_macro_f1", "attribute macro-F1"),
)
DEFAULT_TOLERANCE = 0.005
DEFAULT_HELDOUT = REPO_ROOT / "tests" / "data" / "heldout_nlu.yml"
DEFAULT_REVIEWED_HELDOUT = REPO_ROOT / "tests" / "data" / "heldout_reviewed.yml"
DEFAULT_CANDIDATES = REPO_ROOT / "models" / "candidates"
PROGRESS_EVERY_S = 30.0


@dataclass
class RetrainOptions:
    config: Path = REPO_ROOT / "config.yml"
    data: Path = REPO_ROOT / "data"
    domain: Path = REPO_ROOT / "bot" / "domain.yml"
    epochs: Dict[str, int] = field(default_factory=dict)
    promote: bool = True
    tolerance: float = DEFAULT_TOLERANCE
    heldout: Path = DEFAULT_HELDOUT
    reviewed_heldout: Path = DEFAULT_REVIEWED_HELDOUT
    export: bool = True
    candidates_dir: Path = DEFAULT_CANDIDATES
    serve_dir: Path = registry.DEFAULT_SERVE_DIR
    username: str = ""


@dataclass
class RetrainResult:
    candidate: registry.ModelRecord
    live: Optional[registry.ModelRecord]
    candidate_metrics: MetricTable
    live_metrics: MetricTable
    table: str
    promoted: bool
    reasons: List[str]


# ----------------------------------------------------------------------------------------------------
# Pure parts: headline figures, the not-worse rule, the table


def headline(scored: Mapping[str, Any]) -> Dict[str, float]:
    """The compared figures from one nlu.tools.evaluate.score() result (absent ones left out)."""
    out: Dict[str, float] = {"examples": float(scored.get("examples", 0))}
    intent = scored.get("intent") or {}
    if "accuracy" in intent:
        out["intent_accuracy"] = float(intent["accuracy"])
        out["intent_macro_f1"] = float(intent["macro_f1"])
    entities = (scored.get("entities") or {}).get("micro")
    if entities is not None:
        out["entity_micro_f1"] = float(entities["f1"])
    attributes = scored.get("attributes")
    if attributes is not None:
        out["attribute_macro_f1"] = float(attributes["macro_f1"])
    return out


def drops(live: Mapping[str, Mapping[str, float]], candidate: Mapping[str, Mapping[str, float]],
          tolerance: float) -> List[str]:
    """Every figure where the candidate is worse than the live model by more than `tolerance`, on the
    evaluation sets both were scored on."""
    found = []
    for set_name in sorted(set(live) & set(candidate)):
        for key, label in METRICS:
            if key in live[set_name] and key in candidate[set_name]:
                delta = candidate[set_name][key] - live[set_name][key]
                if delta < -tolerance:
                    found.append(f"{set_name} {label}: {live[set_name][key]:.4f} -> "
                                 f"{candidate[set_name][key]:.4f} ({delta:+.4f})")
    return found


def not_worse(live: Mapping[str, Mapping[str, float]], candidate: Mapping[str, Mapping[str, float]],
              tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """The promotion rule: no compared figure drops by more than the tolerance."""
    return not drops(live, candidate, tolerance)


def comparison_table(live: Mapping[str, Mapping[str, float]], candidate: Mapping[str, Mapping[str, float]]
                     ) -> str:
    """A markdown table per evaluation set and metric: live, candidate, delta."""
    lines = ["| set | metric | live | candidate | delta |", "|---|---|---|---|---|"]
    for set_name in sorted(set(live) | set(candidate)):
        before, after = live.get(set_name, {}), candidate.get(set_name, {})
        for key, label in METRICS:
            if key not in before and key not in after:
                continue
            old, new = before.get(key), after.get(key)
            delta = f"{new - old:+.4f}" if old is not None and new is not None else "n/a"
            lines.append(f"| {set_name} | {label} | {_fmt(old)} | {_fmt(new)} | {delta} |")
    return "\n".join(lines)


def parse_epochs(text: str) -> Dict[str, int]:
    """`NAME=N,NAME=N` (pipeline or policy names as config.yml spells them) as a mapping."""
    out: Dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if not name or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"--epochs wants NAME=N with N >= 1, got {part!r}")
        out[name.strip()] = int(value)
    return out


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.4f}"


# ----------------------------------------------------------------------------------------------------
# The job


def evaluate_model(archive: Path, sets: Sequence[Any], schema: Mapping[str, Sequence[str]]) -> MetricTable:
    """Headline figures of one archive on each evaluation set, parsed as the server parses."""
    from nlu.tools.evaluate import parse_all, score

    # one parse_all call: the archive is loaded once for all sets
    parsed = parse_all(str(archive), [e.text for s in sets for e in s.examples])
    out: MetricTable = {}
    for s in sets:
        out[s.name] = headline(score(s, parsed[:len(s.examples)], schema))
        parsed = parsed[len(s.examples):]
    return out


def retrain(options: RetrainOptions, engine: Optional[Engine] = None, progress: Progress = print
            ) -> RetrainResult:
    """The whole job (module docstring); raises on a failed training or evaluation."""
    from bot.launcher import train_model
    from bot.training_config import shrink_epochs
    from nlu.pipeline_config import attribute_schema_of
    from nlu.tools.evaluate import load_rasa_set

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    engine = engine or get_engine()
    stamp = time.strftime("%Y%m%d-%H%M%S")

    if options.export:
        export_reviews(engine, options, progress)

    options.candidates_dir.mkdir(parents=True, exist_ok=True)
    config = options.config
    if options.epochs:
        shrunk = shrink_epochs(yaml.safe_load(options.config.read_text(encoding="utf-8")), options.epochs)
        config = options.candidates_dir / f"config-{stamp}.yml"
        config.write_text(yaml.safe_dump(shrunk, sort_keys=False), encoding="utf-8")
        progress(f"config {options.config} with epochs {options.epochs} -> {config}")
    hashed = registry.data_hash(options.data, config, options.domain)
    log_path = options.candidates_dir / f"train-{stamp}.log"
    progress(f"training the candidate on {options.data} (data hash {hashed[:12]}); log {log_path}")
    archive = _with_progress(
        lambda: train_model(options.candidates_dir, config=config, domain=options.domain, data=options.data,
                            fixed_model_name=f"candidate-{stamp}", log_path=log_path),
        "training", progress, log_path)

    live = live_or_adopted(engine, options.serve_dir, progress)
    schema = attribute_schema_of(config)
    sets = [load_rasa_set(path, schema) for path in (options.heldout, options.reviewed_heldout)
            if path.is_file()]
    sets = [s for s in sets if s.examples]
    progress("evaluating on " + ", ".join(f"{s.name} ({len(s.examples)})" for s in sets))
    candidate_metrics = _with_progress(lambda: evaluate_model(archive, sets, schema), "candidate", progress)
    live_metrics: MetricTable = {}
    if live is not None:
        live_metrics = _with_progress(lambda: evaluate_model(Path(live.path), sets, schema), "live", progress)
        registry.update_metrics(engine, live.id, live_metrics)

    table = comparison_table(live_metrics, candidate_metrics)
    reasons = drops(live_metrics, candidate_metrics, options.tolerance)
    candidate = registry.register(engine, archive, hashed, candidate_metrics,
                                  parent_id=live.id if live is not None else None,
                                  note=f"retrain {stamp}; tolerance {options.tolerance}")
    promoted = False
    if reasons:
        progress(f"not promoted: worse by more than {options.tolerance} on " + "; ".join(reasons))
    elif not options.promote:
        progress("not worse on any figure; not promoted (--no-promote)")
    else:
        candidate = registry.promote(engine, candidate.id, options.username, options.serve_dir)
        promoted = True
        progress(f"promoted {candidate.id}: now live" + (f", {live.id} retired" if live else ""))
    return RetrainResult(candidate, live, candidate_metrics, live_metrics, table, promoted, reasons)


def export_reviews(engine: Engine, options: RetrainOptions, progress: Progress) -> None:
    """learning.export's reviewed corrections into the training data and the reviewed test slice."""
    try:
        from learning.export import export_reviewed
    except ImportError:
        progress("learning.export is not installed here: training on the data as it is")
        return
    result = export_reviewed(engine, options.data, options.reviewed_heldout)
    progress(f"exported reviews: {result.train_count} to training, {result.heldout_count} to "
             f"{options.reviewed_heldout.name}")


def live_or_adopted(engine: Engine, serve_dir: Path, progress: Progress) -> Optional[registry.ModelRecord]:
    """The registry's live model; else the newest archive in serve_dir (what `make run` served) is
    registered as live, so the first retrain is compared with what shoppers had."""
    live = registry.live_model(engine)
    if live is not None:
        return live
    archives = sorted(Path(serve_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime) if serve_dir else []
    if not archives:
        progress("no live model and no archive in models/: the candidate is compared with nothing")
        return None
    adopted = registry.register(engine, archives[-1], "unknown", status=LIVE,
                                note="adopted: the newest archive in models/ when the registry was empty")
    progress(f"adopted {archives[-1].name} as the live model ({adopted.id})")
    return adopted


def _with_progress(work: Callable[[], Any], what: str, progress: Progress, log: Optional[Path] = None) -> Any:
    """Run `work` in a thread and report every PROGRESS_EVERY_S seconds (with the log's last line)."""
    outcome: Dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    started = time.monotonic()
    thread = threading.Thread(target=run, name=f"retrain-{what}", daemon=True)
    thread.start()
    while not thread.join(PROGRESS_EVERY_S) and thread.is_alive():
        last = _last_line(log) if log else ""
        progress(f"  {what}: {time.monotonic() - started:.0f} s" + (f" ({last})" if last else ""))
    if "error" in outcome:
        raise outcome["error"]
    progress(f"  {what}: done in {time.monotonic() - started:.0f} s")
    return outcome["value"]


def _last_line(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 400))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    parts = [p.strip() for p in text.replace("\r", "\n").splitlines() if p.strip()]
    return parts[-1][:100] if parts else ""


def main(argv: Optional[Sequence[str]] = None) -> int:
    summary = " ".join(__doc__.split("\n\n")[0].split())
    parser = argparse.ArgumentParser(prog="python -m learning.retrain", description=summary)
    parser.add_argument("--config", type=Path, default=RetrainOptions.config)
    parser.add_argument("--data", type=Path, default=RetrainOptions.data)
    parser.add_argument("--epochs", default="", help="NAME=N,... e.g. nlu.component.JointShoppingNLU=2")
    parser.add_argument("--no-promote", action="store_true", help="register the candidate, never promote")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="largest drop of any figure that still promotes")
    parser.add_argument("--no-export", action="store_true", help="train on data/ as it is")
    args = parser.parse_args(argv)
    try:
        epochs = parse_epochs(args.epochs)
    except ValueError as error:
        parser.error(str(error))
    options = RetrainOptions(config=args.config, data=args.data, epochs=epochs, promote=not args.no_promote,
                             tolerance=args.tolerance, export=not args.no_export)

    def progress(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    result = retrain(options, progress=progress)
    print(result.table, flush=True)
    print(f"candidate {result.candidate.id}: {'promoted' if result.promoted else 'not promoted'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
