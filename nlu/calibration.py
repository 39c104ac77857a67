"""Temperature scaling: one temperature per head, fitted on examples the model did not train on.

A fine-tuned network's softmax is seldom calibrated: many epochs on clean data make it over-confident,
a few with class-weighted losses leave it flat (docs/nlu-results.md, "Calibration"). Dividing a head's
logits by one fitted temperature T keeps every decision (the argmax, the CRF's best path) and moves only
the confidences, which the review queue, the doubt score and the voice channel read as probabilities.
T is the one that minimises the negative log-likelihood on a held-out slice of the training data
(`calibration_split`), per head: the intent, each attribute, and the entity tags. For the tags the
quantity fitted is the one the parse reports and the evaluation scores: each predicted span's confidence
(the CRF's probability of that exact span at T) against whether the span is exactly right. The temperatures
are stored in `JointShoppingConfig` and applied in `nlu.prediction.predict`.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from common.schema import neutral_value
from nlu.encoder import Encoder
from nlu.labels import Example
from nlu.modeling_joint import INTENT_HEAD, TAGS_HEAD, JointShoppingModel, attribute_head
from nlu.prediction import entity_spans, tag_decoder
from nlu.words import has_latin_evidence

# Below this many held-out examples a fitted temperature says more about the sample than the model, so
# calibration is skipped (the test suite's tiny training sets) and every head keeps T = 1.
MIN_CALIBRATION_EXAMPLES = 20
# Where the search for T looks: from much sharper (0.05) to much flatter (20) than the raw logits.
TEMPERATURE_RANGE = (0.05, 20.0)
_GOLDEN = (math.sqrt(5) - 1) / 2

logger = logging.getLogger(__name__)


def calibration_split(
    examples: Sequence[Example], fraction: float, max_examples: int, seed: int
) -> Tuple[List[Example], List[Example]]:
    """(training examples, held-out calibration examples), the held-out ones stratified by intent.

    Each intent gives `fraction` of its examples (rounded, never all of them), scaled down so the slice
    has at most `max_examples`. The same seed gives the same split. `fraction` 0 holds nothing out.
    """
    if fraction <= 0 or max_examples <= 0 or not examples:
        return list(examples), []
    share = min(fraction, max_examples / len(examples))
    by_intent: Dict[str, List[int]] = {}
    for index, example in enumerate(examples):
        by_intent.setdefault(example.intent or "", []).append(index)
    rng = random.Random(seed)
    held_out: List[int] = []
    for intent in sorted(by_intent):
        indices = by_intent[intent]
        rng.shuffle(indices)
        held_out += indices[: min(len(indices) - 1, round(share * len(indices)))]
    rng.shuffle(held_out)  # rounding up may overshoot the cap by a few: trim at random, not the last intents
    held = set(held_out[:max_examples])
    return (
        [example for index, example in enumerate(examples) if index not in held],
        [example for index, example in enumerate(examples) if index in held],
    )


def fit_temperature(nll: Callable[[float], float], iterations: int = 20) -> float:
    """The T in TEMPERATURE_RANGE that minimises `nll(T)`: golden-section search on log T.

    One scalar, no gradient needed (the span confidences come from the CRF's forward-backward); the
    softmax NLL is convex in 1/T, so the search cannot stop in a wrong valley.
    """
    low, high = (math.log(t) for t in TEMPERATURE_RANGE)
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    nll_a, nll_b = nll(math.exp(a)), nll(math.exp(b))
    for _ in range(iterations):
        if nll_a <= nll_b:
            high, b, nll_b = b, a, nll_a
            a = high - _GOLDEN * (high - low)
            nll_a = nll(math.exp(a))
        else:
            low, a, nll_a = a, b, nll_b
            b = low + _GOLDEN * (high - low)
            nll_b = nll(math.exp(b))
    return math.exp((low + high) / 2)


def fit_softmax_temperature(logits_nc: torch.Tensor, labels_n: torch.Tensor) -> Optional[float]:
    """The fitted T of one softmax head, or None when every held-out prediction is right.

    With no mistake to weigh against, the likelihood only grows as T shrinks, and the fit would run to
    the range's edge and make every later reading, wrong ones too, look certain.
    """
    if bool((logits_nc.argmax(dim=-1) == labels_n).all()):
        return None
    return fit_temperature(softmax_nll(logits_nc, labels_n))


def softmax_nll(logits_nc: torch.Tensor, labels_n: torch.Tensor) -> Callable[[float], float]:
    """T -> mean cross-entropy of `labels_n` under softmax(logits / T)."""
    return lambda temperature: float(torch.nn.functional.cross_entropy(logits_nc / temperature, labels_n))


def binary_nll(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """Mean -log p of what happened, each confidence read as p(correct)."""
    eps = 1e-7
    total = 0.0
    for confidence, right in zip(confidences, correct, strict=True):
        p = min(max(confidence, eps), 1 - eps)
        total -= math.log(p if right else 1 - p)
    return total / max(1, len(confidences))


def fit_temperatures(
    model: JointShoppingModel, encoder: Encoder, examples: Sequence[Example], batch_size: int = 64
) -> Dict[str, float]:
    """{head: T} fitted on `examples` (held out from training): intent, each attribute, entity tags.

    A head with nothing to fit on (no labelled example, no predicted span, or not one mistake among
    them) is left out: it keeps 1.
    """
    config = model.config
    texts = [example.text for example in examples]
    tensors, word_lists, first_tokens = encoder.encode(texts)
    model.eval()
    intent_logits, tag_logits, attribute_logits = [], [], {name: [] for name in config.attributes}
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            output = model(**{name: t[start : start + batch_size] for name, t in tensors.items()})
            intent_logits.append(output.intent_logits_bi)
            tag_logits += list(output.tag_logits_bst)
            for name, logits_bv in output.attribute_logits_bv.items():
                attribute_logits[name].append(logits_bv)
    intent_logits_ni = torch.cat(intent_logits)

    temperatures: Dict[str, Optional[float]] = {}
    intent_index = {label: i for i, label in enumerate(config.intent_labels)}
    rows = [row for row, example in enumerate(examples) if example.intent in intent_index]
    if rows:
        labels_n = torch.tensor([intent_index[examples[row].intent] for row in rows])
        temperatures[INTENT_HEAD] = fit_softmax_temperature(intent_logits_ni[rows], labels_n)
    for name, values in config.attributes.items():
        labels_n = torch.tensor(
            [values.index(example.attributes.get(name, neutral_value(name, values))) for example in examples]
        )
        logits_nv = torch.cat(attribute_logits[name])
        temperatures[attribute_head(name)] = fit_softmax_temperature(logits_nv, labels_n)

    # Entity spans: which spans the parse gives and whether each is right do not depend on T.
    gold = [{(s, e, t) for s, e, t in example.entities} for example in examples]
    intents = [config.intent_labels[int(i)] for i in intent_logits_ni.argmax(dim=-1)]
    trusted = [row for row, text in enumerate(texts) if has_latin_evidence(text)]

    def span_readings(temperature: float) -> Tuple[List[float], List[bool]]:
        decode = tag_decoder(model, temperature)
        confidences: List[float] = []
        correct: List[bool] = []
        for row in trusted:
            for span in entity_spans(
                texts[row], word_lists[row], first_tokens[row], tag_logits[row], intents[row], config, decode
            ):
                confidences.append(span["confidence_entity"])
                correct.append((span["start"], span["end"], span["entity"]) in gold[row])
        return confidences, correct

    _, spans_right = span_readings(1.0)
    if spans_right and not all(spans_right):
        temperatures[TAGS_HEAD] = fit_temperature(lambda t: binary_nll(*span_readings(t)))
    unfitted = sorted(head for head, t in temperatures.items() if t is None)
    if unfitted:
        logger.info(f"calibration: no mistake to fit on for {unfitted} in {len(examples)} examples; T = 1")
    return {head: round(t, 4) for head, t in temperatures.items() if t is not None}
