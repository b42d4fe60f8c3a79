"""Raster I/O shared by the pipelines: opening scenes, windowed reads, Cloud-Optimized GeoTIFF output.

Importing it needs no torch (the vector writers use it).
"""

from agriseg.raster.io import SceneInfo, open_scene, read_window, to_cog

__all__ = ["SceneInfo", "open_scene", "read_window", "to_cog"]
