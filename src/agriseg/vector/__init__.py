"""Field polygons from segmentation rasters: seamless blockwise polygonisation, watershed separation of
touching fields, boundary pixels split between touching fields, sub-pixel edges simplified once per shared
edge (a valid polygon coverage), metric clean-up on any CRS, area / confidence / land-cover filters, fiboa
v0.3 GeoParquet / GeoJSON and GeoPackage / FlatGeobuf output."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from agriseg import lazy_exports

if TYPE_CHECKING:  # what type checkers and editors see; at run time each name is imported on first use
    from agriseg.vector.api import is_instance_raster as is_instance_raster
    from agriseg.vector.api import polygonize as polygonize
    from agriseg.vector.api import polygonize_labels as polygonize_labels
    from agriseg.vector.config import PolygonizeConfig as PolygonizeConfig
    from agriseg.vector.fiboa import fields_frame as fields_frame
    from agriseg.vector.fiboa import output_format as output_format
    from agriseg.vector.fiboa import validate_fiboa as validate_fiboa
    from agriseg.vector.fiboa import write_fields as write_fields
    from agriseg.vector.geometry import clean_fields as clean_fields
    from agriseg.vector.instances import label_instances as label_instances
    from agriseg.vector.polygonize import coverage_from_labels as coverage_from_labels
    from agriseg.vector.polygonize import polygonize_pixels as polygonize_pixels

# imported lazily: `agriseg fields ... --help` reads PolygonizeConfig's defaults without loading scipy
_EXPORTS = {
    "PolygonizeConfig": "agriseg.vector.config",
    "clean_fields": "agriseg.vector.geometry",
    "coverage_from_labels": "agriseg.vector.polygonize",
    "fields_frame": "agriseg.vector.fiboa",
    "is_instance_raster": "agriseg.vector.api",
    "label_instances": "agriseg.vector.instances",
    "output_format": "agriseg.vector.fiboa",
    "polygonize": "agriseg.vector.api",
    "polygonize_labels": "agriseg.vector.api",
    "polygonize_pixels": "agriseg.vector.polygonize",
    "validate_fiboa": "agriseg.vector.fiboa",
    "write_fields": "agriseg.vector.fiboa",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, extra="geo")


class _Package(types.ModuleType):
    """``agriseg.vector.polygonize`` is the function here and the submodule in ``sys.modules``: the import
    system sets a package's attribute to each submodule it loads, which would hide the lazily exported
    function once the submodule is loaded (the eager imports this replaces won by their order)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
