"""Redaction quality and cost, and what it does to the NLU.

1. Per placeholder type, recall and precision of learning/redaction.py on benchmarks/redaction_set.yml
   (hand-labelled shopping messages, 65 of them with no personal data at all):
   - recall: a gold piece counts when every character of it is replaced by a span of its type (the
     piece is hidden and typed right); "hidden" also counts a piece replaced under another type;
   - precision: a replaced span counts when it overlaps a gold piece of its type;
   - strict span P/R/F1 (start, end and type exact) from nlu/tools/metrics.py, for reference.
   The messages with no personal data report how many came through untouched.
2. Time added per message: p50/p95 ms of `redact()` on the set, after warm-up.
3. With `--model` (default artifacts/e2emodel/model.tar.gz): intent accuracy and entity micro-F1 on the
   held-out split, parsed and scored by nlu/tools/evaluate.py's own functions, four ways: as written;
   passed through `redact()`; with a personal-data phrase added to each message ("I'm Sarah Jones, ...",
   "..., call me on 07700 900123"); and that passed through `redact()` (what the bot now reads).
   A gold entity inside a redacted piece stays gold (the model can no longer find it: a miss).

    python benchmarks/bench_redaction.py [--set benchmarks/redaction_set.yml] [--model PATH | --no-nlu]
        [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog  # noqa: E402
import yaml  # noqa: E402

from common.stats import percentile  # noqa: E402
from learning.redaction import TYPES, Redaction, default_redactor, warm_up  # noqa: E402
from nlu import PROJECT_ROOT  # noqa: E402
from nlu.tools.metrics import Span, span_prf  # noqa: E402

DEFAULT_SET = PROJECT_ROOT / "benchmarks" / "redaction_set.yml"
DEFAULT_MODEL = PROJECT_ROOT / "artifacts" / "e2emodel" / "model.tar.gz"
DEFAULT_HELDOUT = PROJECT_ROOT / "tests" / "data" / "heldout_nlu.yml"
DEFAULT_CONFIG = PROJECT_ROOT / "config.yml"


SPLITS = ("messages", "heldout")  # the part the recognizers were tuned on; the part written after


def load_set(path: Path) -> Dict[str, List[Tuple[str, List[Span]]]]:
    """Per split, (text, gold spans) per message; each gold piece is found in the text after the previous
    one of its type, so a repeated piece is labelled in order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {split: _examples(path, data.get(split) or []) for split in SPLITS}


def _examples(path: Path, messages: Sequence[Dict[str, Any]]) -> List[Tuple[str, List[Span]]]:
    examples = []
    for message in messages:
        text, spans = message["text"], []
        for kind, pieces in (message.get("pii") or {}).items():
            if kind not in TYPES:
                raise ValueError(f"{path}: unknown type {kind} in {text!r}")
            position = 0
            for piece in pieces:
                start = text.find(str(piece), position)
                if start < 0:
                    raise ValueError(f"{path}: {piece!r} is not in {text!r}")
                spans.append((start, start + len(str(piece)), kind))
                position = start + len(str(piece))
        examples.append((text, sorted(spans)))
    return examples


def covered(span: Span, predicted: Sequence[Span], same_type: bool) -> bool:
    start, end, kind = span
    for position in range(start, end):
        if not any(s <= position < e and (k == kind or not same_type) for s, e, k in predicted):
            return False
    return True


def redaction_scores(gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]]) -> Dict[str, Any]:
    per_type: Dict[str, Dict[str, Any]] = {}
    for kind in TYPES:
        gold_spans = [(g, p) for gs, p in zip(gold, predicted, strict=True) for g in gs if g[2] == kind]
        predicted_spans = [(s, gs) for gs, p in zip(gold, predicted, strict=True) for s in p if s[2] == kind]
        recalled = sum(covered(g, p, same_type=True) for g, p in gold_spans)
        hidden = sum(covered(g, p, same_type=False) for g, p in gold_spans)
        correct = sum(
            any(s[0] < g[1] and g[0] < s[1] and g[2] == kind for g in gs) for s, gs in predicted_spans
        )
        per_type[kind] = {
            "gold": len(gold_spans),
            "recall": recalled / len(gold_spans) if gold_spans else None,
            "hidden": hidden / len(gold_spans) if gold_spans else None,
            "predicted": len(predicted_spans),
            "precision": correct / len(predicted_spans) if predicted_spans else None,
        }
    clean = [p for gs, p in zip(gold, predicted, strict=True) if not gs]
    return {
        "per_type": per_type,
        "strict": span_prf(gold, predicted),
        "no_pii_messages": len(clean),
        "no_pii_untouched": sum(not p for p in clean),
    }


