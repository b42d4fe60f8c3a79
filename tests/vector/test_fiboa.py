"""fiboa v0.3 GeoParquet / GeoJSON output, GeoPackage / FlatGeobuf by extension, and the schema checks.

The schema-level facts are always checked here; the official validator (fiboa-cli, in its own virtual
environment) runs too when it is installed (``AGRISEG_FIBOA_PYTHON`` or ``.ci/fiboa-venv``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agriseg.vector import PolygonizeConfig, polygonize, validate_fiboa
from agriseg.vector.fiboa import FIBOA_SCHEMA, METRICS_SCHEMA, VECOREL_SCHEMA, output_format, write_fields
from tests.vector.synth_fields import field_layout, write_probs  # tests/vector/synth_fields.py

ROOT = Path(__file__).resolve().parents[2]
WHEN = dt.datetime(2024, 8, 3, 10, 5, tzinfo=dt.UTC)


@pytest.fixture()
def fields_df(tmp_path: Path) -> gpd.GeoDataFrame:
    cls, prob = field_layout(160, 180, seed=3)
    path = write_probs(tmp_path / "probs.tif", cls, prob)
    cfg = PolygonizeConfig(block_size=64, progress=False)
    return polygonize(path, None, cfg, collection="test-coll", determined=WHEN)


def test_geoparquet_is_fiboa_v03(fields_df: gpd.GeoDataFrame, tmp_path: Path) -> None:
    out = write_fields(fields_df, tmp_path / "f.parquet", "test-coll")
    assert validate_fiboa(out) == []
    schema = pq.read_schema(out)
    coll = json.loads(schema.metadata[b"collection"])
    assert coll["schemas"]["test-coll"] == [VECOREL_SCHEMA, FIBOA_SCHEMA, METRICS_SCHEMA]
    assert coll["determination:method"] == "auto-imagery"
    assert coll["determination:datetime"] == "2024-08-03T10:05:00Z"
    assert coll["schemas:custom"]["properties"]["agriseg:confidence"]["type"] == "float"
    geo = json.loads(schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["version"] == "1.1.0"
    # the facts fiboa-cli checks: non-nullable required columns, string (not large_string), float metrics
    for name in ("id", "collection", "geometry"):
        assert not schema.field(name).nullable, name
    assert schema.field("id").type == pa.string() and schema.field("collection").type == pa.string()
    for name in ("metrics:area", "metrics:perimeter", "agriseg:confidence"):
        assert schema.field(name).type == pa.float32(), name
    back = gpd.read_parquet(out)
    assert back["id"].is_unique and (back["collection"] == "test-coll").all()
    assert (back["metrics:area"] >= 500).all() and (back["metrics:perimeter"] > 0).all()
    assert back["agriseg:confidence"].between(0, 1).all()
    assert back.crs.to_epsg() == 32633 and len(back) == len(fields_df) > 20
    assert not list(tmp_path.glob(".*"))  # written atomically, no temporary left


def _legacy_parquet(df: gpd.GeoDataFrame, path: Path) -> Path:
    """What agriseg wrote before: pandas' types (nullable, large_string, double) with fiboa metadata."""
    out = df.drop(columns=["determination:method", "determination:datetime"])
    out.to_parquet(path, index=False, schema_version="1.1.0")
    table = pq.read_table(path)
    old = {"id": pa.large_string(), "collection": pa.large_string(), "metrics:area": pa.float64()}
    fields = [pa.field(f.name, old[f.name]) if f.name in old else f for f in table.schema]
    table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    meta = {"schemas": {"test-coll": [VECOREL_SCHEMA, FIBOA_SCHEMA, METRICS_SCHEMA]}}
    md = dict(table.schema.metadata)
    md[b"collection"] = json.dumps(meta).encode()
    pq.write_table(table.replace_schema_metadata(md), path)
    return path


