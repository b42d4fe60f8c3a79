"""Reading a user's vector file (areas, plots): one line naming the file when it is not one."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_vector(path: str | Path) -> Any:
    """The features of a vector file as a GeoDataFrame (GeoParquet by its suffix, else any format GDAL reads).

    Raises:
        ValueError: ``<path>: not a readable vector file (<reader's first sentence>)``.
    """
    import geopandas as gpd

    try:
        if Path(path).suffix.lower() in (".parquet", ".geoparquet"):
            return gpd.read_parquet(path)
        return gpd.read_file(path)
    except Exception as err:  # noqa: BLE001 - pyogrio / pyarrow raise their own error types
        first = str(err).split("; It might help")[0]  # GDAL's advice about driver prefixes says nothing here
        raise ValueError(f"{path}: not a readable vector file ({first})") from err
