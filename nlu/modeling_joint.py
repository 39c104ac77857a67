"""Joint intent + BIO entity tags + implicit-attribute model on a small pretrained encoder.

One forward pass over a short shopping request gives everything the bot needs: the intent, a tag per
token (decoded to character spans in `nlu.prediction`) and one softmax per implicit attribute. The
attribute heads are built from the config, so a new attribute is a config + data change only.

`JointShoppingConfig` is the one home of the model's defaults (decoder, length, dropout, loss weights,
attributes): the Rasa component's `get_default_config` takes them from its fields.

Tensor names end in their shape, one letter per dimension (here and in the other nlu/ modules):
`b` batch, `s` subword-token positions, `w` words (a word's first subword token), `t` BIO tags,
`h` encoder hidden size, `i` intents, `v` values of one attribute, `1` a broadcast dimension of size 1.
So `tag_logits_bst` is [batch, tokens, tags] and `transitions_tt` is [from tag, to tag].
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from common.schema import DEFAULT_ATTRIBUTES

CONFIG_FILE_NAME = "joint_config.json"
# Label of a token position the losses skip (padding, special tokens, a word's later subword tokens).
IGNORE_INDEX = -100
# The model settings a pipeline config may set (JointShoppingNLU keys of the same name); their defaults are
# the dataclass's below.
CONFIGURABLE_FIELDS = (
    "attributes",
    "dropout",
    "entity_decoder",
    "intent_loss_weight",
    "entity_loss_weight",
    "attribute_loss_weight",
    "max_length",
)
# Keys of `JointShoppingConfig.temperatures`: one per head (attributes: "attribute.<name>").
INTENT_HEAD = "intent"
TAGS_HEAD = "tags"


def attribute_head(name: str) -> str:
    """The temperatures key of one attribute's head."""
    return f"attribute.{name}"


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
    # "crf": tags decoded as the best whole sequence under learned transitions; "softmax": per word
    # (then constrained to valid BIO at decoding).
    entity_decoder: str = "crf"
    intent_loss_weight: float = 1.0
    entity_loss_weight: float = 1.0
    attribute_loss_weight: float = 1.0
    # Subword tokens per message (longer messages are cut); shopping requests are short.
    max_length: int = 48
    # Fitted after training on a held-out slice (nlu/calibration.py): {head: T}, logits divided by T at
    # prediction so confidences match accuracy; a head not listed (every head of an older archive) keeps 1.
    temperatures: Dict[str, float] = field(default_factory=dict)

    @classmethod
    def configurable_defaults(cls) -> Dict[str, Any]:
        """{setting: default} for the settings a pipeline config may set (`CONFIGURABLE_FIELDS`)."""
        defaults: Dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name in CONFIGURABLE_FIELDS:
                defaults[spec.name] = spec.default_factory() if spec.default is MISSING else spec.default
        return defaults

    def temperature(self, head: str) -> float:
        """The fitted temperature of one head (INTENT_HEAD, TAGS_HEAD, attribute_head(name)); 1.0 if none."""
        return float(self.temperatures.get(head, 1.0))

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


def bio_transition_mask(tag_labels: List[str]) -> torch.Tensor:
    """True where BIO allows the move from one tag to the next: I-X only after B-X or I-X."""
    size = len(tag_labels)
    allowed_tt = torch.ones(size, size, dtype=torch.bool)
    for to, label in enumerate(tag_labels):
        if label.startswith("I-"):
            entity_type = label[2:]
            for frm, previous in enumerate(tag_labels):
                allowed_tt[frm, to] = previous in (f"B-{entity_type}", f"I-{entity_type}")
    return allowed_tt


