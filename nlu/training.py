"""Tokenisation, BIO alignment, decoding, training loop and batched prediction for the joint model.

Kept apart from the Rasa component so that the evaluation CLI, the benchmark and the tests can use the
same alignment and decoding code without a Rasa graph around it.
"""

from __future__ import annotations

import logging
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

from common.schema import neutral_value
from nlu.modeling_joint import IGNORE_INDEX, JointShoppingModel, best_tag_path, bio_transition_mask

logger = logging.getLogger(__name__)

# Words: runs of letters, runs of digits, or any other single non-space character. Splitting "10yo"
# into "10" + "yo" and "$30" into "$" + "30" lets a span start or end wherever annotators put it.
WORD_PATTERN = re.compile(r"[^\W\d_]+|\d+|\S")
# A message must contain a Latin letter or a digit before the model is trusted with entities or
# non-neutral attributes: the English encoder has no evidence to offer about emoji, control characters
# or scripts it maps to [UNK].
LATIN_ALNUM_PATTERN = re.compile(r"[A-Za-z0-9\u00C0-\u024F]")
# Terminal escape sequences and C0 control characters carry no words; they are blanked (same length,
# so character offsets still index the original text) before the text is split into words.
CONTROL_PATTERN = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Word:
    text: str
    start: int
    end: int


@dataclass
class Example:
    """One training example in model terms (labels as strings; indices are made per batch)."""

    text: str
    intent: Optional[str]
    entities: List[Tuple[int, int, str]]  # (start, end, entity type)
    attributes: Dict[str, str] = field(default_factory=dict)


@dataclass
class Prediction:
    """What one message decodes to, before it is put into Rasa's parse format."""

    intent_ranking: List[Tuple[str, float]]
    entities: List[Dict[str, Any]]
    attributes: Dict[str, Tuple[str, float]]


def pre_tokenize(text: str, max_words: Optional[int] = None) -> List[Word]:
    """Words with character offsets; stops after `max_words` so huge messages stay cheap."""
    words: List[Word] = []
    for match in WORD_PATTERN.finditer(blank_control_characters(text)):
        words.append(Word(match.group(), match.start(), match.end()))
        if max_words is not None and len(words) >= max_words:
            break
    return words


def blank_control_characters(text: str) -> str:
    return CONTROL_PATTERN.sub(lambda match: " " * len(match.group()), text)


def has_latin_evidence(text: str) -> bool:
    return LATIN_ALNUM_PATTERN.search(blank_control_characters(text)) is not None


def spans_to_word_tags(words: Sequence[Word], spans: Iterable[Tuple[int, int, str]]) -> List[str]:
    """BIO tag per word: a word belongs to a span when it overlaps it; the span's first word gets B-."""
    tags = ["O"] * len(words)
    for start, end, entity_type in sorted(spans):
        inside = False
        for index, word in enumerate(words):
            if word.end <= start or word.start >= end:
                continue
            if tags[index] != "O":
                continue  # overlapping annotations: the earlier span keeps the word
            tags[index] = ("I-" if inside else "B-") + entity_type
            inside = True
    return tags


def word_tags_to_spans(
    text: str,
    words: Sequence[Word],
    tags: Sequence[Optional[str]],
    tag_confidences: Optional[Sequence[float]] = None,
) -> List[Dict[str, Any]]:
    """Decode BIO tags per word to character spans; an I- without a matching B- opens a new span.

    A word tagged None (it produced no subword token, e.g. a control character) ends any open span.
    The span's confidence is the mean probability of its words' tags.
    """
    spans: List[Dict[str, Any]] = []
    current: Optional[Dict[str, Any]] = None
    current_confidences: List[float] = []

    def close() -> None:
        nonlocal current, current_confidences
        if current is not None:
            current["value"] = text[current["start"] : current["end"]]
            current["confidence_entity"] = float(sum(current_confidences) / len(current_confidences))
            spans.append(current)
        current, current_confidences = None, []

    for index, (word, tag) in enumerate(zip(words, tags, strict=True)):
        confidence = tag_confidences[index] if tag_confidences is not None else 1.0
        if tag is None or tag == "O":
            close()
            continue
        prefix, _, entity_type = tag.partition("-")
        if prefix == "I" and current is not None and current["entity"] == entity_type:
            current["end"] = word.end
            current_confidences.append(confidence)
            continue
        close()
        current = {"entity": entity_type, "start": word.start, "end": word.end}
        current_confidences = [confidence]
    close()
    return spans