def timed_redactions(texts: Sequence[str], rounds: int) -> Tuple[List[Redaction], List[float]]:
    redactor = default_redactor()
    results: List[Redaction] = []
    millis: List[float] = []
    for round_index in range(rounds):
        for text in texts:
            started = time.perf_counter()
            result = redactor.redact(text)
            millis.append((time.perf_counter() - started) * 1000)
            if round_index == 0:
                results.append(result)
    return results, millis


def shift(position: int, redaction: Redaction) -> int:
    """A character offset of the original text in the redacted text."""
    moved = position
    for start, end, kind in redaction.spans:
        if end <= position:
            moved += len(f"<{kind}>") - (end - start)
    return moved


def redacted_gold(spans: Sequence[Span], redaction: Redaction) -> List[Span]:
    """Gold entities moved to the redacted text; one a redaction swallowed can no longer be matched."""
    moved = []
    for start, end, kind in spans:
        if any(s < end and start < e for s, e, _ in redaction.spans):
            moved.append((-1, -1, kind))
        else:
            moved.append((shift(start, redaction), shift(end, redaction), kind))
    return moved


# Personal data a shopper adds to a request (before it or after it), for the NLU check on held-out
# messages that carry some: (before, after, the piece that must not survive redaction).
PII_PHRASES = (
    ("I'm Sarah Jones, ", "", "Sarah Jones"),
    ("", ", call me on 07700 900123", "07700 900123"),
    ("", ", send it to 42 Elm St", "42 Elm St"),
    ("hi, Tom here, ", "", "Tom"),
    ("", ", my email is tom.h@gmail.com", "tom.h@gmail.com"),
    ("", ", card 4111 1111 1111 1111", "4111 1111 1111 1111"),
    ("my name is Priya, ", "", "Priya"),
    ("", ", postcode SW1A 1AA", "SW1A 1AA"),
)
NLU_VARIANTS = ("raw", "redacted", "with_pii", "with_pii_redacted")


def nlu_comparison(model: Path, heldout: Path, config: Path) -> Dict[str, Any]:
    """The held-out split's headline figures with evaluate.py's parse and score, four ways: as written,
    redacted, with a personal-data phrase added (PII_PHRASES in turn), and that redacted."""
    from nlu.pipeline_config import attribute_schema_of
    from nlu.tools.evaluate import EvalSet, GoldExample, load_rasa_set, parse_all, score

    schema = attribute_schema_of(config)
    raw = load_rasa_set(heldout, schema)
    redactor = default_redactor()
    variants: Dict[str, List[GoldExample]] = {name: [] for name in NLU_VARIANTS}
    changed, leaked = [], []
    for index, example in enumerate(raw.examples):
        before, after, piece = PII_PHRASES[index % len(PII_PHRASES)]
        with_pii = GoldExample(
            before + example.text + after,
            example.intent,
            [(s + len(before), e + len(before), kind) for s, e, kind in example.entities],
            example.attributes,
        )
        for name, source in (("raw", example), ("with_pii", with_pii)):
            variants[name].append(source)
            redaction = redactor.redact(source.text)
            gold = redacted_gold(source.entities, redaction)
            variants[f"{name}_redacted" if name == "with_pii" else "redacted"].append(
                GoldExample(redaction.text, source.intent, gold, source.attributes)
            )
            if name == "raw" and redaction.changed:
                changed.append((source.text, redaction.text))
            if name == "with_pii" and piece in redaction.text:
                leaked.append((source.text, redaction.text))
    texts = [ex.text for name in NLU_VARIANTS for ex in variants[name]]
    parsed = parse_all(str(model), texts)
    size = len(raw.examples)
    result: Dict[str, Any] = {"model": str(model), "examples": size}
    for offset, name in enumerate(NLU_VARIANTS):
        eval_set = EvalSet(name=name, examples=variants[name], attributes=raw.attributes)
        scored = score(eval_set, parsed[offset * size : (offset + 1) * size], schema)
        result[name] = {
            "intent_accuracy": scored["intent"]["accuracy"],
            "entity_micro_f1": scored["entities"]["micro"]["f1"],
            "attribute_macro_f1": (scored.get("attributes") or {}).get("macro_f1"),
        }
    result["changed_messages"] = len(changed)
    result["changed_examples"] = changed[:20]
    result["pii_left_after_redaction"] = len(leaked)
    result["pii_left_examples"] = leaked[:20]
    return result