def best_tag_path(
    emissions_wt: torch.Tensor,
    transitions_tt: torch.Tensor,
    start_t: torch.Tensor,
    end_t: Optional[torch.Tensor] = None,
) -> List[int]:
    """Viterbi: the tag sequence with the highest emission + transition score."""
    num_words = emissions_wt.shape[0]
    if num_words == 0:
        return []
    score_t = start_t + emissions_wt[0]
    backpointers = []
    for word in range(1, num_words):
        score_t, best_from_t = (score_t.unsqueeze(1) + transitions_tt).max(dim=0)
        score_t = score_t + emissions_wt[word]
        backpointers.append(best_from_t)
    path = [int((score_t if end_t is None else score_t + end_t).argmax())]
    for best_from_t in reversed(backpointers):
        path.append(int(best_from_t[path[-1]]))
    return path[::-1]


def _along(scores_wt: torch.Tensor, path_w: torch.Tensor) -> torch.Tensor:
    """Each word's score for its own tag on the path: scores_wt[w, path_w[w]]."""
    return scores_wt.gather(1, path_w.unsqueeze(1)).squeeze(1)


class BIOTagCRF(nn.Module):
    """Linear-chain CRF over the word tags, with BIO's impossible moves fixed at -inf (well, -1e4).

    A per-word softmax decides each word alone, so "queen size" comes out as two size spans and
    "mother's day" as recipient + occasion. Learned transition scores let the model price a whole tag
    sequence (how often one span type follows another, that a span rarely follows one of its own type).
    Inputs are per-word emission scores, left-aligned, with a mask of the real words.
    """

    def __init__(self, tag_labels: List[str]) -> None:
        super().__init__()
        num_tags = len(tag_labels)
        self.transitions_tt = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start_t = nn.Parameter(torch.zeros(num_tags))
        self.end_t = nn.Parameter(torch.zeros(num_tags))
        impossible = -1e4
        self.register_buffer(
            "forbidden_tt",
            torch.zeros(num_tags, num_tags).masked_fill(~bio_transition_mask(tag_labels), impossible),
        )
        self.register_buffer(
            "forbidden_start_t",
            torch.tensor([impossible if label.startswith("I-") else 0.0 for label in tag_labels]),
        )
        # For each tag, the index of the I- tag that continues its span (-1 for O): what
        # `span_probabilities` needs to know where a decoded span ends.
        self.inside_of: List[int] = [
            tag_labels.index(f"I-{label[2:]}") if label != "O" and f"I-{label[2:]}" in tag_labels else -1
            for label in tag_labels
        ]

    def _transitions(self) -> torch.Tensor:
        return self.transitions_tt + self.forbidden_tt

    def _start(self) -> torch.Tensor:
        return self.start_t + self.forbidden_start_t

    def negative_log_likelihood(
        self, emissions_bwt: torch.Tensor, tags_bw: torch.Tensor, mask_bw: torch.Tensor
    ) -> torch.Tensor:
        """Sum over the batch of -log p(gold tag sequence); rows with no words contribute 0."""
        transitions_tt = self._transitions()
        mask_f = mask_bw.to(emissions_bwt.dtype)
        tags_bw = tags_bw.masked_fill(~mask_bw, 0)
        # Score of the gold path.
        emitted_bw = emissions_bwt.gather(-1, tags_bw.unsqueeze(-1)).squeeze(-1)
        gold_b = (emitted_bw * mask_f).sum(dim=1) + self._start()[tags_bw[:, 0]] * mask_f[:, 0]
        step_bw = transitions_tt[tags_bw[:, :-1], tags_bw[:, 1:]] * mask_f[:, 1:]
        gold_b = gold_b + step_bw.sum(dim=1)
        lengths_b = mask_bw.sum(dim=1)
        last_tag_b = tags_bw.gather(1, (lengths_b - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        gold_b = gold_b + self.end_t[last_tag_b] * (lengths_b > 0).to(emissions_bwt.dtype)
        return ((self._log_partition(emissions_bwt, mask_bw) - gold_b) * (lengths_b > 0)).sum()

    def _log_partition(self, emissions_bwt: torch.Tensor, mask_bw: torch.Tensor) -> torch.Tensor:
        transitions_tt = self._transitions()
        alpha_bt = self._start() + emissions_bwt[:, 0]
        for word in range(1, emissions_bwt.shape[1]):
            next_bt = torch.logsumexp(alpha_bt.unsqueeze(2) + transitions_tt, dim=1) + emissions_bwt[:, word]
            alpha_bt = torch.where(mask_bw[:, word].unsqueeze(1), next_bt, alpha_bt)
        return torch.logsumexp(alpha_bt + self.end_t, dim=1)

    @torch.no_grad()
    def decode(self, emissions_wt: torch.Tensor, temperature: float = 1.0) -> Tuple[List[int], List[float]]:
        """Best tag path for one sequence (Viterbi) and each word's confidence in it.

        A word tagged O gets its marginal p(O); a word inside a span gets the probability that exactly
        that span is right (`span_probabilities`), so a span's confidence prices its boundaries: a
        word's marginal does not say whether the span should have gone on one word further.
        `temperature` divides the whole potential (emissions, transitions, start, end), so the best path
        is the same for every T > 0 and only the confidences move.
        """
        if emissions_wt.shape[0] == 0:
            return [], []
        path = best_tag_path(emissions_wt, self._transitions(), self._start(), self.end_t)
        return path, self.span_probabilities(emissions_wt, path, temperature)

    @torch.no_grad()
    def marginals(self, emissions_wt: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """p(word w has tag t | sentence) by forward-backward over the potential / `temperature`."""
        alpha_wt, beta_wt, log_z, _ = self._forward_backward(emissions_wt, temperature)
        return (alpha_wt + beta_wt - log_z).exp()

    @torch.no_grad()
    def span_probabilities(
        self, emissions_wt: torch.Tensor, path: Sequence[int], temperature: float = 1.0
    ) -> List[float]:
        """Per word of `path`: p(O) for an O word; for a word of a span, p(that exact span | sentence).

        The exact span from word i to word j of type X is every path with B-X at i, I-X from i+1 to j,
        and anything but I-X at j+1: forward score to i, the span's own steps, and the sum over what
        may follow it (or the end score).
        """
        alpha_wt, beta_wt, log_z, (transitions_tt, end_t, emissions_wt) = self._forward_backward(
            emissions_wt, temperature
        )
        path_w = torch.tensor(list(path))
        confidences = _along((alpha_wt + beta_wt - log_z).exp(), path_w).tolist()
        # Log scores along the path: forward to word k; the step into word k from word k-1 (0 for the first).
        forward = _along(alpha_wt, path_w).tolist()
        steps = [
            0.0,
            *(transitions_tt[path_w[:-1], path_w[1:]] + _along(emissions_wt[1:], path_w[1:])).tolist(),
        ]
        # after[j]: every way on from word j that does not continue its span (the next word's tag is
        # anything but the span's I- tag, then the rest of the sentence), or the end score at the last word.
        onward_wt = transitions_tt[path_w[:-1]] + emissions_wt[1:] + beta_wt[1:]
        for word, tag in enumerate(path[:-1]):
            if self.inside_of[tag] >= 0:
                onward_wt[word, self.inside_of[tag]] = float("-inf")
        after = [*torch.logsumexp(onward_wt, dim=1).tolist(), float(end_t[path[-1]])]
        log_z_value = float(log_z)
        num_words, word = len(path), 0
        while word < num_words:
            inside = self.inside_of[path[word]]
            if inside < 0:
                word += 1
                continue
            last = word
            while last + 1 < num_words and path[last + 1] == inside:
                last += 1
            score = forward[word] + sum(steps[word + 1 : last + 1]) + after[last]
            probability = min(1.0, math.exp(score - log_z_value))
            confidences[word : last + 1] = [probability] * (last + 1 - word)
            word = last + 1
        return confidences

    def _forward_backward(
        self, emissions_wt: torch.Tensor, temperature: float
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Log forward (emission included) and backward (emission excluded) scores per word and tag, and
        log Z, over the potential / `temperature`; also that tempered potential."""
        transitions_tt = self._transitions() / temperature
        start_t, end_t = self._start() / temperature, self.end_t / temperature
        emissions_wt = emissions_wt / temperature
        num_words = emissions_wt.shape[0]
        alphas = [start_t + emissions_wt[0]]
        for word in range(1, num_words):
            alphas.append(
                torch.logsumexp(alphas[-1].unsqueeze(1) + transitions_tt, dim=0) + emissions_wt[word]
            )
        betas = [end_t.clone()]
        for word in range(num_words - 1, 0, -1):
            betas.append(
                torch.logsumexp(transitions_tt + (emissions_wt[word] + betas[-1]).unsqueeze(0), dim=1)
            )
        betas.reverse()
        log_z = torch.logsumexp(alphas[-1] + end_t, dim=0)
        return torch.stack(alphas), torch.stack(betas), log_z, (transitions_tt, end_t, emissions_wt)


@dataclass
class JointShoppingOutput:
    """Logits of every head (and the joint loss when labels were given)."""

    intent_logits_bi: torch.Tensor
    tag_logits_bst: torch.Tensor
    attribute_logits_bv: Dict[str, torch.Tensor]  # by attribute name
    loss: Optional[torch.Tensor] = None
    losses: Dict[str, torch.Tensor] = field(default_factory=dict)

    def tempered(self, config: JointShoppingConfig) -> JointShoppingOutput:
        """Intent and attribute logits divided by the config's fitted temperatures (tags: by the decoder,
        since the CRF's transitions must be divided too)."""
        return JointShoppingOutput(
            self.intent_logits_bi / config.temperature(INTENT_HEAD),
            self.tag_logits_bst,
            {
                name: logits_bv / config.temperature(attribute_head(name))
                for name, logits_bv in self.attribute_logits_bv.items()
            },
            self.loss,
            self.losses,
        )


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
        if config.entity_decoder not in ("crf", "softmax"):
            raise ValueError(f"entity_decoder must be 'crf' or 'softmax', not {config.entity_decoder!r}")
        self.crf = BIOTagCRF(config.tag_labels) if config.entity_decoder == "crf" else None
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

    def _entity_loss(self, tag_logits_bst: torch.Tensor, tag_labels_bs: torch.Tensor) -> torch.Tensor:
        """Per-word loss; labelled positions (not IGNORE_INDEX) are each word's first subword token."""
        if self.crf is None:
            return nn.functional.cross_entropy(
                tag_logits_bst.reshape(-1, tag_logits_bst.shape[-1]),
                tag_labels_bs.reshape(-1),
                weight=self.tag_class_weights,
                ignore_index=IGNORE_INDEX,
            )
        is_word_bs = tag_labels_bs != IGNORE_INDEX
        words_b = is_word_bs.sum(dim=1)
        # Word positions moved to the left, in order: a stable sort puts the labelled tokens first.
        positions_bw = torch.argsort((~is_word_bs).to(torch.int8), dim=1, stable=True)[
            :, : int(words_b.max())
        ]
        mask_bw = torch.arange(positions_bw.shape[1]).unsqueeze(0) < words_b.unsqueeze(1)
        emissions_bwt = tag_logits_bst.gather(
            1, positions_bw.unsqueeze(-1).expand(-1, -1, tag_logits_bst.shape[-1])
        )
        tags_bw = tag_labels_bs.gather(1, positions_bw)
        return self.crf.negative_log_likelihood(emissions_bwt, tags_bw, mask_bw) / words_b.sum()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        intent_labels: Optional[torch.Tensor] = None,
        tag_labels: Optional[torch.Tensor] = None,
        attribute_labels: Optional[Dict[str, torch.Tensor]] = None,
    ) -> JointShoppingOutput:
        """Logits for all heads; `tag_labels` uses IGNORE_INDEX for positions the loss ignores."""
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
        if tag_labels is not None and bool((tag_labels != IGNORE_INDEX).any()):
            losses["entity"] = self._entity_loss(tag_logits_bst, tag_labels)
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
