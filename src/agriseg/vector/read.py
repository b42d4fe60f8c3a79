"""Reading a user's vector file (areas, plots): one line naming the file when it is not one."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_vector(path: str | Path) -> Any:
    """The features of a vector file as a GeoDataFrame (GeoParquet by its suffix, else any format GDAL reads).

    Raises:
        ValueError: ``<path>: not a readable vector file (<reader's first sentence>)``.
    """
    import warnings

    import geopandas as gpd

    try:
        if Path(path).suffix.lower() in (".parquet", ".geoparquet"):
            df = gpd.read_parquet(path)
        else:
            _one_layer(path)
            with warnings.catch_warnings():  # a column of mixed types is read as text, as it should: no dump
                warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
                df = gpd.read_file(path)
    except _LayersError:
        raise
    except Exception as err:  # noqa: BLE001 - pyogrio / pyarrow raise their own error types
        # GDAL's advice about driver prefixes says nothing here; GEOS ends its messages with a newline (one line)
        first = " ".join(str(err).split("; It might help")[0].split())
        raise ValueError(f"{path}: not a readable vector file ({first})") from err
    # an attribute-only table (a CSV, a GeoPackage table without shapes) reads as a plain DataFrame
    if not isinstance(df, gpd.GeoDataFrame) or df.active_geometry_name is None:
        raise ValueError(f"{path}: holds no geometry (a table without shapes)")
    return df


class _LayersError(ValueError):
    """A file of several layers of shapes: which one to read cannot be told."""


def _one_layer(path: str | Path) -> None:
    """Refuse a file of several layers with shapes (a GeoPackage of a trial's boundary and its plots): GDAL reads
    the first, which may be the boundary, measured as one plot (its warning names the layers)."""
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)  # (name, geometry type) rows; None: a table without shapes
    except Exception:  # noqa: BLE001  # unreadable: read_file says why
        return
    shaped = [str(name) for name, kind in layers if kind is not None]
    if len(shaped) > 1:
        first = shaped[-1]
        raise _LayersError(
            f"{path}: has {len(shaped)} layers of shapes ({', '.join(shaped)}); which to read cannot be told: give a "
            f"file of one, e.g. ogr2ogr {Path(path).stem}_{first}.gpkg {path} {first}"
        )


def reproject(df: Any, crs: Any, path: str | Path, to: str = "") -> Any:  # noqa: ANN401 - GeoDataFrames
    """``df.to_crs(crs)``, with a CRS PROJ cannot transform (a local engineering CRS) as one line naming ``path``.

    Raises:
        ValueError: ``<path>: its CRS (<name>) cannot be transformed to <to or crs>``.
    """
    try:
        return df.to_crs(crs)
    except Exception as err:  # noqa: BLE001 - pyproj's ProjError is a RuntimeError; CRSError a ValueError
        name = getattr(df.crs, "name", df.crs)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path}: its CRS ({name}) cannot be transformed to {to or crs} ({first})") from None
