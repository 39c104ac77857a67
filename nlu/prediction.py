"""Batched prediction: one forward pass, then intent ranking, entity spans (BIO decoding) and attributes.

This is the model's raw reading of a message; the component post-processes it (cue fusion, see
nlu/cue_fusion.py) before it becomes the parse output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from common.schema import neutral_value
from nlu.encoder import Encoder
from nlu.labels import keep_entities_for_intent
from nlu.modeling_joint import (
    TAGS_HEAD,
    JointShoppingConfig,
    JointShoppingModel,
    JointShoppingOutput,
    best_tag_path,
    bio_transition_mask,
)
from nlu.words import Word, has_latin_evidence, word_tags_to_spans

# Where an attribute's value came from (the parse output's `source`): the model alone; the other sources are
# cue fusion's (nlu/cue_fusion.py).
SOURCE_MODEL = "model"


class AttributeReading(NamedTuple):
    """One attribute of a message: its value (a string, as in the schema), confidence and source."""

    value: str
    confidence: float
    source: str = SOURCE_MODEL


@dataclass
class Prediction:
    """What one message decodes to, before it is put into Rasa's parse format."""

    intent_ranking: List[Tuple[str, float]]
    entities: List[Dict[str, Any]]
    attributes: Dict[str, AttributeReading]
    # How sure the tagger is of the whole tag path, every word (words tagged O too), length-normalised:
    # see `tagging_confidence`. 1.0 for a message with no word to tag.
    tagging_confidence: float = 1.0


def constrained_word_tags(
    log_probs_wt: torch.Tensor, tag_labels: Sequence[str], allowed_tt: Optional[torch.Tensor] = None
) -> List[int]:
    """Most probable tag sequence that is valid BIO (Viterbi over the per-word tag log-probabilities).

    Greedy per-word argmax can produce "B-recipient I-occasion" for "mother's day"; the best valid path
    instead decides the whole span at once, which removes split and orphan spans. Sequences start in
    "O", so a span cannot begin with I-.
    """
    if allowed_tt is None:
        allowed_tt = bio_transition_mask(list(tag_labels))
    forbidden_tt = torch.zeros(allowed_tt.shape, dtype=log_probs_wt.dtype).masked_fill(~allowed_tt, -1e4)
    return best_tag_path(log_probs_wt, forbidden_tt, start_t=forbidden_tt[tag_labels.index("O")])


def tag_decoder(
    model: JointShoppingModel, temperature: float = 1.0, constrained: bool = True
) -> Callable[[torch.Tensor], Tuple[List[int], List[float]]]:
    """Word tag logits -> tag ids and their confidences, as `predict` decodes them.

    The CRF decodes its best path with its confidences at `temperature` (`BIOTagCRF.decode`); the
    softmax decoder takes the best valid BIO path (or each word's argmax) of the plain softmax and
    reports the tempered probabilities, so in both the tags do not depend on the temperature, only the
    confidences do.
    """
    if model.crf is not None:
        crf = model.crf
        return lambda logits_wt: crf.decode(logits_wt, temperature)
    tag_labels = model.config.tag_labels
    allowed_tt = bio_transition_mask(tag_labels) if constrained else None

    def decode(logits_wt: torch.Tensor) -> Tuple[List[int], List[float]]:
        probs_wt = logits_wt.softmax(dim=-1)
        if constrained:
            tag_ids = constrained_word_tags(probs_wt.clamp(min=1e-9).log(), tag_labels, allowed_tt)
        else:
            tag_ids = [int(t) for t in probs_wt.argmax(dim=-1)]
        tempered_wt = (logits_wt / temperature).softmax(dim=-1)
        return tag_ids, [float(tempered_wt[word, tag]) for word, tag in enumerate(tag_ids)]

    return decode


