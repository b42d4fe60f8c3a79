"""Data module for image + label folders."""

from __future__ import annotations

import albumentations as A
import cv2
import lightning as L
from torch.utils.data import DataLoader

from agriseg.config import DataConfig
from agriseg.data.crop_dataset import CropSegDataset, match_pairs, split_stems
from agriseg.data.loaders import train_loader
from agriseg.data.transforms import train_transform


class _ResizeImageOnly:
    """Validation transform: resize the image to the model's inference size, keep the full-size mask."""

    def __init__(self, long_side: int) -> None:
        self.resize = A.LongestMaxSize(max_size=long_side, interpolation=cv2.INTER_AREA) if long_side else None

    def __call__(self, image, mask):  # noqa: ANN001, ANN204 - albumentations-style call
        return {"image": self.resize(image=image)["image"] if self.resize else image, "mask": mask}


class CropDataModule(L.LightningDataModule):
    """Train/val loaders from a :class:`DataConfig`.

    Args:
        data: the data config.
        batch_size: training batch size.
        num_workers: loader worker processes.
        seed: seed of the random split.
        infer_long_side: validation images are resized to this long side (0 = native).
    """

    def __init__(self, data: DataConfig, batch_size: int, num_workers: int, seed: int, infer_long_side: int) -> None:
        super().__init__()
        self.cfg, self.batch_size, self.num_workers = data, batch_size, num_workers
        pairs = match_pairs(data.images, data.labels)
        self.train_stems, self.val_stems = split_stems(
            list(pairs), data.train_list, data.val_list, data.val_fraction, seed
        )
        kw = {"label_mode": data.label_mode, "colormap": data.colormap, "cache": data.cache}
        tf = train_transform(data.crop_size, (data.scale_min, data.scale_max), data.augment)
        self.train_set = CropSegDataset(pairs, self.train_stems, transform=tf, **kw)
        self.val_set = CropSegDataset(pairs, self.val_stems, transform=_ResizeImageOnly(infer_long_side), **kw)

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.train_set, self.batch_size, self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=1, num_workers=0)