def test_validator_reports_problems(fields_df: gpd.GeoDataFrame, tmp_path: Path) -> None:
    out = write_fields(fields_df, tmp_path / "f.parquet", "test-coll")
    table = pq.read_table(out)
    md = dict(table.schema.metadata)
    md[b"collection"] = json.dumps({"schemas": {"other": [FIBOA_SCHEMA]}}).encode()
    pq.write_table(table.replace_schema_metadata(md), tmp_path / "bad.parquet")
    problems = validate_fiboa(tmp_path / "bad.parquet")
    assert any("does not list" in p for p in problems)
    assert any("'agriseg:confidence' has no schema" in p for p in problems)
    dup = fields_df.copy()
    dup.loc[1, "id"] = dup.loc[0, "id"]
    write_fields(dup, tmp_path / "dup.parquet", "test-coll")
    assert any("duplicates" in p for p in validate_fiboa(tmp_path / "dup.parquet"))
    fields_df.drop(columns=["collection"]).to_parquet(tmp_path / "plain.parquet")
    assert "no 'collection' metadata" in validate_fiboa(tmp_path / "plain.parquet")
    legacy = validate_fiboa(_legacy_parquet(fields_df, tmp_path / "legacy.parquet"))
    for expected in (
        "'id' must be non-nullable",
        "'collection' must be non-nullable",
        "'geometry' must be non-nullable",
        "'id' must be an Arrow string column, is large_string",
        "'metrics:area' must be Arrow float (float32), is double",
        "'agriseg:confidence' has no schema",
    ):
        assert any(p.startswith(expected) for p in legacy), (expected, legacy)


def test_geojson_is_rfc7946_with_schemas(fields_df: gpd.GeoDataFrame, tmp_path: Path) -> None:
    out = write_fields(fields_df, tmp_path / "f.geojson", "test-coll")
    obj = json.loads(out.read_text())
    assert "crs" not in obj and obj["schemas"]["test-coll"][1] == FIBOA_SCHEMA
    feat = obj["features"][0]
    assert feat["properties"]["determination:datetime"] == "2024-08-03T10:05:00Z"
    assert isinstance(feat["id"], str) and feat["properties"]["collection"] == "test-coll"
    lon, lat = np.array(feat["geometry"]["coordinates"][0]).T
    assert 12 < lon.min() < lon.max() < 14 and 48 < lat.min() < lat.max() < 49  # WGS 84, Austria
    assert validate_fiboa(out) == []
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4326 and len(back) == len(fields_df)
    area = back.to_crs(32633).area.to_numpy()
    assert np.allclose(area, fields_df["metrics:area"], rtol=1e-3)
    obj["crs"] = {"type": "name", "properties": {"name": "EPSG:32633"}}
    del obj["schemas"]
    (tmp_path / "old.geojson").write_text(json.dumps(obj))
    problems = validate_fiboa(tmp_path / "old.geojson")
    assert any("'crs' member" in p for p in problems) and any("'schemas'" in p for p in problems)


@pytest.mark.parametrize("ext,driver", [(".gpkg", "GPKG"), (".fgb", "FlatGeobuf"), (".geojson", "GeoJSON")])
def test_other_formats_by_extension(fields_df: gpd.GeoDataFrame, tmp_path: Path, ext: str, driver: str) -> None:
    import pyogrio

    out = write_fields(fields_df, tmp_path / f"my_fields{ext}")
    assert pyogrio.read_info(out)["driver"] == driver
    if ext != ".geojson":
        assert [str(n) for n in pyogrio.list_layers(out)[:, 0]] == ["my_fields"]  # not the temporary name
    back = gpd.read_file(out)
    assert len(back) == len(fields_df) and {"id", "metrics:area", "determination:method"} <= set(back.columns)
    assert (back["determination:datetime"].astype(str).str[:19].str.replace(" ", "T") == "2024-08-03T10:05:00").all()


def test_datetime_comes_from_the_image_tags_or_is_left_out(tmp_path: Path) -> None:
    import rasterio

    cls, prob = field_layout(96, 96, seed=1)
    path = write_probs(tmp_path / "probs.tif", cls, prob)
    cfg = PolygonizeConfig(block_size=64, progress=False)
    untagged = polygonize(path, tmp_path / "a.parquet", cfg)
    assert "determination:datetime" not in untagged  # never the run time
    assert "determination:datetime" not in json.loads(pq.read_schema(tmp_path / "a.parquet").metadata[b"collection"])
    assert validate_fiboa(tmp_path / "a.parquet") == []
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(WIN_A_DATETIME="2024-04-20T10:00:00Z", WIN_B_DATETIME="2024-07-30T09:56:01+00:00")
    tagged = polygonize(path, None, cfg)
    assert (tagged["determination:datetime"] == dt.datetime(2024, 7, 30, 9, 56, 1, tzinfo=dt.UTC)).all()
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(WIN_B_DATETIME="July")
    with pytest.raises(ValueError, match=r"probs\.tif: tag WIN_B_DATETIME: 'July' is not an ISO 8601"):
        polygonize(path, None, cfg)


def test_unsupported_extension_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"f\.shp: unsupported vector format '\.shp'"):
        output_format(tmp_path / "f.shp")


