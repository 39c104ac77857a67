"""Length-bucketed training batches: every example once per epoch, less padding than random batches."""

from __future__ import annotations

import torch

from nlu.training import length_bucketed_batches


def test_every_example_lands_in_exactly_one_batch_of_at_most_batch_size() -> None:
    lengths = torch.randint(3, 40, (1000,), generator=torch.Generator().manual_seed(0))  # 6+ pools of 5
    batches = length_bucketed_batches(lengths, 32, torch.Generator().manual_seed(1), pool_batches=5)
    rows = torch.cat(batches).tolist()
    assert sorted(rows) == list(range(1000))
    assert all(len(batch) <= 32 for batch in batches)


def test_bucketing_pads_less_than_random_batches_and_varies_by_epoch() -> None:
    lengths = torch.randint(3, 40, (3200,), generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)

    def padded_tokens(batches: list) -> int:
        return sum(int(lengths[b].max()) * len(b) for b in batches)

    bucketed = length_bucketed_batches(lengths, 32, generator)
    random_order = torch.randperm(3200, generator=torch.Generator().manual_seed(1))
    random_batches = [random_order[i : i + 32] for i in range(0, 3200, 32)]
    assert padded_tokens(bucketed) < 0.8 * padded_tokens(random_batches)
    next_epoch = length_bucketed_batches(lengths, 32, generator)
    assert [b.tolist() for b in next_epoch] != [b.tolist() for b in bucketed]


def test_small_data_keeps_random_batches() -> None:
    """Under two pools the batches are plain random slices: sorting would group near-copies."""
    lengths = torch.arange(100) % 7
    batches = length_bucketed_batches(lengths, 10, torch.Generator().manual_seed(3))
    assert sorted(torch.cat(batches).tolist()) == list(range(100))
    assert any(len(set(lengths[b].tolist())) > 3 for b in batches)
