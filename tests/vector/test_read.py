"""Reading a user's vector file (agriseg.vector.read): one line naming the file for what cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

gpd = pytest.importorskip("geopandas")

from agriseg.cli import main  # noqa: E402
from agriseg.vector.read import read_vector, reproject  # noqa: E402

LOCAL_CRS = (  # an engineering CRS (a site grid): PROJ cannot transform it to any other
    'ENGCRS["site grid",EDATUM["site"],CS[Cartesian,2],AXIS["x",east,ORDER[1],LENGTHUNIT["metre",1]],'
    'AXIS["y",north,ORDER[2],LENGTHUNIT["metre",1]]]'
)


def _site_grid_file(path: Path) -> Path:
    from pyproj import CRS
    from shapely.geometry import box

    gpd.GeoDataFrame({"id": [1]}, geometry=[box(0, 0, 10, 10)], crs=CRS.from_wkt(LOCAL_CRS)).to_file(path)
    return path


def test_a_table_without_shapes_is_refused_naming_it(tmp_path: Path) -> None:
    """A CSV read as a plain DataFrame, then failed on ``.crs`` with an AttributeError (session 75's review)."""
    table = tmp_path / "areas.csv"
    table.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"areas\.csv: holds no geometry"):
        read_vector(table)
    args = ["fields", "download", "-o", str(tmp_path / "x.tif"), "--bbox", str(table),
            "--win-a-dates", "2023-01-01/2023-02-01", "--win-b-dates", "2023-06-01/2023-07-01"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "holds no geometry" in res.output and res.output.count("\n") == 1


def test_a_crs_proj_cannot_transform_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """A site-grid CRS raised pyproj's ProjError as a traceback (session 75's review)."""
    path = _site_grid_file(tmp_path / "site.gpkg")
    df = read_vector(path)
    with pytest.raises(ValueError, match=r"site\.gpkg: its CRS \(site grid\) cannot be transformed to EPSG:4326"):
        reproject(df, 4326, path, "EPSG:4326")
    args = ["fields", "download", "-o", str(tmp_path / "x.tif"), "--bbox", str(path),
            "--win-a-dates", "2023-01-01/2023-02-01", "--win-b-dates", "2023-06-01/2023-07-01"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "cannot be transformed" in res.output and "Traceback" not in res.output


def test_a_geometry_geos_cannot_build_is_said_in_one_line(tmp_path: Path) -> None:
    """A polygon ring of one point: GEOS's message ended in a newline, the error ran over two lines (session
    104's sweep)."""
    path = tmp_path / "bad.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
        '"geometry": {"type": "Polygon", "coordinates": [[[15.0, 48.0]]]}}]}',
        encoding="utf-8",
    )
    with pytest.raises(ValueError) as err:
        read_vector(path)
    assert str(err.value).startswith(f"{path}: not a readable vector file (") and "\n" not in str(err.value)


def test_a_column_of_mixed_types_is_read_without_a_library_warning(tmp_path: Path) -> None:
    """An areas file whose id column held a string and a number printed geopandas' "UserWarning: Could not parse
    column 'id' as JSON" with its source line (session 104's sweep)."""
    import warnings

    path = tmp_path / "areas.geojson"
    path.write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "properties": {"id": "west"}, "geometry": {"type": "Point", "coordinates": [15, 48]}},'
        '{"type": "Feature", "properties": {"id": 7}, "geometry": {"type": "Point", "coordinates": [15.1, 48]}}]}',
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_vector(path)
    assert list(df["id"].astype(str)) == ["west", "7"]