def tag_labels_for(entity_types: Iterable[str]) -> List[str]:
    return ["O"] + [f"{prefix}-{entity}" for entity in sorted(set(entity_types)) for prefix in ("B", "I")]


def entity_types_per_intent(examples: Iterable[Example]) -> Dict[str, List[str]]:
    """Which entity types trainers annotated with each intent ("thanks" and "out_of_scope": none)."""
    seen: Dict[str, set] = {}
    for example in examples:
        if example.intent:
            seen.setdefault(example.intent, set()).update(entity for _, _, entity in example.entities)
    return {intent: sorted(types) for intent, types in sorted(seen.items())}


def keep_entities_for_intent(
    entities: List[Dict[str, Any]], intent: str, intent_entity_types: Mapping[str, Sequence[str]]
) -> List[Dict[str, Any]]:
    """Drops entity types the predicted intent never carried in training.

    The joint model decides intent and tags in one pass; a message it reads as small talk or out of
    scope ("what's the wifi password") should not leave a stray product type in the slots.
    """
    if intent not in intent_entity_types:
        return entities
    allowed = set(intent_entity_types[intent])
    return [span for span in entities if span["entity"] in allowed]


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


class Encoder:
    """Turns texts into padded tensors plus, per text, the token index of each word's first subword."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(
        self, texts: Sequence[str]
    ) -> Tuple[Dict[str, torch.Tensor], List[List[Word]], List[List[int]]]:
        """Tensors, words per text and each word's first-subword position (-1: no token, or only [UNK]).

        A word the vocabulary only knows as [UNK] gets -1 too: the model has no evidence about it, so it
        is never trained on nor decoded as part of an entity.
        """
        word_lists = [pre_tokenize(text, max_words=self.max_length) for text in texts]
        # An empty word list would make the tokenizer produce only [CLS] [SEP]; that is fine.
        batch = self.tokenizer(
            [[w.text for w in words] for words in word_lists],
            is_split_into_words=True,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        unk_id = self.tokenizer.unk_token_id
        first_token: List[List[int]] = []
        for row in range(len(texts)):
            positions = [-1] * len(word_lists[row])
            known = [False] * len(word_lists[row])
            token_ids = batch["input_ids"][row].tolist()
            for token_index, word_index in enumerate(batch.word_ids(row)):
                if word_index is None:
                    continue
                if positions[word_index] == -1:
                    positions[word_index] = token_index
                known[word_index] = known[word_index] or token_ids[token_index] != unk_id
            first_token.append([pos if ok else -1 for pos, ok in zip(positions, known, strict=True)])
        tensors = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        return tensors, word_lists, first_token


def class_weights(
    label_ids: Sequence[int], num_classes: int, power: float = 0.5, cap: float = 10.0
) -> torch.Tensor:
    """(N / (K * n_c)) ** power per class, capped: rare classes count more without swamping the loss."""
    counts = torch.bincount(torch.tensor(list(label_ids), dtype=torch.long), minlength=num_classes).float()
    present = counts > 0
    weights = torch.ones(num_classes)
    if present.any():
        total = counts[present].sum()
        weights[present] = (total / (present.sum() * counts[present])).pow(power).clamp(max=cap)
    return weights


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def train_model(
    model: JointShoppingModel,
    encoder: Encoder,
    examples: Sequence[Example],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    head_learning_rate: Optional[float] = None,
    warmup_fraction: float = 0.1,
    show_progress: bool = True,
    on_epoch_end: Optional[Callable[[int, float], None]] = None,
) -> List[float]:
    """Joint fine-tuning with AdamW and linear warm-up/decay; returns the mean loss per epoch.

    `on_epoch_end(epoch, loss)` runs after each epoch (the model is in eval mode meanwhile), so a
    benchmark can score every epoch of one run.
    """
    config = model.config
    intent_index = {label: i for i, label in enumerate(config.intent_labels)}
    tag_index = {label: i for i, label in enumerate(config.tag_labels)}
    attribute_index = {
        name: {v: i for i, v in enumerate(values)} for name, values in config.attributes.items()
    }

    texts = [example.text for example in examples]
    tensors, word_lists, first_tokens = encoder.encode(texts)  # one padded tensor; batches are sliced
    seq_len = tensors["input_ids"].shape[1]
    tag_label_ids = torch.full((len(examples), seq_len), IGNORE_INDEX, dtype=torch.long)
    all_tag_ids: List[int] = []
    for row, example in enumerate(examples):
        tags = spans_to_word_tags(word_lists[row], example.entities)
        for word_index, tag in enumerate(tags):
            position = first_tokens[row][word_index]
            if position >= 0:
                tag_label_ids[row, position] = tag_index.get(tag, tag_index["O"])
                all_tag_ids.append(int(tag_label_ids[row, position]))
    intent_ids = torch.tensor([intent_index.get(example.intent or "", 0) for example in examples])
    attribute_ids = {
        name: torch.tensor(
            [
                index[example.attributes.get(name, neutral_value(name, config.attributes[name]))]
                for example in examples
            ]
        )
        for name, index in attribute_index.items()
    }
    with torch.no_grad():
        model.set_class_weights(
            class_weights(intent_ids.tolist(), len(config.intent_labels)),
            class_weights(all_tag_ids, len(config.tag_labels)),
            {
                name: class_weights(ids.tolist(), len(config.attributes[name]))
                for name, ids in attribute_ids.items()
            },
        )

    set_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    encoder_params = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": learning_rate},
            {"params": head_params, "lr": head_learning_rate or learning_rate * 20},
        ],
        weight_decay=0.01,
    )
    steps_per_epoch = max(1, math.ceil(len(examples) / batch_size))
    total_steps = steps_per_epoch * epochs
    warmup_steps = max(1, int(total_steps * warmup_fraction))

    def lr_factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model.train()
    epoch_losses: List[float] = []
    progress = tqdm(range(epochs), desc="JointShoppingNLU epochs", disable=not show_progress)
    for epoch in progress:
        order = torch.randperm(len(examples), generator=generator)
        running, batches = 0.0, 0
        for start in range(0, len(examples), batch_size):
            rows = order[start : start + batch_size]
            mask = tensors["attention_mask"][rows]
            width = int(mask.sum(dim=1).max())  # trim padding the batch does not need
            output = model(
                input_ids=tensors["input_ids"][rows, :width],
                attention_mask=mask[:, :width],
                intent_labels=intent_ids[rows],
                tag_labels=tag_label_ids[rows, :width],
                attribute_labels={name: ids[rows] for name, ids in attribute_ids.items()},
            )
            optimizer.zero_grad()
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running += float(output.loss.detach())
            batches += 1
        epoch_loss = running / max(1, batches)
        epoch_losses.append(epoch_loss)
        progress.set_postfix(loss=f"{epoch_loss:.4f}")
        logger.info(f"JointShoppingNLU epoch {epoch + 1}/{epochs}: loss {epoch_loss:.4f}")
        if on_epoch_end is not None:
            model.eval()
            on_epoch_end(epoch + 1, epoch_loss)
            model.train()
    model.eval()
    return epoch_losses


def predict(
    model: JointShoppingModel,
    encoder: Encoder,
    texts: Sequence[str],
    ranking_length: int = 10,
    constrained: bool = True,
) -> List[Prediction]:
    """Batched inference; messages without Latin letters or digits get no entities and neutral attributes.

    `constrained` decodes entity tags as the best valid BIO path; False takes each word's argmax.
    """
    if not texts:
        return []
    config = model.config
    # BIO's allowed moves, for the softmax decoder only (the CRF holds its own).
    allowed_tt = bio_transition_mask(config.tag_labels) if model.crf is None and constrained else None

    def run_decoder(logits_wt: torch.Tensor) -> Tuple[List[int], List[float]]:
        if model.crf is not None:
            return model.crf.decode(logits_wt)
        probs_wt = logits_wt.softmax(dim=-1)
        if constrained:
            tag_ids = constrained_word_tags(probs_wt.clamp(min=1e-9).log(), config.tag_labels, allowed_tt)
        else:
            tag_ids = [int(t) for t in probs_wt.argmax(dim=-1)]
        return tag_ids, [float(probs_wt[word, tag]) for word, tag in enumerate(tag_ids)]

    tensors, word_lists, first_tokens = encoder.encode(texts)
    with torch.inference_mode():
        output = model(**tensors)
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
        if trusted:
            tags, confidences = decode_word_tags(
                tag_logits_bst[row], first_tokens[row], config.tag_labels, run_decoder
            )
            entities = [
                span
                for span in word_tags_to_spans(text, word_lists[row], tags, confidences)
                if has_latin_evidence(span["value"])
            ]
            entities = keep_entities_for_intent(entities, ranking[0][0], config.intent_entity_types)

        attributes: Dict[str, Tuple[str, float]] = {}
        for name, values in config.attributes.items():
            probs_v = attribute_probs_bv[name][row]
            index = int(probs_v.argmax()) if trusted else values.index(neutral_value(name, values))
            attributes[name] = (values[index], float(probs_v[index]))
        predictions.append(Prediction(ranking, entities, attributes))
    return predictions


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

