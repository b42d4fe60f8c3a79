"""Annotation-free pseudo-labels: vegetation indices, depth, gradient-guided histogram thresholding (GGHT),
the batch pipeline, histogram plots, the screening page and synthetic RGB-D scenes."""

from agriseg.crop.pseudolabel.gght import GGHTConfig, GGHTResult, gght
from agriseg.crop.pseudolabel.indices import INDICES, vegetation_index

__all__ = ["INDICES", "GGHTConfig", "GGHTResult", "gght", "vegetation_index"]
