"""The shuffled, seeded training loader shared by the crop and field-boundary data modules."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset


def train_loader(dataset: Dataset, batch_size: int, num_workers: int, seed: int = 0) -> DataLoader:
    """Shuffled batches in a seeded order; the last short batch is dropped when there is more than one.

    Args:
        dataset: the training set.
        batch_size: samples per batch.
        num_workers: loader processes (kept alive between epochs).
        seed: seed of the shuffling order.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(dataset) > batch_size,  # type: ignore[arg-type]
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )
