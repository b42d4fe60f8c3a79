"""Plot statistics streamed in windows equal a direct computation on the whole mosaic."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from agriseg.batch import BatchOptions
from agriseg.crop.config import PlotsConfig
from agriseg.crop.traits.growth import mosaic_date, run_plots
from agriseg.crop.traits.inputs import Segmentation
from agriseg.crop.traits.orthomosaic import plot_stats, read_plots

PIXEL = 0.05
X0, Y0 = 600_000.0, 5_000_000.0


def _mosaic(path: Path, seed: int = 0, shape: tuple[int, int] = (150, 170), nodata: bool = False) -> np.ndarray:
    import rasterio
    from rasterio.transform import from_origin
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    veg = ndimage.gaussian_filter(rng.random(shape), 2.0) > 0.52  # blobs of all sizes, many crossing windows
    band = veg.astype(np.uint8) * 255
    if nodata:
        band[:10, :] = 7  # a nodata strip
    profile = dict(
        driver="GTiff",
        height=shape[0],
        width=shape[1],
        count=1,
        dtype="uint8",
        crs="EPSG:32632",
        transform=from_origin(X0, Y0, PIXEL, PIXEL),
        nodata=7 if nodata else None,
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(band, 1)
    return band


def _plots(path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import Polygon, box

    def px(c0: float, r0: float, c1: float, r1: float):
        return box(X0 + c0 * PIXEL, Y0 - r1 * PIXEL, X0 + c1 * PIXEL, Y0 - r0 * PIXEL)

    geoms = {
        "a": px(5, 5, 60, 70),  # crosses the window border at 64
        "b": px(60, 60, 140, 130),  # crosses two borders
        "c": px(100, 2, 168, 50),
        "d": Polygon(
            [
                (X0 + 70 * PIXEL, Y0 - 140 * PIXEL),
                (X0 + 120 * PIXEL, Y0 - 100 * PIXEL),
                (X0 + 160 * PIXEL, Y0 - 148 * PIXEL),
            ]
        ),  # a triangle
        "partly_out": px(150, 100, 200, 160),
        "outside": px(300, 300, 320, 320),
        "tiny": px(10.1, 140.1, 10.3, 140.3),  # holds no pixel centre
    }
    gpd.GeoDataFrame({"name": list(geoms)}, geometry=list(geoms.values()), crs="EPSG:32632").to_crs(
        "EPSG:4326"
    ).to_file(path)


def _direct(mosaic: Path, plots_file: Path, min_size: int) -> dict[str, tuple[int, int, int]]:
    """(pixels, green pixels, plants) per plot from the whole mosaic in memory, each plot on its own area."""
    import rasterio
    from rasterio import features
    from skimage import measure

    with rasterio.open(mosaic) as ds:
        band, tf, crs, nodata = ds.read(1), ds.transform, ds.crs, ds.nodata
    plots = read_plots(plots_file, crs, "name")
    veg = (band > 0) & (band != (nodata if nodata is not None else -1))
    out = {}
    for name, geom in zip(plots["plot_id"], plots.geometry, strict=True):
        inside = features.rasterize([(geom, 1)], out_shape=band.shape, transform=tf, fill=0, dtype="uint8") > 0
        if nodata is not None:
            inside &= band != nodata
        lab = measure.label(inside & veg, connectivity=2, background=0)
        sizes = np.bincount(lab.ravel())[1:]
        out[name] = (int(inside.sum()), int((inside & veg).sum()), int((sizes >= min_size).sum()))
    return out


@pytest.mark.parametrize("window", [64, 100, 4096])
@pytest.mark.parametrize("nodata", [False, True])
def test_streamed_equals_direct(tmp_path: Path, window: int, nodata: bool) -> None:
    mosaic, plots = tmp_path / "m.tif", tmp_path / "plots.gpkg"
    _mosaic(mosaic, nodata=nodata)
    _plots(plots)
    cfg = PlotsConfig(plots=str(plots), plot_id="name", window=window, min_plant_size=5)
    got = plot_stats(mosaic, cfg).set_index("plot_id")
    want = _direct(mosaic, plots, 5)
    for name, (n, g, k) in want.items():
        row = got.loc[name]
        assert int(row["pixels"]) == n, name
        if n:
            assert int(row["plant_count"]) == k and row["green_fraction"] == pytest.approx(g / n)
        else:  # no data, no count (a 0 pulled a spreadsheet's mean down: session 72's sweep)
            assert row["plant_count"] is pd.NA, name
    assert want["a"][2] > 3 and want["b"][2] > 3  # the check has plants to count
    assert got.loc["outside", "status"] == "outside mosaic" and got.loc["outside", "pixels"] == 0
    assert got.loc["tiny", "status"] == "empty" and np.isnan(got.loc["tiny", "green_fraction"])
    # a plot half outside the mosaic was "ok" (session 72's sweep): its numbers are of the part covered
    assert got.loc["partly_out", "status"] == "partly outside" and got.loc["partly_out", "pixels"] == 20 * 50
    assert got.loc["partly_out", "coverage"] == pytest.approx(
        (20 * 50) / (50 * 60), abs=0.001
    )  # 20 of 50 columns, 50 of 60 rows
    if nodata:  # rows 5-9 of plot a (rows 5-69) under the nodata strip
        assert got.loc["a", "status"] == "partly outside" and got.loc["a", "coverage"] == pytest.approx(
            60 / 65, abs=1e-4
        )
    else:
        assert got.loc["a", "status"] == "ok" and got.loc["a", "coverage"] == 1.0


def _dated_mosaics(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A plots file and two mosaics of it, dated 2024-06-20 and 2024-06-01 in their names."""
    plots = tmp_path / "plots.gpkg"
    _plots(plots)
    m1, m2 = tmp_path / "f_2024-06-20.tif", tmp_path / "f_20240601.tif"
    _mosaic(m1, seed=1)
    _mosaic(m2, seed=2)
    return plots, m1, m2


def test_growth_and_errors(tmp_path: Path) -> None:
    plots, m1, m2 = _dated_mosaics(tmp_path)
    bad = tmp_path / "f_2024-07-01.tif"
    bad.write_bytes(b"nope")
    out = tmp_path / "out"
    cfg = PlotsConfig(plots=str(plots), plot_id="name", window=64)
    recs = run_plots([m1, bad, m2], out, cfg, batch=BatchOptions(progress=False))
    assert [r["status"] for r in recs] == ["ok", "error", "ok"]
    assert recs[1]["error"].startswith(str(bad))
    with (out / "growth.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["date"] for r in rows if r["plot_id"] == "a"] == ["2024-06-01", "2024-06-20"]  # in date order
    assert len(rows) == 2 * 7
    assert Image.open(out / "growth.png").size[0] > 100
    assert (out / "f_2024-06-20_plots.gpkg").is_file()
    import geopandas as gpd

    g = gpd.read_file(out / "f_2024-06-20_plots.gpkg")
    assert len(g) == 7 and g.crs.to_epsg() == 32632  # in the mosaic's CRS
    again = run_plots([m1, m2], out, cfg, batch=BatchOptions(progress=False))
    assert [r["status"] for r in again] == ["skipped", "skipped"]
    for table in out.glob("*.csv"):  # plots outside a mosaic or empty: empty cells, never "nan"
        assert "nan" not in table.read_text().lower(), table
        # 6 significant digits, no float noise (0.05 m pixels gave area_m2 0.48000000000000004)
        cells = [c for line in table.read_text().splitlines()[1:] for c in line.split(",")]
        noisy = [
            c for c in cells if re.fullmatch(r"-?\d+\.\d+", c) and len(c.lstrip("-").replace(".", "").lstrip("0")) > 6
        ]
        assert not noisy, (table, noisy[:3])
    assert all(len(repr(v).replace(".", "").lstrip("0")) <= 7 for v in g["area_m2"] if v == v)  # the GeoPackage too


def test_plots_keep_a_users_growth_table_and_refuse_a_missing_mosaic(tmp_path: Path) -> None:
    plots, m1, m2 = _dated_mosaics(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "growth.csv").write_text("MINE\n")
    cfg = PlotsConfig(plots=str(plots), plot_id="name", window=64)
    with pytest.raises(FileExistsError, match="growth.csv: exists and was not written by agriseg"):
        run_plots([m1, m2], out, cfg, batch=BatchOptions(progress=False))
    assert (out / "growth.csv").read_text() == "MINE\n"
    with pytest.raises(FileNotFoundError, match=r"f_2024-07-01\.tif: mosaic or photo not found"):
        run_plots([m1, tmp_path / "f_2024-07-01.tif"], tmp_path / "o2", cfg, batch=BatchOptions(progress=False))


@pytest.mark.filterwarnings("ignore:.crs. was not provided:UserWarning")  # the test writes plots without a CRS
def test_plots_file_errors(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    mosaic = tmp_path / "m.tif"
    _mosaic(mosaic)
    nocrs = tmp_path / "nocrs.gpkg"
    gpd.GeoDataFrame({"id": [1]}, geometry=[box(0, 0, 1, 1)]).to_file(nocrs)
    with pytest.raises(ValueError, match=r"nocrs\.gpkg: has no CRS"):
        plot_stats(mosaic, PlotsConfig(plots=str(nocrs)))
    dup = tmp_path / "dup.gpkg"
    gpd.GeoDataFrame({"id": [1, 1]}, geometry=[box(0, 0, 1, 1)] * 2, crs="EPSG:32632").to_file(dup)
    with pytest.raises(ValueError, match="not unique"):
        plot_stats(mosaic, PlotsConfig(plots=str(dup), plot_id="id"))
    with pytest.raises(ValueError, match="no column 'plot'"):
        plot_stats(mosaic, PlotsConfig(plots=str(dup), plot_id="plot"))
    # a table whose shapes were not saved was "none of the 2 plots has data in this mosaic", exit 1 (session 101)
    shapeless = tmp_path / "shapeless.geojson"
    shapeless.write_text('{"type": "FeatureCollection", "features": [' + ", ".join(
        f'{{"type": "Feature", "properties": {{"id": {i}}}, "geometry": null}}' for i in (1, 2)) + "]}")  # fmt: skip
    with pytest.raises(ValueError, match=r"shapeless\.geojson: none of its 2 plots has a geometry"):
        plot_stats(mosaic, PlotsConfig(plots=str(shapeless)))
    one = tmp_path / "one.geojson"  # "its one plot has a geometry (null or empty)" said the opposite (session 102)
    one.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"id": 1}, '
                   '"geometry": null}]}')  # fmt: skip
    with pytest.raises(ValueError, match=r"one\.geojson: its one plot has no geometry \(null or empty\)"):
        plot_stats(mosaic, PlotsConfig(plots=str(one)))
    # metres of UTM in a GeoJSON without "crs" (read as lon / lat): "none of the plots overlaps", exit 1 per mosaic
    utm = tmp_path / "utm.geojson"
    gpd.GeoDataFrame({"id": [1]}, geometry=[box(500000, 5000000, 500010, 5000010)]).to_file(utm)
    with pytest.raises(ValueError, match=r"utm\.geojson: its coordinates \(up to 5000010\) are no longitude"):
        plot_stats(mosaic, PlotsConfig(plots=str(utm)))
    assert mosaic_date(Path("x_20240601.tif"), None) == "2024-06-01"
    assert mosaic_date(Path("x.tif"), None) is None


