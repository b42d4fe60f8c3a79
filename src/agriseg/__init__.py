"""agriseg: agricultural image segmentation toolkit and CLI."""

__version__ = "0.1.0"
