"""Writing field polygons: fiboa v0.3 GeoParquet, or GeoPackage / FlatGeobuf / GeoJSON by file extension.

fiboa v0.3 (on Vecorel v0.1) GeoParquet: required columns ``id`` (string), ``collection`` (string) and
``geometry``; the Parquet metadata key ``collection`` holds a JSON object whose ``schemas`` map each
collection id to the schema URIs it implements, plus properties that are constant over the file
(here ``determination:method`` and ``determination:datetime``). ``metrics:area`` (m2) and
``metrics:perimeter`` (m) come from Vecorel's geometry-metrics extension.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

FIBOA_VERSION = "0.3.0"
VECOREL_SCHEMA = "https://vecorel.org/specification/v0.1.0/schema.yaml"
FIBOA_SCHEMA = f"https://fiboa.org/specification/v{FIBOA_VERSION}/schema.yaml"
METRICS_SCHEMA = "https://vecorel.org/geometry-metrics-extension/v0.1.0/schema.yaml"
FORMATS: dict[str, Literal["parquet", "gpkg", "fgb", "geojson"]] = {
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".gpkg": "gpkg",
    ".fgb": "fgb",
    ".geojson": "geojson",
    ".json": "geojson",
}
CONSTANT = ("determination:method", "determination:datetime")


def output_format(path: str | Path) -> Literal["parquet", "gpkg", "fgb", "geojson"]:
    """The vector format chosen by a file extension.

    Raises:
        ValueError: an unsupported extension (the message lists the supported ones).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported vector format {suffix!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[suffix]


def fields_frame(
    geoms: np.ndarray,
    crs: Any,
    ids: list[str],
    area: np.ndarray,
    perimeter: np.ndarray,
    collection: str = "agriseg-fields",
    determined: dt.datetime | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> Any:
    """A GeoDataFrame with the fiboa core and geometry-metrics columns."""
    import geopandas as gpd

    when = (determined or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    data: dict[str, Any] = {
        "id": np.asarray(ids, dtype=object),
        "collection": np.full(len(ids), collection, dtype=object),
        "metrics:area": np.asarray(area, dtype=np.float64),
        "metrics:perimeter": np.asarray(perimeter, dtype=np.float64),
        "determination:method": np.full(len(ids), "auto-imagery", dtype=object),
        "determination:datetime": [when] * len(ids),
    }
    for k, v in (extra or {}).items():
        data[k] = v
    import pandas as pd

    df = gpd.GeoDataFrame(data, geometry=list(geoms), crs=crs)
    df["determination:datetime"] = pd.to_datetime(df["determination:datetime"], utc=True)
    return df


def collection_metadata(df: Any, collection: str) -> dict[str, Any]:
    """The ``collection`` Parquet metadata object for a fields frame."""
    meta: dict[str, Any] = {"schemas": {collection: [VECOREL_SCHEMA, FIBOA_SCHEMA, METRICS_SCHEMA]}}
    for k in CONSTANT:
        if k in df and len(df) and df[k].nunique() == 1:
            v = df[k].iloc[0]
            meta[k] = v.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(v, "strftime") else v
    return meta


def write_fields(df: Any, path: str | Path, collection: str = "agriseg-fields") -> Path:
    """Write a fields frame atomically in the format of ``path``'s extension.

    GeoParquet output is fiboa v0.3: file-constant properties move into the ``collection`` metadata.
    """
    import pyarrow.parquet as pq

    from agriseg.data.files import atomic_write

    path = Path(path)
    fmt = output_format(path)
    with atomic_write(path) as tmp:
        if fmt == "parquet":
            meta = collection_metadata(df, collection)
            out = df.drop(columns=[k for k in CONSTANT if k in meta])
            out.to_parquet(tmp, index=False, schema_version="1.1.0", write_covering_bbox=False)
            table = pq.read_table(tmp)
            md = dict(table.schema.metadata or {})
            md[b"collection"] = json.dumps(meta).encode()
            pq.write_table(table.replace_schema_metadata(md), tmp, compression="zstd")
        else:
            driver = {"gpkg": "GPKG", "fgb": "FlatGeobuf", "geojson": "GeoJSON"}[fmt]
            out = df.copy()
            out["determination:datetime"] = out["determination:datetime"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            kw: dict[str, Any] = {"layer": "fields"} if fmt == "gpkg" else {}
            out.to_file(tmp, driver=driver, engine="pyogrio", **kw)
    return path


def validate_fiboa(path: str | Path) -> list[str]:
    """Check a GeoParquet file against the fiboa v0.3 core rules; returns the problems found (empty = valid).

    Checks: ``geo`` and ``collection`` metadata, schemas naming the fiboa v0.3.0 spec for every
    collection id used, required ``id`` (unique, non-null strings), ``collection`` and ``geometry``
    (non-null Polygon/MultiPolygon), ``metrics:area``/``metrics:perimeter`` positive numbers,
    ``determination:method`` in the allowed values.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    problems: list[str] = []
    path = Path(path)
    schema = pq.read_schema(path)
    md = schema.metadata or {}
    if b"geo" not in md:
        problems.append("no 'geo' metadata (not GeoParquet)")
    if b"collection" not in md:
        return [*problems, "no 'collection' metadata"]
    coll = json.loads(md[b"collection"])
    schemas = coll.get("schemas", {})
    for name in ("id", "collection", "geometry"):
        if name not in schema.names:
            problems.append(f"required column {name!r} missing")
    if problems:
        return problems
    if not pa.types.is_string(schema.field("id").type) and not pa.types.is_large_string(
        schema.field("id").type
    ):
        problems.append(f"'id' must be a string column, is {schema.field('id').type}")
    import geopandas as gpd

    df = gpd.read_parquet(path)
    if df["id"].isna().any() or df["id"].duplicated().any():
        problems.append("'id' has nulls or duplicates")
    for cid in df["collection"].unique():
        uris = schemas.get(cid)
        if not uris or FIBOA_SCHEMA not in uris:
            problems.append(f"collection {cid!r} does not list {FIBOA_SCHEMA} in its schemas")
        elif any(k.startswith("metrics:") for k in df.columns) and METRICS_SCHEMA not in uris:
            problems.append(f"collection {cid!r} uses metrics:* without {METRICS_SCHEMA}")
    if df.geometry.isna().any() or df.geometry.is_empty.any():
        problems.append("null or empty geometries")
    bad_types = set(df.geom_type.unique()) - {"Polygon", "MultiPolygon"}
    if bad_types:
        problems.append(f"geometry types {sorted(bad_types)} (fields must be polygons)")
    for col in ("metrics:area", "metrics:perimeter"):
        if col in df and not (np.isfinite(df[col]).all() and (df[col] > 0).all()):
            problems.append(f"{col!r} must be positive numbers")
    method = coll.get("determination:method")
    if "determination:method" in df:
        method = df["determination:method"].unique().tolist()
    allowed = {"manual", "driver", "surveyed", "administrative", "auto-operation", "auto-imagery", "unknown"}
    for m in method if isinstance(method, list) else [method] if method else []:
        if m not in allowed:
            problems.append(f"determination:method {m!r} not in {sorted(allowed)}")
    return problems
