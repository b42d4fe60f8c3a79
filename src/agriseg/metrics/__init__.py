"""Segmentation metrics: mIoU, boundary IoU, pixel accuracy (dataset-level accumulation)."""

from agriseg.metrics.segmentation import (
    SegmentationMetrics,
    boundary_band,
    boundary_iou,
    confusion_matrix,
    miou,
)

__all__ = ["SegmentationMetrics", "boundary_band", "boundary_iou", "confusion_matrix", "miou"]