def _fmt(value: Any) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def report(scores: Dict[str, Any]) -> str:
    lines = ["type     gold  recall  hidden  predicted  precision"]
    for kind, row in scores["per_type"].items():
        lines.append(
            f"{kind:<8} {row['gold']:>4}  {_fmt(row['recall'])}   {_fmt(row['hidden'])}   "
            f"{row['predicted']:>7}    {_fmt(row['precision'])}"
        )
    strict = scores["strict"]["micro"]
    lines.append(
        f"strict spans (exact start/end/type): P {strict['precision']:.3f} R {strict['recall']:.3f} "
        f"F1 {strict['f1']:.3f}"
    )
    lines.append(
        f"messages with no personal data left untouched: "
        f"{scores['no_pii_untouched']}/{scores['no_pii_messages']}"
    )
    return "\n".join(lines)


def timing_and_nlu_report(millis: Sequence[float], nlu: Dict[str, Any] | None) -> str:
    lines = []
    lines.append(
        f"redact() per message: p50 {percentile(millis, 50):.1f} ms, p95 {percentile(millis, 95):.1f} ms "
        f"({len(millis)} calls)"
    )
    if nlu is not None:
        lines.append(
            f"NLU ({nlu['model']}) on {nlu['examples']} held-out messages; redaction changed "
            f"{nlu['changed_messages']} of them as written, and left the added personal data in "
            f"{nlu['pii_left_after_redaction']}:"
        )
        for name in NLU_VARIANTS:
            row = nlu[name]
            lines.append(
                f"  {name:<18} intent accuracy {row['intent_accuracy']:.3f}  entity micro-F1 "
                f"{row['entity_micro_f1']:.3f}  attribute macro-F1 {_fmt(row['attribute_macro_f1'])}"
            )
        for before, after in nlu["changed_examples"] + nlu["pii_left_examples"]:
            lines.append(f"    {before!r} -> {after!r}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="Rasa model archive (NLU figures)")
    parser.add_argument("--no-nlu", action="store_true", help="skip the NLU raw-vs-redacted figures")
    parser.add_argument("--heldout", type=Path, default=DEFAULT_HELDOUT)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the model's config (attributes)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds over the set")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--show-misses", action="store_true", help="print each message redacted wrongly")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    # Rasa's processor logs every parsed text at debug level through structlog; keep the report readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    splits = load_set(args.set)
    started = time.perf_counter()
    warm_up()
    load_seconds = time.perf_counter() - started
    everything = [example for split in SPLITS for example in splits[split]]
    results, millis = timed_redactions([text for text, _ in everything], max(1, args.rounds))
    by_text = {text: result for (text, _), result in zip(everything, results, strict=True)}
    if args.show_misses:
        for text, spans in everything:
            result = by_text[text]
            if sorted(spans) != sorted(result.spans):
                print(f"MISS {text!r}\n  gold {spans}\n  got  {list(result.spans)} -> {result.text!r}")
    scores = {}
    for name, examples in (*((split, splits[split]) for split in SPLITS), ("all", everything)):
        gold = [spans for _, spans in examples]
        predicted = [list(by_text[text].spans) for text, _ in examples]
        scores[name] = redaction_scores(gold, predicted)
        title = {"messages": "tuning part", "heldout": "held-out part (never tuned on)", "all": "all"}[name]
        print(f"\n== {title}: {len(examples)} messages")
        print(report(scores[name]))
    nlu = None if args.no_nlu else nlu_comparison(args.model, args.heldout, args.config)
    print(f"\nredactor loaded in {load_seconds:.1f} s")
    print(timing_and_nlu_report(millis, nlu))
    figures = {
        "messages": {split: len(splits[split]) for split in SPLITS},
        "load_seconds": load_seconds,
        "redaction": scores,
        "ms_per_message": {"p50": percentile(millis, 50), "p95": percentile(millis, 95)},
        "nlu": nlu,
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return figures


if __name__ == "__main__":
    main()
