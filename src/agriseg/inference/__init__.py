"""Inference: blended tiled prediction and batch prediction of image files."""
