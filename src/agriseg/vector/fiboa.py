"""Writing field polygons: fiboa v0.3 GeoParquet or GeoJSON, GeoPackage / FlatGeobuf, by file extension.

fiboa v0.3 (on Vecorel v0.1) GeoParquet: required non-nullable columns ``id`` and ``collection`` (Arrow
``string``) and ``geometry``; the Parquet metadata key ``collection`` holds a JSON object whose ``schemas``
map each collection id to the schema URIs it implements, ``schemas:custom`` declares agriseg's own columns
(from the extension schema shipped in ``agriseg/vector/schemas/``), plus properties that are constant over
the file (``determination:method``, ``determination:datetime``). ``metrics:area`` (m2) and
``metrics:perimeter`` (m) come from Vecorel's geometry-metrics extension and are Arrow ``float``.

GeoJSON follows RFC 7946 and Vecorel's GeoJSON encoding: WGS 84 longitude/latitude, no ``crs`` member,
counter-clockwise exterior rings, the field id as each Feature's ``id``, ``schemas`` and
``schemas:custom`` as top-level members of the FeatureCollection, all other properties in every Feature.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

FIBOA_VERSION = "0.3.0"
VECOREL_SCHEMA = "https://vecorel.org/specification/v0.1.0/schema.yaml"
FIBOA_SCHEMA = f"https://fiboa.org/specification/v{FIBOA_VERSION}/schema.yaml"
METRICS_SCHEMA = "https://vecorel.org/geometry-metrics-extension/v0.1.0/schema.yaml"
EXTENSION_FILE = Path(__file__).resolve().parent / "schemas" / "agriseg-fields-v0.1.0.yaml"
FORMATS: dict[str, Literal["parquet", "gpkg", "fgb", "geojson"]] = {
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".gpkg": "gpkg",
    ".fgb": "fgb",
    ".geojson": "geojson",
    ".json": "geojson",
}
CONSTANT = ("determination:method", "determination:datetime")
REQUIRED = ("id", "collection", "geometry")
METHODS = ("manual", "driven", "surveyed", "auto-operation", "auto-imagery", "unknown")
# columns described by the fiboa core / Vecorel core / geometry-metrics schemas
CORE_COLUMNS = {
    *REQUIRED,
    "bbox",
    "category",
    "metrics:area",
    "metrics:perimeter",
    "determination:datetime",
    "determination:method",
    "determination:details",
}
FLOAT_COLUMNS = ("metrics:area", "metrics:perimeter")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@lru_cache(maxsize=1)
def extension_properties() -> dict[str, dict[str, Any]]:
    """Property schemas of agriseg's own columns (the packaged extension schema)."""
    import yaml

    return dict(yaml.safe_load(EXTENSION_FILE.read_text(encoding="utf-8"))["properties"])


def output_format(path: str | Path) -> Literal["parquet", "gpkg", "fgb", "geojson"]:
    """The vector format chosen by a file extension.

    Raises:
        OptionError: an unsupported extension of an output the user named (the message lists the supported
            ones; exit status 2 on the command line).
    """
    from agriseg.config import OptionError

    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OptionError(f"{path}: unsupported vector format {suffix!r}; use one of {', '.join(FORMATS)}")
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
    """A GeoDataFrame with the fiboa core and geometry-metrics columns.

    Args:
        geoms: the field polygons, one shapely geometry each.
        crs: their CRS (anything geopandas takes: an EPSG code, WKT, a pyproj or rasterio CRS).
        ids: one unique id per field (fiboa ``id``).
        area: field areas in m2 (``metrics:area``).
        perimeter: field perimeters in m (``metrics:perimeter``).
        collection: the fiboa ``collection`` every field belongs to.
        determined: time of the last image the polygons were determined from; None leaves
            ``determination:datetime`` out (fiboa defines it as the imagery time, never the run time).
        extra: more columns, name -> one value per field (floats are written as float32).

    Returns:
        A geopandas GeoDataFrame, one row per field, in ``crs``.
    """
    import geopandas as gpd
    import pandas as pd

    data: dict[str, Any] = {
        "id": np.asarray(ids, dtype=object),
        "collection": np.full(len(ids), collection, dtype=object),
        "metrics:area": np.asarray(area, dtype=np.float32),
        "metrics:perimeter": np.asarray(perimeter, dtype=np.float32),
        "determination:method": np.full(len(ids), "auto-imagery", dtype=object),
    }
    if determined is not None:
        when = determined if determined.tzinfo else determined.replace(tzinfo=dt.UTC)
        data["determination:datetime"] = pd.to_datetime([when.astimezone(dt.UTC)] * len(ids), utc=True)
    for k, v in (extra or {}).items():
        data[k] = np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else v
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(np.asarray(geoms, dtype=object), crs=crs), crs=crs)


