"""Crop / vegetation segmentation of field photos (DepthCropSeg++).

Training (``config``, ``dataset``, ``transforms``, ``labels``, ``task``, ``train``), training without hand
labels (``pseudolabel``, ``selftrain``: two-stage self-training and adaptation to a new field), and use
(``predict``: masks, overlays and cover per photo; ``evaluate``: mIoU and boundary IoU against labels).
"""
