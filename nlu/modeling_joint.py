"""Joint intent + BIO entity tags + implicit-attribute model on a small pretrained encoder.

One forward pass over a short shopping request gives everything the bot needs: the intent, a tag per
token (decoded to character spans in `nlu.training`) and one softmax per implicit attribute. The
attribute heads are built from the config, so a new attribute is a config + data change only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from nlu.schema import DEFAULT_ATTRIBUTES

CONFIG_FILE_NAME = "joint_config.json"


@dataclass
class JointShoppingConfig:
    """Everything needed to rebuild the model without the original encoder package.

    `encoder_config` is the encoder's own (Hugging Face) config as a dict: once it is filled in, the
    architecture is rebuilt from it and weights come from the persisted state dict, so a model
    archive is self-contained.
    """

    encoder_path: Optional[str] = None
    encoder_config: Optional[Dict[str, Any]] = None
    intent_labels: List[str] = field(default_factory=list)
    tag_labels: List[str] = field(default_factory=lambda: ["O"])
    # Entity types each intent was annotated with in training; decoding drops the others (empty: keep all).
    intent_entity_types: Dict[str, List[str]] = field(default_factory=dict)
    attributes: Dict[str, List[str]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_ATTRIBUTES.items()}
    )
    dropout: float = 0.1
    intent_loss_weight: float = 1.0
    entity_loss_weight: float = 1.0
    attribute_loss_weight: float = 1.0
    max_length: int = 64

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> JointShoppingConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, directory: Union[str, Path]) -> None:
        Path(directory, CONFIG_FILE_NAME).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Union[str, Path]) -> JointShoppingConfig:
        return cls.from_dict(json.loads(Path(directory, CONFIG_FILE_NAME).read_text(encoding="utf-8")))


@dataclass
class JointShoppingOutput:
    """Logits of every head (and the joint loss when labels were given)."""

    intent_logits: torch.Tensor  # [batch, num_intents]
    tag_logits: torch.Tensor  # [batch, seq_len, num_tags]
    attribute_logits: Dict[str, torch.Tensor]  # name -> [batch, num_values]
    loss: Optional[torch.Tensor] = None
    losses: Dict[str, torch.Tensor] = field(default_factory=dict)


class JointShoppingModel(nn.Module):
    """Encoder + mean-pooled intent head + per-token tag head + one head per attribute.

    Class weights for the losses live in buffers (ones until training sets them from label
    frequencies), so they travel with the state dict.
    """

    def __init__(self, config: JointShoppingConfig, load_pretrained_encoder: bool = True) -> None:
        super().__init__()
        self.config = config
        if config.encoder_config is None or (load_pretrained_encoder and config.encoder_path):
            if not config.encoder_path:
                raise ValueError("JointShoppingConfig needs encoder_path or encoder_config")
            self.encoder = AutoModel.from_pretrained(config.encoder_path, local_files_only=True)
            config.encoder_config = self.encoder.config.to_dict()
        else:
            encoder_config = dict(config.encoder_config)
            model_type = encoder_config.pop("model_type")
            self.encoder = AutoModel.from_config(AutoConfig.for_model(model_type, **encoder_config))
        hidden_size = self.encoder.config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.intent_head = nn.Linear(hidden_size, len(config.intent_labels))
        self.tag_head = nn.Linear(hidden_size, len(config.tag_labels))
        self.attribute_heads = nn.ModuleDict(
            {name: nn.Linear(hidden_size, len(values)) for name, values in config.attributes.items()}
        )
        self.register_buffer("intent_class_weights", torch.ones(len(config.intent_labels)))
        self.register_buffer("tag_class_weights", torch.ones(len(config.tag_labels)))
        for name, values in config.attributes.items():
            self.register_buffer(f"attribute_class_weights_{name}", torch.ones(len(values)))
        for head in [self.intent_head, self.tag_head, *self.attribute_heads.values()]:
            nn.init.normal_(head.weight, std=0.02)
            nn.init.zeros_(head.bias)

    def set_class_weights(
        self,
        intent: torch.Tensor,
        tags: torch.Tensor,
        attributes: Dict[str, torch.Tensor],
    ) -> None:
        """Loss weights per class (from label frequency in the training set)."""
        self.intent_class_weights.copy_(intent)
        self.tag_class_weights.copy_(tags)
        for name, weights in attributes.items():
            getattr(self, f"attribute_class_weights_{name}").copy_(weights)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        intent_labels: Optional[torch.Tensor] = None,
        tag_labels: Optional[torch.Tensor] = None,
        attribute_labels: Optional[Dict[str, torch.Tensor]] = None,
    ) -> JointShoppingOutput:
        """Logits for all heads; `tag_labels` uses -100 for positions the loss ignores."""
        hidden_states_bsh = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask_bs1 = attention_mask.unsqueeze(-1).to(hidden_states_bsh.dtype)
        pooled_bh = (hidden_states_bsh * mask_bs1).sum(dim=1) / mask_bs1.sum(dim=1).clamp(min=1.0)
        pooled_bh = self.dropout(pooled_bh)
        intent_logits_bi = self.intent_head(pooled_bh)
        tag_logits_bst = self.tag_head(self.dropout(hidden_states_bsh))
        attribute_logits_bv = {name: head(pooled_bh) for name, head in self.attribute_heads.items()}

        output = JointShoppingOutput(intent_logits_bi, tag_logits_bst, attribute_logits_bv)
        if intent_labels is None and tag_labels is None and attribute_labels is None:
            return output

        losses: Dict[str, torch.Tensor] = {}
        total = intent_logits_bi.new_zeros(())
        if intent_labels is not None:
            losses["intent"] = nn.functional.cross_entropy(
                intent_logits_bi, intent_labels, weight=self.intent_class_weights
            )
            total = total + self.config.intent_loss_weight * losses["intent"]
        if tag_labels is not None and bool((tag_labels != -100).any()):
            losses["entity"] = nn.functional.cross_entropy(
                tag_logits_bst.reshape(-1, tag_logits_bst.shape[-1]),
                tag_labels.reshape(-1),
                weight=self.tag_class_weights,
                ignore_index=-100,
            )
            total = total + self.config.entity_loss_weight * losses["entity"]
        if attribute_labels:
            attribute_losses = [
                nn.functional.cross_entropy(
                    attribute_logits_bv[name],
                    labels_b,
                    weight=getattr(self, f"attribute_class_weights_{name}"),
                )
                for name, labels_b in attribute_labels.items()
            ]
            losses["attributes"] = torch.stack(attribute_losses).mean()
            total = total + self.config.attribute_loss_weight * losses["attributes"]
        output.loss = total
        output.losses = losses
        return output