def fiboa_python() -> Path | None:
    """The Python of a virtual environment holding fiboa-cli 0.21 (its pins clash with the project's)."""
    for cand in (os.environ.get("AGRISEG_FIBOA_PYTHON"), ROOT / ".ci" / "fiboa-venv" / "bin" / "python"):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def test_a_file_without_fields_has_the_schema_of_one_with_fields(fields_df: gpd.GeoDataFrame, tmp_path: Path) -> None:
    """An empty scene's GeoParquet kept determination:method as a column, which the others hold in their
    metadata: one run's files had two schemas (session 62's sweep)."""
    full = pq.read_schema(write_fields(fields_df, tmp_path / "f.parquet", "test-coll"))
    empty = pq.read_schema(write_fields(fields_df.iloc[:0], tmp_path / "e.parquet", "test-coll"))
    assert empty.names == full.names and "determination:method" not in empty.names
    assert validate_fiboa(tmp_path / "e.parquet") == []


def test_official_fiboa_validator(fields_df: gpd.GeoDataFrame, tmp_path: Path) -> None:
    """``fiboa validate`` (fiboa-cli 0.21) against the schema copies in tests/vector/schemas, offline."""
    py = fiboa_python()
    if py is None:
        pytest.skip("fiboa-cli not installed: set AGRISEG_FIBOA_PYTHON or create .ci/fiboa-venv (see .ci/run)")
    files = [write_fields(fields_df, tmp_path / f"f{ext}", "test-coll") for ext in (".parquet", ".geojson")]
    files.append(write_fields(fields_df.iloc[:0], tmp_path / "empty.parquet", "test-coll"))  # a scene of no field
    script = Path(__file__).with_name("fiboa_validate.py")
    proc = subprocess.run([str(py), str(script), *map(str, files)], capture_output=True, text=True, timeout=300)
    text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # no colour codes
    assert proc.returncode == 0, text[-3000:]
    assert text.count(": VALID") == 3, text[-3000:]
    # and the validator does fail on what agriseg used to write
    legacy = _legacy_parquet(fields_df, tmp_path / "legacy.parquet")
    proc = subprocess.run([str(py), str(script), str(legacy)], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Nullability differs" in proc.stdout + proc.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def test_geojson_has_7_decimals_and_float32_values_without_false_digits(
    fields_df: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    """Coordinates had 15 decimals (RFC 7946 section 11.2: about 6 are enough), and float32 values gained
    digits (3154.8452148438); shared vertices must stay shared after rounding."""
    import shapely

    obj = json.loads(write_fields(fields_df, tmp_path / "f.geojson", "test-coll").read_text())
    coords = np.concatenate([np.array(f["geometry"]["coordinates"][0]) for f in obj["features"]])
    assert np.array_equal(coords, np.round(coords, 7))
    back = gpd.read_file(tmp_path / "f.geojson")
    assert shapely.coverage_is_valid(back.geometry.values) and back.is_valid.all()
    conf = [f["properties"]["agriseg:confidence"] for f in obj["features"]]
    assert all(len(repr(c)) <= 12 for c in conf), conf[:3]  # float32's own digits, not float64's


@pytest.mark.parametrize("ext", [".gpkg", ".fgb"])
def test_gis_formats_type_their_time_and_geometry(fields_df: gpd.GeoDataFrame, tmp_path: Path, ext: str) -> None:
    """GeoPackage / FlatGeobuf wrote the time as text and, without fields, the geometry type "Unknown"; the
    GeoPackage was version 1.4, which GDAL 3.6 (QGIS 3.28) warns about."""
    import pyogrio

    for name, df in (("f", fields_df), ("e", fields_df.iloc[:0])):
        out = write_fields(df, tmp_path / f"{name}{ext}", "test-coll")
        info = pyogrio.read_info(out)
        assert info["geometry_type"] == "MultiPolygon", (name, info)
        assert dict(zip(info["fields"], info["dtypes"], strict=True))["determination:datetime"].startswith("datetime64")
    if ext == ".gpkg":
        import sqlite3

        with sqlite3.connect(tmp_path / "f.gpkg") as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    assert gpd.read_file(tmp_path / f"f{ext}")["determination:datetime"].iloc[0] == WHEN


def _one_field(area: float, perimeter: float) -> gpd.GeoDataFrame:
    """A fields frame of one 50 x 60 m field in EPSG:32633 with the given metrics."""
    from shapely.geometry import box

    from agriseg.vector.fiboa import fields_frame

    geom = np.array([box(359130.0, 5352280.0, 359180.0, 5352340.0)], object)
    return fields_frame(geom, "EPSG:32633", ["f-0-0"], np.array([area]), np.array([perimeter]), "test-coll", WHEN)


def test_geojson_areas_are_float32_values_without_false_digits(tmp_path: Path) -> None:
    """An area of 3154.845 m2 (float32) was written as 3154.8450927734 in GeoJSON."""
    obj = json.loads(write_fields(_one_field(3154.845, 220.5), tmp_path / "f.geojson", "test-coll").read_text())
    props = obj["features"][0]["properties"]
    assert props["metrics:area"] == 3154.845 and props["metrics:perimeter"] == 220.5


def test_validator_refuses_zero_area_and_perimeter(tmp_path: Path) -> None:
    """geometry-metrics needs areas and perimeters above 0: a field of area 0 passed as valid."""
    problems = validate_fiboa(write_fields(_one_field(0.0, 0.0), tmp_path / "z.parquet", "test-coll"))
    assert "'metrics:area' must be positive numbers" in problems
    assert "'metrics:perimeter' must be positive numbers" in problems
    assert validate_fiboa(write_fields(_one_field(3000.0, 220.0), tmp_path / "f.parquet", "test-coll")) == []


def test_an_instance_raster_without_fields_has_the_schema_of_one_with_fields(tmp_path: Path) -> None:
    """A 2-band instance raster (ids, confidence) without any field lost the agriseg:confidence column."""
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.vector import polygonize_labels

    def instances(name: str, with_field: bool) -> Path:
        lab = np.zeros((20, 20), np.uint16)
        if with_field:
            lab[2:15, 3:16] = 7
        path = tmp_path / name
        tf = from_origin(359130.0, 5352340.0, 10.0, 10.0)
        with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=2, dtype="uint16",
                           crs="EPSG:32633", transform=tf) as dst:  # fmt: skip
            dst.write(np.stack([lab, np.where(lab > 0, 200, 0).astype(np.uint16)]))
        return path

    cfg = PolygonizeConfig(progress=False)
    full = polygonize_labels(instances("full.tif", True), None, cfg)
    empty = polygonize_labels(instances("empty.tif", False), None, cfg)
    assert len(full) == 1 and len(empty) == 0
    assert empty.columns.tolist() == full.columns.tolist() and "agriseg:confidence" in empty.columns


