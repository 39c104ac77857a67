"""The Encoder: texts to padded subword tensors, plus where each word's first subword token sits."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import torch

from nlu.words import Word, pre_tokenize


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