def test_rgb_mosaic_segmented_per_window(tmp_path: Path) -> None:
    import rasterio

    mosaic, plots = tmp_path / "m.tif", tmp_path / "plots.gpkg"
    band = _mosaic(mosaic)
    _plots(plots)
    rgb = tmp_path / "rgb.tif"
    with rasterio.open(mosaic) as src:
        profile = {**src.profile, "count": 4, "nodata": None}
    data = np.stack([band // 4, band, band // 3, np.full_like(band, 255)])  # green where vegetation
    data[3, :, :20] = 0  # transparent strip: not counted
    with rasterio.open(rgb, "w", **profile) as ds:
        ds.write(data)
    seen = []

    def segment(image: np.ndarray) -> Segmentation:  # a stand-in for the model
        seen.append(image.shape)
        return Segmentation((image[..., 1] > 128).astype(np.uint8), False)

    cfg = PlotsConfig(plots=str(plots), plot_id="name", window=64, margin=8, min_plant_size=5)
    got = plot_stats(rgb, cfg, segment).set_index("plot_id")
    band[:, :20] = 7  # the same pixels as nodata in a mask mosaic
    with rasterio.open(mosaic, "r+") as ds:
        ds.nodata = 7
        ds.write(band, 1)
    want = plot_stats(mosaic, cfg).set_index("plot_id")
    assert got["pixels"].tolist() == want["pixels"].tolist()
    assert got["plant_count"].fillna(-1).tolist() == want["plant_count"].fillna(-1).tolist()
    assert max(s[0] for s in seen) == 64 + 8  # edge windows: 64 rows and a margin on one side
    # without a segmenter, the config's model segments it (it said "an RGB mosaic needs a model" though the docs
    # call plot_stats(mosaic, PlotsConfig(plots=...))); a dict of the config's fields is taken (session 103)
    own = plot_stats(rgb, {"plots": str(plots), "plot_id": "name", "window": 64, "min_plant_size": 5})
    assert own["status"].tolist() == got["status"].tolist() and own["pixels"].tolist() == got["pixels"].tolist()


def test_each_window_with_plots_is_segmented_once_and_others_not_at_all(tmp_path: Path) -> None:
    """A 12,000 px mosaic of a few plots was segmented window by window, the empty ones too (4 min where 52 s
    do), and once more for each layer of overlapping plots (session 100's sweep)."""
    import geopandas as gpd
    import rasterio
    from shapely.geometry import box

    mosaic, plots = tmp_path / "m.tif", tmp_path / "plots.gpkg"
    band = _mosaic(mosaic)  # 150 x 170 px: 3 x 3 windows of 64 px
    rgb = tmp_path / "rgb.tif"
    with rasterio.open(mosaic) as src:
        profile = {**src.profile, "count": 3, "nodata": None}
    with rasterio.open(rgb, "w", **profile) as ds:
        ds.write(np.stack([band // 4, band, band // 3]))
    corner = box(X0 + 2 * PIXEL, Y0 - 30 * PIXEL, X0 + 30 * PIXEL, Y0 - 2 * PIXEL)  # the first window only
    gpd.GeoDataFrame({"name": ["outer", "inner"]}, geometry=[corner, corner.buffer(-5 * PIXEL)],
                     crs="EPSG:32632").to_file(plots)  # fmt: skip
    seen = []

    def segment(image: np.ndarray) -> Segmentation:
        seen.append(image.shape)
        return Segmentation((image[..., 1] > 128).astype(np.uint8), False)

    cfg = PlotsConfig(plots=str(plots), plot_id="name", window=64, min_plant_size=5)
    got = plot_stats(rgb, cfg, segment).set_index("plot_id")
    assert len(seen) == 1 and (got["status"] == "ok").all()
    want = plot_stats(mosaic, cfg).set_index("plot_id")  # the mask mosaic: the same numbers
    assert got["green_fraction"].tolist() == want["green_fraction"].tolist()


@pytest.mark.parametrize("inner_first", [False, True])
def test_nested_plots_are_each_measured_on_their_full_area(tmp_path: Path, inner_first: bool) -> None:
    """A plot nested in another: the outer plot keeps the inner plot's pixels (and plants) too."""
    import geopandas as gpd
    from shapely.geometry import box

    mosaic, plots = tmp_path / "m.tif", tmp_path / "plots.gpkg"
    band = _mosaic(mosaic)
    outer = box(X0 + 10 * PIXEL, Y0 - 140 * PIXEL, X0 + 150 * PIXEL, Y0 - 10 * PIXEL)  # cols 10-150, rows 10-140
    inner = box(X0 + 40 * PIXEL, Y0 - 110 * PIXEL, X0 + 120 * PIXEL, Y0 - 40 * PIXEL)  # cols 40-120, rows 40-110
    names, geoms = (["inner", "outer"], [inner, outer]) if inner_first else (["outer", "inner"], [outer, inner])
    gpd.GeoDataFrame({"name": names}, geometry=geoms, crs="EPSG:32632").to_file(plots)
    cfg = PlotsConfig(plots=str(plots), plot_id="name", window=64, min_plant_size=5)
    got = plot_stats(mosaic, cfg).set_index("plot_id")
    assert int(got.loc["outer", "pixels"]) == 140 * 130 and int(got.loc["inner", "pixels"]) == 80 * 70
    assert got.loc["outer", "area_m2"] == pytest.approx(140 * 130 * PIXEL**2)
    assert got.loc["outer", "green_fraction"] == pytest.approx((band[10:140, 10:150] > 0).mean())
    assert got.loc["inner", "green_fraction"] == pytest.approx((band[40:110, 40:120] > 0).mean())
    want = _direct(mosaic, plots, 5)
    assert (
        int(got.loc["outer", "plant_count"])
        == want["outer"][2]
        > want["inner"][2]
        == int(got.loc["inner", "plant_count"])
    )
    assert (got["status"] == "ok").all()


def test_plots_all_outside_the_mosaic_fail_that_mosaic(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    mosaic, plots = tmp_path / "m.tif", tmp_path / "far.gpkg"
    _mosaic(mosaic)
    far = box(X0 + 5000, Y0 + 5000, X0 + 5010, Y0 + 5010)
    gpd.GeoDataFrame({"name": ["x", "y"]}, geometry=[far, far.buffer(1)], crs="EPSG:32632").to_file(plots)
    recs = run_plots(
        [mosaic], tmp_path / "out", PlotsConfig(plots=str(plots), plot_id="name"), batch=BatchOptions(progress=False)
    )
    assert recs.exit_code == 1 and recs[0]["status"] == "error"
    assert recs[0]["error"].startswith(f"{mosaic}: none of the 2 plots of {plots} overlaps this mosaic")


@pytest.mark.parametrize("regions", [2, 20])  # one labelled chart; small multiples
@pytest.mark.parametrize("sure", [0.9, 0.2])
def test_growth_chart_rings_the_values_the_model_was_unsure_of(tmp_path: Path, sure: float, regions: int) -> None:
    pytest.importorskip("matplotlib")
    from agriseg.crop.traits.growth import write_growth

    ids = range(1, regions + 1)
    dated = [
        (d, f"tray_{d}.jpg", [{"id": str(k), "plant_area": 100.0 * (i + 1) + k, "model_sure": sure} for k in ids])
        for i, d in enumerate(["2024-06-01", "2024-06-08"])
    ]
    write_growth(dated, tmp_path)
    rgb = np.asarray(Image.open(tmp_path / "growth.png").convert("RGB")).astype(int)
    magenta = ((rgb[..., 0] > 200) & (rgb[..., 1] < 80) & (rgb[..., 2] > 200)).sum()
    assert (magenta > 20) == (sure < 0.5)  # ringed only where the model was unsure


@pytest.mark.parametrize("regions", [2, 20])  # one labelled chart; small multiples
def test_growth_chart_spaces_photos_by_time_and_leaves_undated_ones_out(
    tmp_path: Path, regions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """x is days since the first date (1, 8, 22 June: 0, 7, 21, not evenly 0, 1, 2); an undated photo is not
    joined to the line as its last point; a region empty on every date is titled so."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from agriseg.crop.traits.growth import write_growth

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    dated = [
        (d, f"tray_{d or 'start'}.jpg",
         [{"id": str(k), "plant_area": 0.0 if k == 2 else 100.0 * (i + 1), "status": "empty" if k == 2 else "ok"}
          for k in range(1, regions + 1)])
        for i, d in enumerate(["2024-06-01", "2024-06-08", "2024-06-22", None])
    ]  # fmt: skip
    write_growth(dated, tmp_path)
    (fig,) = figures
    assert list(fig.axes[0].lines[0].get_xdata()) == [0.0, 7.0, 21.0]
    names = [t.get_text() for t in fig.axes[0].get_legend().get_texts()] if regions == 2 else []
    names += [ax.get_title() for ax in fig.axes[:regions]] if regions > 2 else []
    assert "2 (empty)" in names and "1" in names
    title = fig.axes[0].get_title() if regions == 2 else fig.get_suptitle()
    title = " ".join(title.split())  # wrapped to the figure's width
    assert "dates 2024-06-01 .. 2024-06-22" in title and "1 undated photo in the tables only" in title


def test_a_mask_whose_nodata_is_0_reads_0_as_background(tmp_path: Path) -> None:
    """GDAL and QGIS tools often write a 0/1 mask with nodata 0: every background pixel was dropped as nodata,
    so every plot read 100 % green, with no warning."""
    import rasterio

    _mosaic(tmp_path / "plain.tif")
    _mosaic(tmp_path / "nd0.tif")
    with rasterio.open(tmp_path / "nd0.tif", "r+") as ds:
        ds.nodata = 0
    _plots(tmp_path / "plots.gpkg")
    cfg = PlotsConfig(plots=str(tmp_path / "plots.gpkg"), plot_id="name", window=64)
    said: list[str] = []
    got = plot_stats(tmp_path / "nd0.tif", cfg, warnings=said).set_index("plot_id")
    want = plot_stats(tmp_path / "plain.tif", cfg).set_index("plot_id")
    assert got["pixels"]["a"] > 3000 and 0.1 < want["green_fraction"]["a"] < 0.9
    assert got.drop(columns="geometry").equals(want.drop(columns="geometry"))
    nodata_said = [w for w in said if "declares nodata" in w]
    assert len(nodata_said) == 1 and "declares nodata 0, which is also the mask's background" in nodata_said[0]


class _FakePredictor:
    """Records the working size each window is segmented at (a stand-in for the model's predictor)."""

    num_classes = 2

    def __init__(self, long_side: int) -> None:
        self.long_side, self.seen = long_side, []

    def segment(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.seen.append((max(rgb.shape[:2]), self.long_side))
        return (rgb[..., 1] > 128).astype(np.uint8), np.ones(rgb.shape[:2], bool)


@pytest.mark.parametrize(("side", "want"), [(3000, "own"), (400, "photo"), (1600, "photo")])
def test_every_window_of_a_mosaic_is_segmented_at_one_scale(side: int, want: str) -> None:
    """Each window was brought to the model's working size (800 px): windows of 2,176 px ran 2.7 times smaller,
    the edge strip larger, so a mosaic's numbers moved with --window (session 71's sweep: an empty pot got a
    plant at --window 128). Larger mosaics run at their own resolution; small ones as a photo of their size."""
    from agriseg.crop.traits.inputs import ModelSegmenter

    seg = ModelSegmenter("default")
    seg.predictor = _FakePredictor(800)
    windows = seg.for_mosaic(side // 2, side)
    for w in (2176, 192, 1000):
        windows(np.zeros((min(w, 300), w, 3), np.uint8))
    if want == "own":
        assert all(long_side == 0 for _, long_side in seg.predictor.seen)
    else:  # every window by the photo's factor, as crop traits brings the 400 (1,600) px photo to 800
        assert [long_side for _, long_side in seg.predictor.seen] == [round(w * 800 / side) for w in (2176, 192, 1000)]
    assert seg.predictor.long_side == 800  # the photos' working size is left as it was
    seg(np.zeros((30, 40, 3), np.uint8))
    assert seg.predictor.seen[-1] == (40, 800)


def test_an_rgb_mosaic_measures_alike_with_any_window(tmp_path: Path) -> None:
    """The packaged model over a 1,200 x 360 mosaic of field photos: windows of 256 and 2,048 px."""
    import rasterio
    from rasterio.transform import from_origin

    photos = sorted((Path(__file__).parents[3] / "src/agriseg/samples/peanut/images").iterdir())
    strip = np.concatenate([np.asarray(Image.open(p).convert("RGB").resize((400, 360))) for p in photos[:3]], 1)
    mosaic = tmp_path / "field_20240601.tif"
    profile = {"driver": "GTiff", "width": 1200, "height": 360, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32633", "transform": from_origin(500000, 5300000, 0.01, 0.01)}  # fmt: skip
    with rasterio.open(mosaic, "w", **profile) as ds:
        ds.write(strip.transpose(2, 0, 1))
    import geopandas as gpd
    from shapely.geometry import box

    cells = [box(500000 + x * 0.01, 5300000 - 3.6, 500000 + (x + 200) * 0.01, 5300000) for x in range(0, 1200, 200)]
    gpd.GeoDataFrame({"plot_id": range(6)}, geometry=cells, crs="EPSG:32633").to_file(tmp_path / "p.gpkg")
    got = {}
    for window in (256, 2048):
        cfg = PlotsConfig(plots=str(tmp_path / "p.gpkg"), window=window)
        from agriseg.crop.traits.inputs import ModelSegmenter

        got[window] = plot_stats(mosaic, cfg, ModelSegmenter("default"))["green_fraction"].to_numpy()
    assert got[2048].mean() > 0.02  # plants were found
    assert np.abs(got[256] - got[2048]).max() < 0.005, got


@pytest.mark.parametrize("column", ["PlotID", "Plot_ID", "name"])
def test_a_plot_id_column_of_any_case_is_found_and_the_files_columns_kept(tmp_path: Path, column: str) -> None:
    """A plots file whose ids are in `PlotID` or `name` was numbered 1..N without a word, and its other
    columns (genotype, rep) were dropped from every output (session 72's sweep)."""
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "p.gpkg"
    geoms = [box(X0 + i, Y0 - 2, X0 + i + 1, Y0 - 1) for i in range(3)]
    gpd.GeoDataFrame({column: ["P1", "P2", "P3"], "genotype": ["a", "b", "a"], "status": [1, 2, 3],
                      "label": ["x", "x", "y"]}, geometry=geoms, crs="EPSG:32632").to_file(path)  # fmt: skip
    got = read_plots(path, "EPSG:32632")
    assert got["plot_id"].tolist() == ["P1", "P2", "P3"] and got.attrs["id_column"] == column
    assert got["genotype"].tolist() == ["a", "b", "a"] and got["input_status"].tolist() == [1, 2, 3]
    mosaic = tmp_path / "m.tif"
    _mosaic(mosaic)
    table = plot_stats(mosaic, PlotsConfig(plots=str(path), window=64))
    assert list(table.columns)[-4:] == ["genotype", "input_status", "label", "geometry"]
    assert table["status"].iloc[0] == "ok"


def test_plots_file_problems_name_what_is_wrong(tmp_path: Path) -> None:
    """Points were measured as one pixel each; a duplicate id was not named; plots without an id column are
    numbered with a warning that lists the columns to pick from."""
    import geopandas as gpd
    from click.testing import CliRunner
    from shapely.geometry import Point, box

    from agriseg.cli import main

    points = tmp_path / "points.gpkg"
    gpd.GeoDataFrame({"id": [1, 2]}, geometry=[Point(X0, Y0), Point(X0 + 1, Y0)], crs="EPSG:32632").to_file(points)
    with pytest.raises(ValueError, match=r"points\.gpkg: plots must be polygons, found Point \(2 of 2; "):
        read_plots(points, None)
    dup = tmp_path / "dup.gpkg"
    gpd.GeoDataFrame({"id": ["P1", "P2", "P1"]}, geometry=[box(0, 0, 1, 1)] * 3, crs="EPSG:32632").to_file(dup)
    with pytest.raises(ValueError, match=r"'P1' is in rows 1 and 3; give --plot-id another column"):
        read_plots(dup, None, "id")
    # a column called an id naming a plot twice is a typo: refused when no other column names each plot once
    with pytest.raises(ValueError, match=r"plot ids in 'id' are not unique: 'P1' is in rows 1 and 3"):
        read_plots(dup, None)
    # a guessed name column naming plots twice (varieties) is passed over: the next one, or numbers
    varieties = tmp_path / "varieties.gpkg"
    gpd.GeoDataFrame({"name": ["Runner", "Virginia", "Runner"], "block": [1, 1, 2]}, geometry=[box(0, 0, 1, 1)] * 3,
                     crs="EPSG:32632").to_file(varieties)  # fmt: skip
    got = read_plots(varieties, None)
    assert got.attrs["id_column"] is None and got["plot_id"].tolist() == ["1", "2", "3"]
    assert got["name"].tolist() == ["Runner", "Virginia", "Runner"] and got.attrs["columns"] == ["name", "block"]
    gpd.GeoDataFrame({"id": [1, 1, 2], "name": ["A", "B", "C"]}, geometry=[box(0, 0, 1, 1)] * 3,
                     crs="EPSG:32632").to_file(varieties)  # fmt: skip
    got = read_plots(varieties, None)  # a block number in "id", the plots in "name"
    assert got.attrs["id_column"] == "name" and got["input_id"].tolist() == [1, 1, 2]
    bare = tmp_path / "bare.gpkg"
    inside = [box(X0 + 1 + i, Y0 - 2, X0 + 2 + i, Y0 - 1) for i in range(2)]
    gpd.GeoDataFrame({"genotype": ["a", "b"]}, geometry=inside, crs="EPSG:32632").to_file(bare)
    _mosaic(tmp_path / "m.tif")
    res = CliRunner().invoke(main, ["crop", "plots", str(tmp_path / "m.tif"), "--plots", str(bare), "-o",
                                    str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "bare.gpkg: no plot id column" in res.output and "numbered 1-2 in file order" in res.output
    assert "--plot-id COLUMN (columns: genotype)" in res.output


def test_a_plot_partly_outside_is_said_and_kept_out_of_a_clean_growth_row(tmp_path: Path) -> None:
    """A plot half outside the mosaic was `ok` with the half's numbers, and nothing was said (session 72)."""
    from click.testing import CliRunner

    from agriseg.cli import main

    plots, m1, m2 = _dated_mosaics(tmp_path)
    res = CliRunner().invoke(main, ["crop", "plots", str(m1), str(m2), "--plots", str(plots), "-o",
                                    str(tmp_path / "out"), "--window", "64"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "plot 'partly_out' is partly outside the mosaic or its data: measured on the part covered" in res.output
    assert "plot 'outside' is outside the mosaic: not measured" in res.output
    with (tmp_path / "out" / "growth.csv").open() as fh:
        rows = {(r["plot_id"], r["date"]): r for r in csv.DictReader(fh)}
    assert rows["partly_out", "2024-06-01"]["status"] == "partly outside"
    assert float(rows["partly_out", "2024-06-01"]["coverage"]) == pytest.approx(1 / 3, abs=1e-3)
    assert rows["outside", "2024-06-01"]["plant_count"] == ""  # no data, no count


def _multiband(path: Path, bands: np.ndarray, colours: list[str] | None = None, **extra: object) -> None:
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin

    c, h, w = bands.shape
    profile = dict(driver="GTiff", height=h, width=w, count=c, dtype=str(bands.dtype), crs="EPSG:32632",
                   transform=from_origin(X0, Y0, PIXEL, PIXEL), photometric="MINISBLACK", **extra)  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(bands)
        if colours:
            ds.colorinterp = [ColorInterp[n] for n in colours]


def test_a_multispectral_mosaics_bands_are_read_as_declared(tmp_path: Path) -> None:
    """Band 4 was taken as alpha whatever the file said (an RGB + NIR mosaic lost every pixel where NIR was 0),
    bands 1-3 were read as R, G, B even when described otherwise, and a 16-bit or float mosaic was refused
    (session 72's sweep). Each is measured like the 8-bit RGB mosaic of the same colours."""
    band = _mosaic(tmp_path / "mask.tif")
    _plots(tmp_path / "plots.gpkg")
    r, g, b = band // 4, band, band // 3  # (H, W) green where vegetation
    nir = np.where(np.arange(band.shape[1]) < 40, 0, 200).astype(np.uint8)[None].repeat(band.shape[0], 0)

    def segment(image: np.ndarray) -> Segmentation:  # a stand-in for the model: green pixels
        return Segmentation((image[..., 1] > 128).astype(np.uint8), False)

    cfg = PlotsConfig(plots=str(tmp_path / "plots.gpkg"), window=64)
    _multiband(tmp_path / "rgb.tif", np.stack([r, g, b]), ["red", "green", "blue"])
    want = plot_stats(tmp_path / "rgb.tif", cfg, segment)
    _multiband(tmp_path / "rgbn.tif", np.stack([r, g, b, nir]), ["red", "green", "blue", "undefined"])
    said: list[str] = []
    got = plot_stats(tmp_path / "rgbn.tif", cfg, segment, warnings=said)
    assert got.drop(columns="geometry").equals(want.drop(columns="geometry"))
    assert not [w for w in said if "bands" in w]
    five = np.stack([b, g, r, nir, nir])  # a multispectral camera: blue, green, red, red edge, NIR
    _multiband(tmp_path / "ms.tif", five)
    got = plot_stats(tmp_path / "ms.tif", cfg, segment, warnings=said)
    assert any(
        "5 bands without descriptions or colours read as R, G, B (bands 1-3); if they are not, describe" in w
        for w in said
    )
    got = plot_stats(tmp_path / "ms.tif", cfg.model_copy(update={"bands": (3, 2, 1)}), segment)
    assert got.drop(columns="geometry").equals(want.drop(columns="geometry"))
    _multiband(tmp_path / "u16.tif", np.stack([r, g, b]).astype(np.uint16) * 257, ["red", "green", "blue"])
    _multiband(tmp_path / "f32.tif", np.stack([r, g, b]).astype(np.float32) / 255, ["red", "green", "blue"])
    for name in ("u16.tif", "f32.tif"):
        got = plot_stats(tmp_path / name, cfg, segment)
        assert got.drop(columns="geometry").equals(want.drop(columns="geometry")), name
    alpha = np.stack([r, g, b, np.full_like(r, 255)])
    alpha[3, :, :40] = 0  # a declared alpha band still marks the outside
    _multiband(tmp_path / "rgba.tif", alpha, ["red", "green", "blue", "alpha"])
    _multiband(tmp_path / "rgba_undeclared.tif", alpha, ["gray", "undefined", "undefined", "undefined"])
    undeclared = plot_stats(tmp_path / "rgba_undeclared.tif", cfg, segment)  # 0 / 255 only: alpha, as before
    got = plot_stats(tmp_path / "rgba.tif", cfg, segment)
    assert undeclared.drop(columns="geometry").equals(got.drop(columns="geometry"))
    nan = np.stack([r, g, b]).astype(np.float32) / 255
    nan[:, :, :40] = np.nan  # no nodata declared: NaN is no data all the same (session 72's review)
    _multiband(tmp_path / "nan.tif", nan, ["red", "green", "blue"])
    assert plot_stats(tmp_path / "nan.tif", cfg, segment).drop(columns="geometry").equals(got.drop(columns="geometry"))
    said.clear()
    _multiband(tmp_path / "u12.tif", np.stack([r, g, b]).astype(np.uint16) * 16, ["red", "green", "blue"])
    plot_stats(tmp_path / "u12.tif", cfg, segment, warnings=said)
    assert any("16-bit colours all <= 4095 (a 10- or 12-bit camera's?)" in w for w in said), said
    got = plot_stats(tmp_path / "rgba.tif", cfg, segment).set_index("plot_id")
    assert (
        got.loc["a", "status"] == "partly outside"
        and got.loc["a", "pixels"] < want.set_index("plot_id").loc["a", "pixels"]
    )


def test_a_mosaics_date_is_read_from_a_dotted_name_or_its_folder(tmp_path: Path) -> None:
    """ODM / Pix4D projects name the mosaic odm_orthophoto.tif inside a folder named by the flight's date, and
    European names write 15.06.2024: each was undated (session 72's sweeps)."""
    assert mosaic_date(Path("2024-06-01/odm_orthophoto.tif"), None) == "2024-06-01"
    assert mosaic_date(Path("flight_20240615/odm_orthophoto/odm_orthophoto.tif"), None) == "2024-06-15"  # ODM
    assert mosaic_date(Path("2024-06-15/a/b/odm_orthophoto.tif"), None) is None  # two folders up at most
    assert mosaic_date(Path("trial_15.06.2024.tif"), None) == "2024-06-15"
    assert mosaic_date(Path("2024-06-01/f_2024-07-01.tif"), None) == "2024-07-01"  # its own name first
    assert mosaic_date(Path("v1.2.3.tif"), None) is None


def test_a_failed_rerun_with_another_plots_file_keeps_the_growth_tables(tmp_path: Path) -> None:
    """A re-run refused for another plots file removed growth.csv, growth_wide.csv and growth.png, while the
    per-mosaic tables they summarise were kept (a changed option left them): both leave them now."""
    plots, m1, m2 = _dated_mosaics(tmp_path)
    out = tmp_path / "out"
    cfg = PlotsConfig(plots=str(plots), window=64)
    run_plots([m1, m2], out, cfg, batch=BatchOptions(progress=False))
    tables = {n: (out / n).read_bytes() for n in ("growth.csv", "growth_wide.csv", "growth.png")}
    other = tmp_path / "other" / "plots.gpkg"
    other.parent.mkdir()
    import geopandas as gpd

    gpd.read_file(plots).iloc[:-1].to_file(other)  # another plots file of the same name: one plot fewer
    recs = run_plots([m1, m2], out, cfg.model_copy(update={"plots": str(other)}), batch=BatchOptions(progress=False))
    assert [r["status"] for r in recs] == ["error", "error"]
    assert {n: (out / n).read_bytes() for n in tables} == tables
    assert any("left as an earlier run wrote them" in n for n in recs.notes), recs.notes


def test_growth_columns_keep_one_order_whatever_the_first_row_holds(tmp_path: Path) -> None:
    """growth.csv's columns followed the first row: an empty first pot (no colour) put the colour columns after
    the rates, a planted one before them, so two runs' tables did not line up (session 72's sweep)."""
    from agriseg.crop.traits.growth import write_growth

    empty = {"id": "1", "status": "empty", "plant_count": 0, "plant_area": 0.0}
    planted = {"id": "2", "status": "ok", "plant_count": 1, "plant_area": 40.0, "mean_r": 90.0, "model_sure": 0.8}
    headers = []
    for first, second in ((empty, planted), (planted, empty)):
        out = tmp_path / first["id"]
        out.mkdir()
        dated = [(d, f"t_{d}.jpg", [dict(first), dict(second)]) for d in ("2024-06-01", "2024-06-08")]
        write_growth(dated, out)
        headers.append((out / "growth.csv").read_text().splitlines()[0].split(","))
    assert headers[0] == headers[1]
    assert headers[0][-2:] == ["plant_area_px2_change_per_day", "relative_growth_rate_per_day"]
    assert headers[0].index("model_sure") < headers[0].index("mean_r")  # the region columns' own order


def test_the_plots_files_own_id_and_date_columns_never_replace_agrisegs(tmp_path: Path) -> None:
    """A trial file with `plot` (the ids) and `id` (a block number) keyed growth.csv by the block, and its
    `date` column replaced each mosaic's date in the tables (session 72's review)."""
    import geopandas as gpd

    plots, m1, m2 = _dated_mosaics(tmp_path)
    g = gpd.read_file(plots)
    g = g.rename(columns={"name": "plot"}).assign(id=[1, 1, 2, 2, 3, 3, 4][: len(g)], date="2020-01-01")
    g.to_file(tmp_path / "trial.gpkg")
    out = tmp_path / "out"
    recs = run_plots([m1, m2], out, PlotsConfig(plots=str(tmp_path / "trial.gpkg"), window=64),
                     batch=BatchOptions(progress=False))  # fmt: skip
    assert [r["status"] for r in recs] == ["ok", "ok"]
    with (out / "growth.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted({r["plot_id"] for r in rows}) == sorted(g["plot"]) and len(rows) == 2 * len(g)
    with (out / "f_20240601_plots.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert {r["date"] for r in table} == {"2024-06-01"} and {r["input_date"] for r in table} == {"2020-01-01"}
    assert [r["plot_id"] for r in table] == list(g["plot"]) and "input_id" in table[0]


def test_the_growth_charts_legend_sits_beside_it_and_names_plots_without_data(tmp_path: Path, monkeypatch) -> None:
    """The legend covered a plot's line, and a plot outside every mosaic was in it with no line (session 72's
    sweep): the legend is beside the chart and says "(no data)"."""
    from matplotlib.figure import Figure

    from agriseg.crop.traits.growth import write_growth

    seen: list[tuple[list[str], bool]] = []
    real = Figure.savefig

    def look(fig: Figure, *args: object, **kw: object) -> None:
        fig.canvas.draw()
        for ax in fig.axes:
            if (legend := ax.get_legend()) is not None:
                beside = legend.get_window_extent().x0 >= ax.get_window_extent().x1
                seen.append(([t.get_text() for t in legend.get_texts()], beside))
        real(fig, *args, **kw)

    monkeypatch.setattr(Figure, "savefig", look)
    rows = {"2024-06-01": (0.1, 0.2), "2024-06-08": (0.2, 0.4)}
    dated = [(d, f"f_{d}.tif", [{"id": "A", "status": "ok", "green_fraction": a},
                                {"id": "B", "status": "ok", "green_fraction": b},
                                {"id": "OUT", "status": "outside mosaic", "green_fraction": None}])
             for d, (a, b) in rows.items()]  # fmt: skip
    write_growth(dated, tmp_path, "plot_id", value="green_fraction")
    assert seen == [(["A", "B", "OUT (no data)"], True)]


def test_plots_in_a_site_grid_crs_are_one_line_naming_the_file(tmp_path: Path) -> None:
    """A plots file in a CRS PROJ cannot transform failed each mosaic as an "internal error (ProjError)"; one
    without shapes (an attribute table) was an AttributeError traceback (session 75's review)."""
    import geopandas as gpd
    from pyproj import CRS
    from shapely.geometry import box

    from tests.vector.test_read import LOCAL_CRS

    site = tmp_path / "site.gpkg"
    gpd.GeoDataFrame({"id": [1]}, geometry=[box(0, 0, 1, 1)], crs=CRS.from_wkt(LOCAL_CRS)).to_file(site)
    with pytest.raises(ValueError, match=r"site\.gpkg: its CRS \(site grid\) cannot be transformed to the mosaic's"):
        read_plots(site, "EPSG:32632")
    table = tmp_path / "table.csv"
    table.write_text("id,name\n1,a\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"table\.csv: holds no geometry"):
        read_plots(table, "EPSG:32632")


def _mask_mosaic(path: Path, band: np.ndarray) -> None:
    """A 0/255 vegetation mask written as a georeferenced mosaic at :data:`X0`, :data:`Y0`."""
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "height": band.shape[0], "width": band.shape[1], "count": 1, "dtype": "uint8",
               "crs": "EPSG:32632", "transform": from_origin(X0, Y0, PIXEL, PIXEL)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(band, 1)


def _pixel_plots(path: Path, boxes: dict[str, tuple[int, int, int, int]]) -> None:
    """Plots given as pixel boxes ``(col0, row0, col1, row1)`` of the mosaic, in its CRS."""
    import geopandas as gpd
    from shapely.geometry import box

    geoms = [box(X0 + c * PIXEL, Y0 - r1 * PIXEL, X0 + c1 * PIXEL, Y0 - r * PIXEL) for c, r, c1, r1 in boxes.values()]
    gpd.GeoDataFrame({"name": list(boxes)}, geometry=geoms, crs="EPSG:32632").to_file(path)


def _counts(mosaic: Path, plots: Path, window: int) -> dict[str, int]:
    cfg = PlotsConfig(plots=str(plots), plot_id="name", window=window, min_plant_size=5)
    got = plot_stats(mosaic, cfg).set_index("plot_id")
    return {name: int(n) for name, n in got["plant_count"].items()}


def test_a_plant_touching_itself_only_diagonally_across_a_window_border_is_one_plant(tmp_path: Path) -> None:
    """Two halves of one plant meeting corner to corner on a window border are one plant: counted as two, a
    plot's plant count would move with ``--window``."""
    band = np.zeros((128, 128), np.uint8)
    band[60:64, 10:13] = band[64:68, 13:16] = 255  # corners (63, 12) and (64, 13): down-right across row 64
    band[60:64, 30:33] = band[64:68, 27:30] = 255  # corners (63, 30) and (64, 29): down-left
    band[20:23, 60:64] = band[23:26, 64:68] = 255  # corners (22, 63) and (23, 64): across column 64
    _mask_mosaic(tmp_path / "m.tif", band)
    _pixel_plots(tmp_path / "plots.gpkg", {"all": (0, 0, 128, 128)})
    assert _counts(tmp_path / "m.tif", tmp_path / "plots.gpkg", 64) == {"all": 3}
    assert _counts(tmp_path / "m.tif", tmp_path / "plots.gpkg", 4096) == {"all": 3}  # one window: no border


def test_a_plant_across_two_plots_on_a_window_border_counts_in_each(tmp_path: Path) -> None:
    """Two plots meeting on a window border, with one plant across that border: it counts in both, as within one
    window (joined across the window border, it would count in one plot only)."""
    band = np.zeros((128, 128), np.uint8)
    band[58:70, 20:30] = 255  # across row 64, the border of both the plots and the windows
    band[58:70, 100:110] = 255
    _mask_mosaic(tmp_path / "m.tif", band)
    _pixel_plots(tmp_path / "plots.gpkg", {"north": (0, 0, 128, 64), "south": (0, 64, 128, 128)})
    assert _counts(tmp_path / "m.tif", tmp_path / "plots.gpkg", 64) == {"north": 2, "south": 2}
    assert _counts(tmp_path / "m.tif", tmp_path / "plots.gpkg", 4096) == {"north": 2, "south": 2}


def test_a_plot_wholly_under_nodata_is_no_data_with_a_warning_not_an_empty_plot(tmp_path: Path) -> None:
    """A plot whose pixels all lay under the mosaic's nodata was `empty` (green 0), with no warning (session 80)."""
    mosaic, plots = tmp_path / "m.tif", tmp_path / "p.gpkg"
    _mosaic(mosaic, nodata=True)  # rows 0-9 are nodata
    _pixel_plots(plots, {"in_nodata": (20, 1, 40, 9), "fine": (20, 40, 60, 80)})
    said: list[str] = []
    got = plot_stats(mosaic, PlotsConfig(plots=str(plots), plot_id="name"), warnings=said).set_index("plot_id")
    assert got.loc["in_nodata", "status"] == "no data" and got.loc["fine", "status"] == "ok"
    assert pd.isna(got.loc["in_nodata", "green_fraction"]) and pd.isna(got.loc["in_nodata", "plant_count"])
    assert any("plot 'in_nodata' is under the mosaic's nodata" in w for w in said), said
    # every plot under nodata: the mosaic fails, as one whose plots are all outside it does
    _pixel_plots(plots, {"x": (20, 1, 40, 9), "y": (50, 2, 60, 8)})
    recs = run_plots(
        [mosaic], tmp_path / "out", PlotsConfig(plots=str(plots), plot_id="name"), batch=BatchOptions(progress=False)
    )
    assert recs.exit_code == 1 and "none of the 2 plots" in recs[0]["error"] and "has data" in recs[0]["error"]
    # one plot outside, one smaller than a pixel: nothing measured either (it was "1 measured", exit 0)
    import geopandas as gpd
    from shapely.geometry import box

    tiny = box(X0 + 30.5 * PIXEL, Y0 - 40.6 * PIXEL, X0 + 30.51 * PIXEL, Y0 - 40.59 * PIXEL)
    far = box(X0 + 5000, Y0 + 5000, X0 + 5010, Y0 + 5010)
    gpd.GeoDataFrame({"name": ["tiny", "far"]}, geometry=[tiny, far], crs="EPSG:32632").to_file(plots)
    recs = run_plots(
        [mosaic], tmp_path / "out2", PlotsConfig(plots=str(plots), plot_id="name"), batch=BatchOptions(progress=False)
    )
    assert recs.exit_code == 1 and "has data in this mosaic" in recs[0]["error"], recs[0]


def test_the_plots_files_own_numbers_and_dates_are_written_as_read(tmp_path: Path) -> None:
    """The file's own float columns were rounded to 6 digits (500123.456 -> 500123.0) and a missing date was
    written ``NaT``, a given one ``2024-04-01 00:00:00`` (session 80)."""
    import geopandas as gpd
    from shapely.geometry import box

    mosaic, plots = tmp_path / "m_2024-06-01.tif", tmp_path / "p.geojson"
    _mosaic(mosaic)
    geoms = [box(X0 + 1, Y0 - 3, X0 + 3, Y0 - 1), box(X0 + 4, Y0 - 3, X0 + 6, Y0 - 1)]
    own = {"plot_id": ["P1", "P2"], "easting": [500123.456, 4512345.678], "yield_kg_ha": [10234.5678, 99999.99]}
    gdf = gpd.GeoDataFrame({**own, "sowing": ["2024-04-01", None]}, geometry=geoms, crs="EPSG:32632")
    gdf.to_crs("EPSG:4326").to_file(plots)
    recs = run_plots([mosaic], tmp_path / "out", PlotsConfig(plots=str(plots)), batch=BatchOptions(progress=False))
    assert recs.exit_code == 0
    with (tmp_path / "out" / "m_2024-06-01_plots.csv").open() as fh:
        rows = {r["plot_id"]: r for r in csv.DictReader(fh)}
    assert [rows["P1"]["easting"], rows["P2"]["easting"]] == ["500123.456", "4512345.678"]
    assert [rows["P1"]["yield_kg_ha"], rows["P2"]["yield_kg_ha"]] == ["10234.5678", "99999.99"]
    assert [rows["P1"]["sowing"], rows["P2"]["sowing"]] == ["2024-04-01", ""]
    table = gpd.read_file(tmp_path / "out" / "m_2024-06-01_plots.gpkg").set_index("plot_id")
    assert table.loc["P2", "easting"] == 4512345.678


def test_a_rotated_mosaics_plots_are_all_measured(tmp_path: Path) -> None:
    """A mosaic on a grid rotated 30 degrees: 14 of its 24 plots came back ``empty`` (exit 0, no warning), the
    windows found by the box of two of their corners (session 84's sweep)."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import Affine, from_origin
    from shapely.geometry import Polygon

    band = np.zeros((420, 720), np.uint8)
    band[::7, ::5] = 255
    tf = from_origin(X0, Y0, PIXEL, PIXEL) * Affine.rotation(30)
    with rasterio.open(tmp_path / "rot.tif", "w", driver="GTiff", height=420, width=720, count=1, dtype="uint8",
                       crs="EPSG:32632", transform=tf) as ds:  # fmt: skip
        ds.write(band, 1)
    cells = [(c, r) for r in range(0, 321, 100) for c in range(0, 601, 120)]
    geoms = [Polygon([tf * (c, r), tf * (c + 100, r), tf * (c + 100, r + 100), tf * (c, r + 100)]) for c, r in cells]
    ids = [f"P{i}" for i in range(len(cells))]
    gpd.GeoDataFrame({"plot_id": ids}, geometry=geoms, crs="EPSG:32632").to_file(tmp_path / "plots.gpkg")
    got = plot_stats(tmp_path / "rot.tif", PlotsConfig(plots=str(tmp_path / "plots.gpkg"), window=128))
    assert list(got["status"]) == ["ok"] * len(cells)
    want = [(band[r : r + 100, c : c + 100] > 0).mean() for c, r in cells]
    np.testing.assert_allclose(got["green_fraction"].to_numpy(float), want, atol=1e-4)


@pytest.mark.parametrize("how", ["alpha", "internal mask"])
def test_a_masks_transparent_pixels_are_not_counted(tmp_path: Path, how: str) -> None:
    """A one-band mask whose left half is transparent (a band declared alpha, or GDAL's internal mask): the
    transparent pixels were counted as bare ground, a plot under them measured 0 % green (session 84's sweep)."""
    import rasterio
    from rasterio.transform import from_origin

    band = np.zeros((100, 200), np.uint8)
    band[:, ::4] = 255
    opaque = np.zeros_like(band)
    opaque[:, 100:] = 255
    profile = {"driver": "GTiff", "height": 100, "width": 200, "dtype": "uint8", "crs": "EPSG:32632",
               "transform": from_origin(X0, Y0, PIXEL, PIXEL)}  # fmt: skip
    mosaic = tmp_path / "m.tif"
    if how == "alpha":
        with rasterio.open(mosaic, "w", count=2, photometric="MINISBLACK", alpha="YES", **profile) as ds:
            ds.write(np.stack([band, opaque]))
    else:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(mosaic, "w", count=1, **profile) as ds:
            ds.write(band, 1)
            ds.write_mask(opaque)
    _pixel_plots(
        tmp_path / "p.gpkg", {"hidden": (10, 10, 90, 90), "half": (50, 10, 150, 90), "seen": (110, 10, 190, 90)}
    )
    said: list[str] = []
    got = plot_stats(mosaic, PlotsConfig(plots=str(tmp_path / "p.gpkg"), plot_id="name"), warnings=said)
    got = got.set_index("plot_id")
    assert list(got["status"]) == ["no data", "partly outside", "ok"], said
    assert (
        got.loc["half", "coverage"] == 0.5 and got.loc["half", "green_fraction"] == 0.26
    )  # columns 100, 104, ..., 148
    assert got.loc["seen", "green_fraction"] == 0.25


def test_a_one_band_mosaic_of_many_values_is_said_not_to_be_a_mask(tmp_path: Path) -> None:
    """A probability or greyscale raster given as the mosaic read every value above 0 as vegetation: every plot
    100 % green, nothing said (session 84's sweep). It is measured so still, with a warning naming it."""
    band = (np.arange(150 * 170).reshape(150, 170) % 250 + 1).astype(np.uint8)
    _mask_mosaic(tmp_path / "grey.tif", band)
    _pixel_plots(tmp_path / "p.gpkg", {"a": (10, 10, 60, 60)})
    said: list[str] = []
    plot_stats(tmp_path / "grey.tif", PlotsConfig(plots=str(tmp_path / "p.gpkg"), plot_id="name"), warnings=said)
    assert any("grey.tif: one band of" in w and "not a mask" in w for w in said), said
    said.clear()
    _mask_mosaic(tmp_path / "mask.tif", (band > 120).astype(np.uint8) * 255)
    plot_stats(tmp_path / "mask.tif", PlotsConfig(plots=str(tmp_path / "p.gpkg"), plot_id="name"), warnings=said)
    assert not any("not a mask" in w for w in said), said


def test_a_shapefiles_edited_attributes_or_crs_are_an_edited_plots_file(tmp_path: Path) -> None:
    """Plot ids renamed in the .dbf (or the CRS in the .prj) and the same command again: skipped, the table
    keeping the old ids (session 84's sweep). The shapefile's sidecars are part of it."""
    mosaic, plots = tmp_path / "m_2024-06-01.tif", tmp_path / "plots.shp"
    _mosaic(mosaic)
    _pixel_plots(plots, {"A": (10, 10, 60, 60), "B": (70, 70, 120, 120)})
    cfg = PlotsConfig(plots=str(plots), plot_id="name")
    assert run_plots([mosaic], tmp_path / "out", cfg, batch=BatchOptions(progress=False)).exit_code == 0
    assert run_plots([mosaic], tmp_path / "out", cfg, batch=BatchOptions(progress=False))[0]["status"] == "skipped"
    _pixel_plots(plots, {"P101": (10, 10, 60, 60), "P102": (70, 70, 120, 120)})  # the same .shp geometry
    again = run_plots([mosaic], tmp_path / "out", cfg, batch=BatchOptions(progress=False))
    assert again.exit_code == 1 and "plots.shp changed since" in again[0]["error"], again[0]


def test_plots_files_ids_layers_and_shapes_are_read_as_the_user_drew_them(tmp_path: Path) -> None:
    """Session 84's sweep: integer ids with one missing read 101.0, 102.0 and an empty id; a GeoPackage of a
    trial's boundary and its plots measured the boundary (GDAL's first layer) as the one plot; a self-crossing
    plot failed every mosaic with an internal error; plots without a shape were ``empty`` with nothing said."""
    import geopandas as gpd
    from shapely.geometry import Polygon, box

    mosaic = tmp_path / "m.tif"
    _mosaic(mosaic)
    a, b = box(X0 + 1, Y0 - 3, X0 + 3, Y0 - 1), box(X0 + 4, Y0 - 3, X0 + 6, Y0 - 1)
    ids = gpd.GeoDataFrame({"plot_id": [101, 102, None]}, geometry=[a, b, a.buffer(-0.5)], crs="EPSG:32632")
    ids.to_file(tmp_path / "ids.geojson")
    with pytest.raises(ValueError, match=r"ids.geojson: plot in row 3 has no 'plot_id'"):
        read_plots(tmp_path / "ids.geojson", None)
    ids.iloc[:2].to_file(tmp_path / "ids.gpkg")
    gpd.GeoDataFrame({"plot_id": [101.0, 102.0]}, geometry=[a, b], crs="EPSG:32632").to_file(tmp_path / "f.gpkg")
    assert read_plots(tmp_path / "f.gpkg", None)["plot_id"].tolist() == ["101", "102"]
    gpd.GeoDataFrame({"name": ["trial"]}, geometry=[a.union(b).envelope], crs="EPSG:32632").to_file(
        tmp_path / "trial.gpkg", layer="boundary"
    )
    gpd.read_file(tmp_path / "ids.gpkg").to_file(tmp_path / "trial.gpkg", layer="plots")
    with pytest.raises(ValueError, match=r"trial.gpkg: has 2 layers of shapes \(boundary, plots\).*ogr2ogr"):
        read_plots(tmp_path / "trial.gpkg", None)
    bow = Polygon([(X0 + 1, Y0 - 1), (X0 + 3, Y0 - 3), (X0 + 3, Y0 - 1), (X0 + 1, Y0 - 3)])  # corners out of order
    geoms = [bow, b, None, Polygon(), box(X0 + 7, Y0 - 7.01, X0 + 7.01, Y0 - 7)]
    names = ["bow", "fine", "none", "empty", "speck"]
    gpd.GeoDataFrame({"name": names}, geometry=geoms, crs="EPSG:32632").to_file(tmp_path / "p.gpkg")
    said: list[str] = []
    got = plot_stats(mosaic, PlotsConfig(plots=str(tmp_path / "p.gpkg"), plot_id="name"), warnings=said)
    assert list(got["status"]) == ["ok", "ok", "empty", "empty", "empty"]
    assert any("plot bow crosses itself; measured as repaired" in w for w in said), said
    assert any("plots 'none', 'empty', 'speck' are without a shape, or smaller than a pixel" in w for w in said), said


def test_bands_of_a_one_band_mask_mosaic_are_refused_not_ignored(tmp_path: Path) -> None:
    """``--bands 3,2,1`` on a mask mosaic was accepted and ignored (session 84's sweep)."""
    _mosaic(tmp_path / "m.tif")
    _pixel_plots(tmp_path / "p.gpkg", {"a": (10, 10, 60, 60)})
    with pytest.raises(ValueError, match=r"m.tif: --bands 3,2,1 picks the colour bands .* has 1 band"):
        plot_stats(tmp_path / "m.tif", PlotsConfig(plots=str(tmp_path / "p.gpkg"), plot_id="name", bands=(3, 2, 1)))


def test_a_growth_chart_of_thousands_of_regions_is_their_median_and_spread(tmp_path: Path) -> None:
    """``--grid 60x100`` drew 6,000 panels: a 15,720 x 7,332 px picture, 8 minutes and 3.4 GB (session 94's sweep)."""
    pytest.importorskip("matplotlib")
    from agriseg.crop.traits.growth import MAX_PANELS, write_growth

    ids = range(1, MAX_PANELS + 2)
    dated = [
        (d, f"tray_{d}.jpg", [{"id": str(k), "plant_area": 100.0 * (i + 1) + k % 7} for k in ids])
        for i, d in enumerate(["2024-06-01", "2024-06-08", "2024-06-15"])
    ]
    write_growth(dated, tmp_path)
    with Image.open(tmp_path / "growth.png") as im:
        assert im.size[0] <= 1100 and im.size[1] <= 600  # one chart (8.5 x 4 in at 120 dpi)
        rgb = np.asarray(im.convert("RGB")).astype(int)
    green = (rgb[..., 1] > 100) & (rgb[..., 0] < 100) & (rgb[..., 2] < 100)  # the median line
    assert green.sum() > 200


def test_a_model_given_where_every_input_is_a_mask_is_refused_not_ignored(tmp_path: Path) -> None:
    """``crop plots --model crop-weed`` on a mask mosaic (or crop predict's mask with a regions CSV) ran no model,
    said nothing, and put the model into the outputs' fingerprint: the same run without --model then failed as
    "made with other settings" (session 96's sweep). crop traits refused it; crop plots does too now."""
    from agriseg.config import OptionError

    _mosaic(tmp_path / "m.tif")
    _pixel_plots(tmp_path / "p.gpkg", {"a": (10, 10, 60, 60)})
    cfg = PlotsConfig(plots=str(tmp_path / "p.gpkg"), plot_id="name", model_name="crop-weed")
    with pytest.raises(OptionError, match=r"^--model crop-weed: not read, every input is a vegetation mask"):
        run_plots([tmp_path / "m.tif"], tmp_path / "out", cfg, BatchOptions(progress=False))
    assert not (tmp_path / "out").exists()
    Image.fromarray(np.pad(np.full((20, 20), 255, np.uint8), 10)).save(tmp_path / "a_mask.png")
    (tmp_path / "r.csv").write_text("id,x,y,width,height\n1,0,0,40,40\n", encoding="utf-8")
    cfg = PlotsConfig(plots=str(tmp_path / "r.csv"), model_name="crop-weed")
    with pytest.raises(OptionError, match=r"^--model crop-weed: not read"):
        run_plots([tmp_path / "a_mask.png"], tmp_path / "out", cfg, BatchOptions(progress=False))
    res = run_plots([tmp_path / "a_mask.png"], tmp_path / "out", PlotsConfig(plots=str(tmp_path / "r.csv")),
                    BatchOptions(progress=False))  # fmt: skip
    assert [r["status"] for r in res] == ["ok"]


def test_overlapping_plots_are_named_and_touching_ones_are_not(tmp_path: Path) -> None:
    """`crop plots` counted the pixels two plots share in both without a word, where `crop traits --regions`
    warns of overlapping regions (session 102's sweep)."""
    import geopandas as gpd
    from shapely.geometry import box

    from agriseg.crop.traits.orthomosaic import plot_overlaps, read_plots

    path = tmp_path / "plots.gpkg"
    shapes = [box(0, 0, 10, 10), box(10, 0, 20, 10), box(15, 5, 25, 15), None]  # a | b touch; b and c overlap
    gpd.GeoDataFrame({"plot_id": ["a", "b", "c", "d"]}, geometry=shapes, crs="EPSG:32632").to_file(path)
    said = plot_overlaps(read_plots(path, None))
    assert said == "plots 'b' and 'c' overlap: vegetation area and green fraction count the shared pixels in both"
    gpd.GeoDataFrame({"plot_id": ["a", "b"]}, geometry=shapes[:2], crs="EPSG:32632").to_file(path)
    assert plot_overlaps(read_plots(path, None)) is None


def test_a_plot_touching_the_mosaics_edge_from_outside_is_outside(tmp_path: Path) -> None:
    """Session 105's sweep: a plot starting exactly at the mosaic's right edge was "empty" and warned of as
    "without a shape, or smaller than a pixel", where its neighbour beyond was "outside mosaic"."""
    import geopandas as gpd
    from shapely.geometry import box

    mosaic, plots = tmp_path / "m.tif", tmp_path / "plots.gpkg"
    _mosaic(mosaic)  # 170 px wide
    edge = X0 + 170 * PIXEL
    geoms = [
        box(edge, Y0 - 30 * PIXEL, edge + 20 * PIXEL, Y0 - 10 * PIXEL),
        box(X0, Y0 - 30 * PIXEL, X0 + 20 * PIXEL, Y0),
    ]
    gpd.GeoDataFrame({"name": ["touching", "in"]}, geometry=geoms, crs="EPSG:32632").to_file(plots)
    got = plot_stats(mosaic, PlotsConfig(plots=str(plots), plot_id="name")).set_index("plot_id")
    assert got.loc["touching", "status"] == "outside mosaic" and got.loc["in", "status"] == "ok"


def test_a_georeferenced_mosaic_with_a_regions_csv_is_said_to_be_read_as_a_photo(tmp_path: Path) -> None:
    """A GeoTIFF mosaic given with pixel regions was measured as a photo (px2, no ground units, at the model's
    working size) without a word: its numbers differed from those of the same plots as polygons (session 107's
    sweep). A mask GeoTIFF is read as it is: no such warning (it said the model's working size of a mask)."""
    import rasterio

    band = _mosaic(tmp_path / "k_2024-06-01.tif")  # a vegetation mask GeoTIFF: read as it is, no model
    rgb = np.stack([np.where(band > 0, c, s) for c, s in ((40, 120), (160, 90), (40, 60))]).astype(np.uint8)
    with rasterio.open(tmp_path / "k_2024-06-01.tif") as ds:
        profile = {**ds.profile, "count": 3}
    with rasterio.open(tmp_path / "m_2024-06-01.tif", "w", **profile) as ds:
        ds.write(rgb)  # (3, H, W)
    Image.fromarray(np.moveaxis(rgb, 0, -1)).save(tmp_path / "p_2024-06-01.png")
    (tmp_path / "r.csv").write_text("id,x,y,width,height\n1,0,0,60,60\n2,60,60,60,60\n", encoding="utf-8")
    cfg = PlotsConfig(plots=str(tmp_path / "r.csv"))
    res = run_plots([tmp_path / "m_2024-06-01.tif"], tmp_path / "geo", cfg, batch=BatchOptions(progress=False))
    assert [r["status"] for r in res] == ["ok"]
    said = [n for n in res.notes if "georeferenced, measured" in n]
    assert len(said) == 1 and said[0].startswith(
        f"warning: {tmp_path / 'm_2024-06-01.tif'}: georeferenced, "
        f"measured as a photo in the pixel regions of {tmp_path / 'r.csv'}"
    )
    assert "give the plots as polygons" in said[0]
    for name in ("p_2024-06-01.png", "k_2024-06-01.tif"):  # a plain photo; a mask GeoTIFF
        res = run_plots([tmp_path / name], tmp_path / name[0], cfg, batch=BatchOptions(progress=False))
        assert [r["status"] for r in res] == ["ok"], res
        assert not any("georeferenced, measured" in n for n in res.notes), res.notes


def test_photo_growth_tables_keep_the_regions_files_own_columns(tmp_path: Path) -> None:
    """`crop plots --plots regions.csv` dropped the file's own columns (genotype) from growth.csv and the wide
    table, which `crop traits --regions` keeps, and every trait but four (session 107's sweep)."""
    for i, d in enumerate(("2024-06-01", "2024-06-08")):
        Image.fromarray(_mosaic(tmp_path / "m.tif", seed=i)).save(tmp_path / f"p_{d}.png")
    (tmp_path / "r.csv").write_text(  # its own date too: never the photo's (session 107's review)
        "id,x,y,width,height,genotype,date\n1,0,0,60,60,A,2020-01-01\n2,60,60,60,60,B,2020-01-02\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    res = run_plots(sorted(tmp_path.glob("p_*.png")), out, PlotsConfig(plots=str(tmp_path / "r.csv")),
                    batch=BatchOptions(progress=False))  # fmt: skip
    assert [r["status"] for r in res] == ["ok", "ok"]
    with (out / "growth.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["plot_id"], r["genotype"]) for r in rows] == [("1", "A"), ("1", "A"), ("2", "B"), ("2", "B")]
    assert [r["date"] for r in rows[:2]] == ["2024-06-01", "2024-06-08"] and rows[2][
        "date (plots file)"
    ] == "2020-01-02"
    with (out / "p_2024-06-01_plots.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert {r["date"] for r in table} == {"2024-06-01"} and table[0]["date (plots file)"] == "2020-01-01"
    assert {"plant_area_px2", "vegetation_area_px2", "in_frame", "x_px"} <= set(rows[0])
    with (out / "growth_wide.csv").open() as fh:
        wide = list(csv.DictReader(fh))
    assert [r["genotype"] for r in wide] == ["A", "B"]