def collection_metadata(df: Any, collection: str) -> dict[str, Any]:
    """The ``collection`` metadata object of a fields frame (Parquet metadata / GeoJSON top level)."""
    uris = [VECOREL_SCHEMA, FIBOA_SCHEMA]
    if any(c.startswith("metrics:") for c in df.columns):
        uris.append(METRICS_SCHEMA)
    meta: dict[str, Any] = {"schemas": {c: uris for c in sorted({collection, *df["collection"].unique()})}}
    custom = {k: v for k, v in extension_properties().items() if k in df.columns}
    if custom:
        meta["schemas:custom"] = {"properties": custom}
    for k in CONSTANT:
        if k in df and len(df) and df[k].nunique() == 1 and df[k].notna().all():
            v = df[k].iloc[0]
            meta[k] = v.strftime(TIME_FORMAT) if hasattr(v, "strftime") else v
    return meta


def _fiboa_types(table: Any) -> Any:
    """A GeoParquet table cast to fiboa's types: non-nullable string ids, float metrics, ms UTC times."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        t = f.type
        if f.name in ("id", "collection") or pa.types.is_large_string(t):
            t = pa.string()
        elif f.name in FLOAT_COLUMNS or (f.name in extension_properties() and pa.types.is_floating(t)):
            t = pa.float32()
        elif pa.types.is_timestamp(t):
            t = pa.timestamp("ms", tz="UTC")
        fields.append(pa.field(f.name, t, nullable=f.name not in REQUIRED, metadata=f.metadata))
    for name in REQUIRED:
        if table.column(name).null_count:
            raise ValueError(f"{name!r} has null values; fiboa requires it on every field")
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def write_fields(df: Any, path: str | Path, collection: str = "agriseg-fields") -> Path:
    """Write a fields frame atomically in the format of ``path``'s extension.

    GeoParquet is fiboa v0.3 (file-constant properties move into the ``collection`` metadata); GeoJSON is
    RFC 7946 (WGS 84) with the same collection metadata on the FeatureCollection; GeoPackage and
    FlatGeobuf keep the frame's CRS. Layers are named after the output file's stem.
    """
    import pyarrow.parquet as pq

    from agriseg.data.files import atomic_write, write_json

    path = Path(path)
    fmt = output_format(path)
    meta = collection_metadata(df, collection)
    if fmt == "geojson":
        # only collection-only members go on top; GIS tools read the rest from every feature
        top = {k: v for k, v in meta.items() if k.startswith("schemas")}
        write_json(path, geojson_object(df, top), indent=None)
        return path
    with atomic_write(path) as tmp:
        if fmt == "parquet":
            # a file without fields drops them too, so every file of a run has one schema
            out = df.drop(columns=[k for k in CONSTANT if k in meta or (k in df and not len(df))])
            out.attrs = {}
            # geopandas writes the GeoParquet 1.1 "geo" metadata; the table is then re-typed for fiboa
            out.to_parquet(tmp, index=False, schema_version="1.1.0", write_covering_bbox=False)
            table = _fiboa_types(pq.read_table(tmp))
            md = dict(table.schema.metadata or {})
            md.pop(b"pandas", None)
            md[b"collection"] = json.dumps(meta).encode()
            pq.write_table(table.replace_schema_metadata(md), tmp, compression="zstd")
        else:
            driver = {"gpkg": "GPKG", "fgb": "FlatGeobuf"}[fmt]
            # the time as a DateTime field (not text); one geometry type, also in a file without fields (it was
            # "Unknown"); GeoPackage 1.2, which GDAL 3.6 (QGIS 3.28) reads without a warning about 1.4
            kw = {"dataset_options": {"VERSION": "1.2"}} if fmt == "gpkg" else {}
            df.to_file(tmp, driver=driver, engine="pyogrio", layer=path.stem, use_arrow=True,
                       geometry_type="MultiPolygon", promote_to_multi=True, **kw)  # fmt: skip
    return path


def geojson_object(df: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """An RFC 7946 FeatureCollection (WGS 84) of a fields frame with Vecorel collection metadata on top."""
    from agriseg.vector.geojson import feature_collection

    props = df.drop(columns=["id", df.geometry.name, *[k for k in CONSTANT if k in meta]])
    if "determination:datetime" in props:
        props["determination:datetime"] = props["determination:datetime"].dt.strftime(TIME_FORMAT)
    for col in props.columns[props.dtypes == "float32"]:  # 3154.845, not 3154.8452148438 (float32 digits)
        props[col] = [None if v != v else float(str(np.float32(v))) for v in props[col]]
    records = json.loads(props.to_json(orient="records")) if len(props) else []
    return feature_collection(df.geometry.values, records, crs=df.crs, ids=list(df["id"]), members=meta)


def validate_fiboa(path: str | Path) -> list[str]:
    """Check a fiboa v0.3 GeoParquet or GeoJSON file; returns the problems found (empty = valid).

    GeoParquet: ``geo`` (GeoParquet 1.x) and ``collection`` metadata; ``schemas`` naming Vecorel v0.1.0
    and fiboa v0.3.0 (and geometry-metrics when ``metrics:*`` columns exist) for every collection id;
    ``id``/``collection`` non-nullable Arrow ``string`` (not ``large_string``) with unique, non-null ids;
    ``geometry`` non-nullable, Polygon/MultiPolygon; ``metrics:*`` Arrow ``float`` > 0; datetimes as UTC
    timestamps; every other column described by ``schemas:custom``; ``determination:method`` allowed.
    GeoJSON: a FeatureCollection with ``schemas``, no ``crs`` member, longitude/latitude coordinates,
    string feature ids and a listed ``collection`` in every feature.
    """
    path = Path(path)
    kind = output_format(path)
    if kind == "geojson":
        return _validate_geojson(path)
    if kind != "parquet":  # a GeoPackage or FlatGeobuf: no fiboa file (pyarrow's "magic bytes" error before)
        raise ValueError(f"{path}: fiboa files are GeoParquet (.parquet) or GeoJSON; a .{kind} is not validated")
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():  # pyarrow's "[Errno 2] Failed to open local file ... Detail: ..."
        raise FileNotFoundError(f"{path}: file not found")
    problems: list[str] = []
    schema = pq.read_schema(path)
    md = schema.metadata or {}
    if b"geo" not in md:
        problems.append("no 'geo' metadata (not GeoParquet)")
    elif not str(json.loads(md[b"geo"]).get("version", "")).startswith("1."):
        problems.append("'geo' metadata is not GeoParquet 1.x")
    if b"collection" not in md:
        return [*problems, "no 'collection' metadata"]
    coll = json.loads(md[b"collection"])
    for name in REQUIRED:
        if name not in schema.names:
            problems.append(f"required column {name!r} missing")
        elif schema.field(name).nullable:
            problems.append(f"{name!r} must be non-nullable in the Parquet schema")
    if any(p.startswith("required") for p in problems):
        return problems
    for name in ("id", "collection"):
        if not pa.types.is_string(schema.field(name).type):
            problems.append(f"{name!r} must be an Arrow string column, is {schema.field(name).type}")
    custom = coll.get("schemas:custom", {}).get("properties", {})
    for f in schema:
        if f.name not in CORE_COLUMNS and f.name not in custom:
            problems.append(f"{f.name!r} has no schema (not fiboa/Vecorel core and not in schemas:custom)")
        want_float = f.name in FLOAT_COLUMNS or custom.get(f.name, {}).get("type") == "float"
        if want_float and not pa.types.is_float32(f.type):
            problems.append(f"{f.name!r} must be Arrow float (float32), is {f.type}")
        if pa.types.is_timestamp(f.type) and f.type.tz != "UTC":
            problems.append(f"{f.name!r} must be a UTC timestamp, is {f.type}")
    import geopandas as gpd

    df = gpd.read_parquet(path)
    problems += _check_values(df, coll, custom)
    return problems


def _check_values(df: Any, coll: dict[str, Any], custom: dict[str, Any]) -> list[str]:
    """Value rules shared by both encodings."""
    problems: list[str] = []
    schemas = coll.get("schemas", {})
    if df["id"].isna().any() or df["id"].duplicated().any():
        problems.append("'id' has nulls or duplicates")
    for cid in df["collection"].unique():
        uris = schemas.get(cid) or []
        if FIBOA_SCHEMA not in uris or VECOREL_SCHEMA not in uris:
            problems.append(f"collection {cid!r} does not list {VECOREL_SCHEMA} and {FIBOA_SCHEMA} in its schemas")
        elif any(k.startswith("metrics:") for k in df.columns) and METRICS_SCHEMA not in uris:
            problems.append(f"collection {cid!r} uses metrics:* without {METRICS_SCHEMA}")
    if df.geometry.isna().any() or df.geometry.is_empty.any():
        problems.append("null or empty geometries")
    bad_types = set(df.geom_type.dropna().unique()) - {"Polygon", "MultiPolygon"}
    if bad_types:
        problems.append(f"geometry types {sorted(bad_types)} (fields must be polygons)")
    for col in FLOAT_COLUMNS:
        if col in df and not (np.isfinite(df[col]).all() and (df[col] > 0).all()):
            problems.append(f"{col!r} must be positive numbers")
    for col, spec in custom.items():
        if col in df and df[col].notna().any():
            v = df[col].dropna().astype(float)
            low = "minimum" in spec and (v < spec["minimum"]).any()
            if low or ("maximum" in spec and (v > spec["maximum"]).any()):
                problems.append(f"{col!r} outside [{spec.get('minimum')}, {spec.get('maximum')}]")
    methods = [coll["determination:method"]] if "determination:method" in coll else []
    if "determination:method" in df:
        methods = df["determination:method"].dropna().unique().tolist()
    for m in methods:
        if m not in METHODS:
            problems.append(f"determination:method {m!r} not in {list(METHODS)}")
    return problems


def _validate_geojson(path: Path) -> list[str]:
    import geopandas as gpd

    obj = json.loads(path.read_text(encoding="utf-8"))
    if obj.get("type") != "FeatureCollection":
        return ["not a GeoJSON FeatureCollection"]
    problems: list[str] = []
    if "crs" in obj:
        problems.append("has a 'crs' member (RFC 7946 GeoJSON is always WGS 84 longitude/latitude)")
    if "schemas" not in obj:
        problems.append("no 'schemas' member (Vecorel collection metadata)")
    feats = obj.get("features", [])
    if any(not isinstance(f.get("id"), str) or not f["id"] for f in feats):
        problems.append("every Feature needs a non-empty string 'id'")
    if any("collection" not in (f.get("properties") or {}) for f in feats):
        problems.append("every Feature needs properties.collection")
    if problems or not feats:
        return problems
    df = gpd.GeoDataFrame.from_features(feats)
    df["id"] = [f["id"] for f in feats]
    x0, y0, x1, y1 = df.total_bounds
    if x0 < -180 or x1 > 180 or y0 < -90 or y1 > 90:
        problems.append("coordinates are not longitude/latitude (RFC 7946 needs WGS 84)")
    custom = obj.get("schemas:custom", {}).get("properties", {})
    unknown = set(df.columns) - CORE_COLUMNS - set(custom) - {"geometry"}
    problems += [f"{c!r} has no schema (not fiboa/Vecorel core and not in schemas:custom)" for c in sorted(unknown)]
    return problems + _check_values(df, obj, custom)
