"""The evaluation's metrics, as pure functions: strict span P/R/F1, accuracy, macro-F1, confusion, ECE,
and a paired bootstrap for comparing models on the same examples."""

from __future__ import annotations

import random
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

Span = Tuple[int, int, str]  # (start, end, entity type)
Counts = Tuple[int, int, int]  # (true positives, false positives, false negatives) of one example
ScoredSpan = Tuple[int, int, str, float]  # (start, end, entity type, confidence)


def span_prf(gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]]) -> Dict[str, Any]:
    """Strict span precision/recall/F1 (start, end and type must all match), per type and micro."""
    counts: Dict[str, Dict[str, int]] = {}

    def bucket(entity_type: str) -> Dict[str, int]:
        return counts.setdefault(entity_type, {"tp": 0, "fp": 0, "fn": 0})

    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        gold_set, predicted_set = set(gold_spans), set(predicted_spans)
        for span in gold_set & predicted_set:
            bucket(span[2])["tp"] += 1
        for span in predicted_set - gold_set:
            bucket(span[2])["fp"] += 1
        for span in gold_set - predicted_set:
            bucket(span[2])["fn"] += 1

    per_type = {name: prf(**c) for name, c in sorted(counts.items())}
    totals = {key: sum(c[key] for c in counts.values()) for key in ("tp", "fp", "fn")}
    return {"per_type": per_type, "micro": prf(**totals)}


def prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    """Precision, recall, F1 and support of span counts (0.0 where a ratio has nothing to divide)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def summed(counts: Iterable[Counts]) -> Counts:
    """Per-example counts added up: the micro totals."""
    tp = fp = fn = 0
    for a, b, c in counts:
        tp, fp, fn = tp + a, fp + b, fn + c
    return tp, fp, fn


def span_counts(gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]]) -> List[Counts]:
    """Per example (tp, fp, fn) of strict spans, as `span_prf` counts them: summed, they give its micro F1."""
    out: List[Counts] = []
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        gold_set, predicted_set = set(gold_spans), set(predicted_spans)
        true_positives = len(gold_set & predicted_set)
        out.append((true_positives, len(predicted_set) - true_positives, len(gold_set) - true_positives))
    return out


def micro_f1(counts: Iterable[Counts]) -> float:
    """Micro F1 of summed per-example counts; 0.0 when there is nothing."""
    return prf(*summed(counts))["f1"]


def paired_bootstrap(
    model: Sequence[Counts], baselines: Sequence[Sequence[Counts]], rounds: int = 2000, seed: int = 0
) -> Dict[str, float]:
    """How sure is "model beats the baselines' mean micro F1" on these examples?

    Resamples the examples with replacement (the same draw for every model, so the comparison is paired)
    and recomputes F1(model) - mean F1(baselines) each round. Returns the observed difference, the 2.5 and
    97.5 percentiles of the resampled ones, and the share of rounds where the model was ahead: a
    difference whose interval straddles 0 is within what another sample of queries could reverse.
    """
    size = len(model)
    if size == 0 or not baselines or any(len(b) != size for b in baselines):
        raise ValueError("paired_bootstrap needs the same non-empty examples for every model")

    def difference(index: Sequence[int]) -> float:
        ours = micro_f1(model[i] for i in index)
        return ours - sum(micro_f1(b[i] for i in index) for b in baselines) / len(baselines)

    rng = random.Random(seed)
    draws = sorted(difference([rng.randrange(size) for _ in range(size)]) for _ in range(rounds))
    return {
        "difference": difference(range(size)),
        "low": draws[int(0.025 * (rounds - 1))],
        "high": draws[int(0.975 * (rounds - 1))],
        "share_ahead": sum(d > 0 for d in draws) / rounds,
    }


def accuracy(gold: Sequence[Any], predicted: Sequence[Any]) -> float:
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def confusion_matrix(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> List[List[int]]:
    """Rows: gold label, columns: predicted label, both in `labels` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        if g in index and p in index:
            matrix[index[g]][index[p]] += 1
    return matrix


def macro_f1(gold: Sequence[str], predicted: Sequence[str], labels: Optional[Sequence[str]] = None) -> float:
    """Unweighted mean F1 over the labels that occur in gold or predictions (or the given labels)."""
    labels = list(labels) if labels is not None else sorted(set(gold) | set(predicted))
    labels = [label for label in labels if label in set(gold) | set(predicted)]
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """ECE with equal-width confidence bins: sum over bins of |accuracy - mean confidence| * share."""
    if not confidences:
        return 0.0
    total = len(confidences)
    error = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if (low < c <= high) or (b == 0 and c == 0.0)]
        if not members:
            continue
        bin_accuracy = sum(bool(correct[i]) for i in members) / len(members)
        bin_confidence = sum(confidences[i] for i in members) / len(members)
        error += abs(bin_accuracy - bin_confidence) * len(members) / total
    return error


def span_confidence_correct(
    gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[ScoredSpan]]
) -> Tuple[List[float], List[bool]]:
    """Each predicted span's confidence and whether it is exactly a gold span (the input of a span ECE)."""
    confidences: List[float] = []
    correct: List[bool] = []
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        gold_set = set(gold_spans)
        for start, end, entity_type, confidence in predicted_spans:
            confidences.append(confidence)
            correct.append((start, end, entity_type) in gold_set)
    return confidences, correct