@pytest.mark.parametrize("bands", [1, 2, 3])
def test_a_class_raster_has_one_schema_with_fields_or_without(tmp_path: Path, bands: int) -> None:
    """A 2-band class raster (class, background probability) has no field probability: its polygons had no
    confidence column, but the same raster without a field had one."""
    import rasterio
    from rasterio.transform import from_origin

    from agriseg.vector import polygonize

    def raster(name: str, with_field: bool) -> Path:
        cls = np.zeros((20, 30), np.uint8)
        if with_field:
            cls[3:12, 4:20] = 1
        field = np.where(cls == 1, 200, 5).astype(np.uint8)
        path = tmp_path / name
        tf = from_origin(359130.0, 5352340.0, 10.0, 10.0)
        with rasterio.open(path, "w", driver="GTiff", width=30, height=20, count=bands, dtype="uint8",
                           crs="EPSG:32633", transform=tf) as dst:  # fmt: skip
            dst.write(np.stack([cls, 255 - field, field][:bands]))
        return path

    cfg = PolygonizeConfig(progress=False, separation="components")
    full = polygonize(raster("full.tif", True), None, cfg)
    empty = polygonize(raster("empty.tif", False), None, cfg)
    assert len(full) == 1 and len(empty) == 0
    assert empty.columns.tolist() == full.columns.tolist()
    assert ("agriseg:confidence" in full.columns) == (bands == 3)


def test_only_fiboa_formats_are_validated(tmp_path) -> None:
    """Session 85's API sweep: validate_fiboa("x.gpkg") was pyarrow's "Parquet magic bytes not found"."""
    import pytest

    from agriseg.vector import validate_fiboa

    (tmp_path / "x.gpkg").write_bytes(b"SQLite format 3\x00")
    with pytest.raises(ValueError, match=r"x.gpkg: fiboa files are GeoParquet \(.parquet\) or GeoJSON"):
        validate_fiboa(tmp_path / "x.gpkg")
    # pyarrow's "[Errno 2] Failed to open local file ... Detail: ..." (session 103's API sweep)
    with pytest.raises(FileNotFoundError, match=r"nope.parquet: file not found$"):
        validate_fiboa(tmp_path / "nope.parquet")
