"""Augmentation pipelines (albumentations) for field photos.

``strong`` is the default: models are judged on crops, soils, cameras and light they never saw, so colour
(gamma, per-channel gain, hue, saturation), blur, noise, compression and scale are all randomised.
"""

from __future__ import annotations

from typing import Literal

import albumentations as A
import cv2


def train_transform(
    crop_size: int = 384,
    scale: tuple[float, float] = (0.35, 1.0),
    strength: Literal["none", "mild", "strong"] = "strong",
    ref_long_side: int = 960,
) -> A.Compose:
    """Training pipeline: random rescale, crop, flips/rotation, then photometric changes.

    Args:
        crop_size: side of the square training crop.
        scale: range of the resize factor relative to an image whose long side is ``ref_long_side``
            (so plants appear at 0.35x-1x the reference camera's size by default).
        strength: ``none`` (geometry only), ``mild`` or ``strong`` photometric augmentation.
        ref_long_side: long side (px) at which the scale factor is 1.
    """
    geo = [
        A.LongestMaxSize(max_size=ref_long_side),
        A.RandomScale(scale_limit=(scale[0] - 1, scale[1] - 1), interpolation=cv2.INTER_AREA, p=1.0),
        A.PadIfNeeded(crop_size, crop_size, border_mode=cv2.BORDER_REFLECT_101),
        A.RandomCrop(crop_size, crop_size),
        A.HorizontalFlip(),
        A.VerticalFlip(),
        A.RandomRotate90(),
    ]
    if strength == "none":
        return A.Compose(geo)
    if strength == "mild":
        return A.Compose([*geo, A.ColorJitter(0.2, 0.2, 0.2, 0.02, p=0.8)])
    photo = [
        A.RandomGamma(gamma_limit=(60, 160), p=0.5),
        A.ColorJitter(brightness=0.35, contrast=0.35, saturation=0.5, hue=0.0, p=0.8),
        # per-channel gain: white balance of other cameras and light
        A.MultiplicativeNoise(multiplier=(0.75, 1.25), per_channel=True, elementwise=False, p=0.6),
        A.HueSaturationValue(hue_shift_limit=12, sat_shift_limit=30, val_shift_limit=0, p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 7)), A.MotionBlur(blur_limit=(3, 7))], p=0.3),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.3),
        A.ImageCompression(quality_range=(40, 95), p=0.3),
        A.RandomShadow(p=0.15),
        A.ToGray(p=0.03),
    ]
    return A.Compose([*geo, *photo])
