"""Pretrained weights: the offline EfficientNet-Lite0 ImageNet weights and agriseg's shipped models."""
