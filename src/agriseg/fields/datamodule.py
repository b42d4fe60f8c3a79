"""Data module of FTW-layout chips (train / val / test splits of the configured countries)."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from agriseg.data.ftw import FTWDataset
from agriseg.data.loaders import train_loader
from agriseg.fields.config import FieldsDataConfig


def make_dataset(data: FieldsDataConfig, split: str) -> FTWDataset:
    """The :class:`FTWDataset` of one split of a data config."""
    countries = {"train": data.train_countries, "val": data.val_countries, "test": data.test_countries}[split]
    return FTWDataset(
        data.root,
        countries if countries is not None else data.train_countries,
        split,  # type: ignore[arg-type]
        data.target,
        data.windows,
        data.divisor,
        data.offset,
        data.missing,
        data.cache,
    )


class FieldsDataModule(L.LightningDataModule):
    """Train / val / test loaders of a :class:`FieldsDataConfig`.

    Args:
        data: the data config.
        batch_size: training batch size.
        num_workers: loader worker processes.
    """

    def __init__(self, data: FieldsDataConfig, batch_size: int, num_workers: int = 0) -> None:
        super().__init__()
        self.data, self.batch_size, self.num_workers = data, batch_size, num_workers
        self.train_set = make_dataset(data, "train")
        self.val_set = make_dataset(data, "val")
        self._test_set: FTWDataset | None = None

    @property
    def test_set(self) -> FTWDataset:
        if self._test_set is None:
            self._test_set = make_dataset(self.data, "test")
        return self._test_set

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.train_set, self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=0)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size, num_workers=0)
