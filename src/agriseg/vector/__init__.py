"""Field polygons from segmentation rasters: seamless blockwise polygonisation, watershed separation of
touching fields, boundary pixels split between touching fields, sub-pixel edges simplified once per shared
edge (a valid polygon coverage), metric clean-up on any CRS, area / confidence / land-cover filters, fiboa
v0.3 GeoParquet / GeoJSON and GeoPackage / FlatGeobuf output."""

from __future__ import annotations

from agriseg.vector.api import is_instance_raster, polygonize, polygonize_labels
from agriseg.vector.config import PolygonizeConfig
from agriseg.vector.fiboa import fields_frame, output_format, validate_fiboa, write_fields
from agriseg.vector.geometry import clean_fields
from agriseg.vector.instances import label_instances
from agriseg.vector.polygonize import coverage_from_labels, polygonize_pixels

__all__ = [
    "PolygonizeConfig",
    "clean_fields",
    "coverage_from_labels",
    "fields_frame",
    "is_instance_raster",
    "label_instances",
    "output_format",
    "polygonize",
    "polygonize_labels",
    "polygonize_pixels",
    "validate_fiboa",
    "write_fields",
]
