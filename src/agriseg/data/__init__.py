"""Datasets, image/label I/O and augmentations."""
