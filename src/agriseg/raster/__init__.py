"""Raster I/O shared by the pipelines: opening scenes, windowed reads, Cloud-Optimized GeoTIFF output.

Importing it needs no torch (the vector writers use it).
"""

from agriseg.raster.io import (
    SceneInfo,
    describe_bands,
    latest_image_time,
    open_scene,
    read_window,
    scene_tags,
    to_cog,
)

__all__ = ["SceneInfo", "describe_bands", "latest_image_time", "open_scene", "read_window", "scene_tags", "to_cog"]