def predict(
    model: JointShoppingModel,
    encoder: Encoder,
    texts: Sequence[str],
    ranking_length: int = 10,
    constrained: bool = True,
    forward: Optional[Callable[..., JointShoppingOutput]] = None,
) -> List[Prediction]:
    """Batched inference; messages without Latin letters or digits get no entities and neutral attributes.

    `constrained` decodes entity tags as the best valid BIO path; False takes each word's argmax.
    `forward` runs the network (input_ids, attention_mask -> JointShoppingOutput) in place of the torch
    model, e.g. the int8 ONNX runner (nlu/onnx_runtime.py); decoding is the same either way.
    """
    if not texts:
        return []
    config = model.config
    decode = tag_decoder(model, config.temperature(TAGS_HEAD), constrained)

    tensors, word_lists, first_tokens = encoder.encode(texts)
    with torch.inference_mode():
        output = (forward or model)(**tensors)
        output = output.tempered(config)  # the fitted temperatures (nlu/calibration.py); 1.0 if none
        intent_probs_bi = output.intent_logits_bi.softmax(dim=-1)
        tag_logits_bst = output.tag_logits_bst
        attribute_probs_bv = {
            name: logits.softmax(dim=-1) for name, logits in output.attribute_logits_bv.items()
        }

    predictions: List[Prediction] = []
    for row, text in enumerate(texts):
        trusted = has_latin_evidence(text)
        probs_i = intent_probs_bi[row]
        top = torch.topk(probs_i, k=min(ranking_length, probs_i.shape[0]))
        ranking = [
            (config.intent_labels[int(i)], float(p)) for p, i in zip(top.values, top.indices, strict=True)
        ]

        entities: List[Dict[str, Any]] = []
        tagging = 1.0
        if trusted:
            tags, word_confidences = decode_word_tags(
                tag_logits_bst[row], first_tokens[row], config.tag_labels, decode
            )
            entities = spans_of_tags(text, word_lists[row], tags, word_confidences, ranking[0][0], config)
            tagging = tagging_confidence(
                [c for tag, c in zip(tags, word_confidences, strict=True) if tag is not None]
            )

        attributes: Dict[str, AttributeReading] = {}
        for name, values in config.attributes.items():
            probs_v = attribute_probs_bv[name][row]
            index = int(probs_v.argmax()) if trusted else values.index(neutral_value(name, values))
            attributes[name] = AttributeReading(values[index], float(probs_v[index]))
        predictions.append(Prediction(ranking, entities, attributes, tagging))
    return predictions


def tagging_confidence(word_confidences: Sequence[float]) -> float:
    """The geometric mean of each word's confidence in its decoded tag (exp of the mean log).

    With the CRF a word tagged O brings its marginal and a word of a span its span's exact probability
    (`BIOTagCRF.decode`).

    The length-normalised path score of active learning for NER (MNLP, Shen et al. 2017): a span's
    `confidence_entity` says nothing of a product the tagger nearly found but tagged O, and this does;
    the mean of logs, not the product, so long queries are not doubted for their length alone.
    """
    if not word_confidences:
        return 1.0
    mean_log = sum(math.log(max(c, 1e-12)) for c in word_confidences) / len(word_confidences)
    return float(min(1.0, math.exp(mean_log)))


def entity_spans(
    text: str,
    words: Sequence[Word],
    first_token: Sequence[int],
    tag_logits_st: torch.Tensor,
    intent: str,
    config: JointShoppingConfig,
    decode_run: Callable[[torch.Tensor], Tuple[List[int], List[float]]],
) -> List[Dict[str, Any]]:
    """The entity spans the parse gives for one message with Latin evidence and its predicted intent.

    Also what the tag temperature is fitted on (nlu/calibration.py), so it sees the parse's own spans.
    """
    tags, confidences = decode_word_tags(tag_logits_st, first_token, config.tag_labels, decode_run)
    return spans_of_tags(text, words, tags, confidences, intent, config)


def spans_of_tags(
    text: str,
    words: Sequence[Word],
    tags: Sequence[Optional[str]],
    confidences: Sequence[float],
    intent: str,
    config: JointShoppingConfig,
) -> List[Dict[str, Any]]:
    """Decoded word tags -> the parse's spans: Latin evidence required, only types the intent takes."""
    spans = word_tags_to_spans(text, words, tags, confidences)
    entities = [span for span in spans if has_latin_evidence(span["value"])]
    return keep_entities_for_intent(entities, intent, config.intent_entity_types)


def decode_word_tags(
    tag_logits_st: torch.Tensor,
    first_token: Sequence[int],
    tag_labels: Sequence[str],
    decode_run: Callable[[torch.Tensor], Tuple[List[int], List[float]]],
) -> Tuple[List[Optional[str]], List[float]]:
    """Tag and its confidence per word; a word with no usable token gets None (it ends any span).

    Each run of words that have tokens is decoded on its own by `decode_run` (word logits -> tag ids
    and confidences), so a None word is a hard span boundary.
    """
    tags: List[Optional[str]] = [None] * len(first_token)
    confidences = [0.0] * len(first_token)
    run: List[int] = []
    for index in [*range(len(first_token)), -1]:
        if index >= 0 and first_token[index] >= 0:
            run.append(index)
            continue
        if run:
            tag_ids, run_confidences = decode_run(tag_logits_st[[first_token[i] for i in run]])
            for word_index, tag_id, confidence in zip(run, tag_ids, run_confidences, strict=True):
                tags[word_index] = tag_labels[tag_id]
                confidences[word_index] = confidence
            run = []
    return tags, confidences
