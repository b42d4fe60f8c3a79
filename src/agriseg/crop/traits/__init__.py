"""Traits measured on vegetation masks: green fraction, green area index, plants, regions, plots.

- :mod:`~agriseg.crop.traits.gai`: green area index from the gap fraction (Poisson model);
- :mod:`~agriseg.crop.traits.plants`: plants (components split by watershed) and their shape and colour;
- :mod:`~agriseg.crop.traits.regions`: tray / plot regions of a photo (automatic grid or a file);
- :mod:`~agriseg.crop.traits.meta`: metadata from file names;
- :mod:`~agriseg.crop.traits.units`: pixels or millimetres (a scale or a reference object);
- :mod:`~agriseg.crop.traits.checks`: warnings about a photo's regions (unsure plants, joined plants, grids
  laid over the wrong pots);
- :mod:`~agriseg.crop.traits.runner`: ``agriseg crop traits`` (tables, JSON, debug images);
- :mod:`~agriseg.crop.traits.orthomosaic`: per-plot statistics of drone orthomosaics and growth over dates.
"""

from agriseg.crop.traits.gai import GreenAreaIndex, green_area_index
from agriseg.crop.traits.growth import run_plots
from agriseg.crop.traits.meta import parse_name
from agriseg.crop.traits.orthomosaic import plot_stats
from agriseg.crop.traits.plants import colour_traits, drop_edge_strips, label_plants, plant_traits
from agriseg.crop.traits.regions import Region, assign_plants, grid_regions, read_regions, region_traits
from agriseg.crop.traits.runner import measure, run_traits
from agriseg.crop.traits.units import reference_scale

__all__ = [
    "GreenAreaIndex",
    "Region",
    "assign_plants",
    "colour_traits",
    "drop_edge_strips",
    "green_area_index",
    "grid_regions",
    "label_plants",
    "measure",
    "parse_name",
    "plant_traits",
    "plot_stats",
    "read_regions",
    "reference_scale",
    "region_traits",
    "run_plots",
    "run_traits",
]
