"""The joint fine-tuning loop: labels to tensors, class weights, AdamW with linear warm-up and decay."""

from __future__ import annotations

import logging
import math
import random
from typing import Callable, List, Optional, Sequence

import torch
from tqdm import tqdm

from common.schema import neutral_value
from nlu.encoder import Encoder
from nlu.labels import Example
from nlu.modeling_joint import IGNORE_INDEX, JointShoppingModel
from nlu.words import spans_to_word_tags

logger = logging.getLogger(__name__)


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


def length_bucketed_batches(
    lengths: torch.Tensor, batch_size: int, generator: torch.Generator, pool_batches: int = 50
) -> List[torch.Tensor]:
    """One epoch's batches (row indices): shuffled, then sorted by length within pools of batches.

    A batch is padded to its longest message; grouping messages of similar length cuts the padding the
    encoder computes over, while the shuffle before pooling and the shuffled batch order keep batches
    varied from epoch to epoch. Data smaller than two pools is batched at random: there the padding saved
    is small, and sorting would put an example's near-copies into one batch.
    """
    order = torch.randperm(len(lengths), generator=generator)
    pool = batch_size * pool_batches
    if len(order) < 2 * pool:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches: List[torch.Tensor] = []
    for start in range(0, len(order), pool):
        rows = order[start : start + pool]
        rows = rows[torch.argsort(lengths[rows], stable=True)]
        batches.extend(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


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
    freeze_word_embeddings: bool = False,
    on_epoch_end: Optional[Callable[[int, float], None]] = None,
) -> List[float]:
    """Joint fine-tuning with AdamW and linear warm-up/decay; returns the mean loss per epoch.

    `on_epoch_end(epoch, loss)` runs after each epoch (the model is in eval mode meanwhile), so a
    benchmark can score every epoch of one run. `freeze_word_embeddings` keeps the encoder's word
    embedding table (half of MiniLM-L6's weights) as pretrained: each step then skips its gradient and
    optimizer update, and words rare in the data keep their pretrained meaning.
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
    if freeze_word_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    encoder_params = [p for n, p in model.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": learning_rate},
            {"params": head_params, "lr": head_learning_rate or learning_rate * 20},
        ],
        weight_decay=0.01,
        # One kernel over all weights instead of a loop of small ops: the same AdamW arithmetic, and the
        # optimizer's share of a CPU training step falls from ~20% to ~5% (MiniLM-L6, batch 32).
        fused=True,
    )
    steps_per_epoch = max(1, math.ceil(len(examples) / batch_size))
    total_steps = steps_per_epoch * epochs
    warmup_steps = max(1, int(total_steps * warmup_fraction))

    def lr_factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    lengths = tensors["attention_mask"].sum(dim=1)
    model.train()
    epoch_losses: List[float] = []
    progress = tqdm(range(epochs), desc="JointShoppingNLU epochs", disable=not show_progress)
    for epoch in progress:
        running, batches = 0.0, 0
        for rows in length_bucketed_batches(lengths, batch_size, generator):
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
