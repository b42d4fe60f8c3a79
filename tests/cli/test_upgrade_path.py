"""Output folders written by an earlier agriseg, run over by this one (session 66's upgrade sweep): nothing of
the user's is lost, and the earlier run's files do not stop or fool the new one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from agriseg.cli import main
from agriseg.manifest import MANIFEST, TABLE_STAMPS

PHOTO = Path(__file__).resolve().parents[2] / "src/agriseg/samples/peanut/images/0003.jpg"


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A folder of one bundled photo."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTO, folder)
    return folder


def test_a_table_written_before_table_stamps_is_kept_as_a_copy_with_its_edits(tmp_path: Path, photos: Path) -> None:
    """Notes typed into summary.csv of a folder from before stamps were written over on the next run."""
    out = tmp_path / "out"
    assert _run("crop", "predict", str(photos), "-o", str(out))[0] == 0
    (out / TABLE_STAMPS).unlink()  # as an agriseg before stamps left the folder
    edited = (out / "summary.csv").read_text().replace("\n", ",my note\n", 2)
    (out / "summary.csv").write_text(edited)
    code, output = _run("crop", "predict", str(photos), "-o", str(out))
    assert code == 0 and "0 predicted, 1 skipped" in output, output
    assert "summary.csv: not stamped as written by agriseg (a file of yours, or one an agriseg before" in output
    assert (out / "summary.earlier.csv").read_text() == edited
    assert "my note" not in (out / "summary.csv").read_text()
    code, output = _run("crop", "predict", str(photos), "-o", str(out))  # stamped now: no second copy
    assert code == 0 and "earlier" not in output and not (out / "summary.earlier2.csv").exists()


def test_overwrite_replaces_a_file_of_yours_under_a_tables_name_only_after_copying_it(
    tmp_path: Path, photos: Path
) -> None:
    """`--overwrite` replaced notes saved as summary.csv in a folder of no run, with no copy (session 101's sweep)."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "summary.csv").write_text("my notes\n")
    code, output = _run("crop", "predict", str(photos), "-o", str(out), "--overwrite")
    assert code == 0 and "kept as summary.earlier.csv" in output, output
    assert (out / "summary.earlier.csv").read_text() == "my notes\n" and "my notes" not in (
        out / "summary.csv"
    ).read_text()


def test_pseudolabel_resumes_a_folder_whose_manifest_only_its_masks_folder_held(tmp_path: Path, photos: Path) -> None:
    """An earlier pseudolabel kept its records in masks/ only: its pseudolabels.json was taken for a user's file."""
    out = tmp_path / "ps"
    assert _run("crop", "pseudolabel", str(photos), "-o", str(out))[0] == 0
    (out / MANIFEST).unlink()
    (out / TABLE_STAMPS).unlink()
    code, output = _run("crop", "pseudolabel", str(photos), "-o", str(out))
    assert code == 0 and "1 skipped" in output, output
    assert (out / "pseudolabels.earlier.json").is_file()
    user = tmp_path / "mine"  # a folder no agriseg run wrote: a file under the table's name stays refused
    user.mkdir()
    (user / "pseudolabels.json").write_text("{}")
    code, output = _run("crop", "pseudolabel", str(photos), "-o", str(user))
    assert code == 2 and "exists and was not written by agriseg" in output


def test_old_temporaries_of_outputs_are_removed_but_a_users_look_alike_stays(tmp_path: Path, photos: Path) -> None:
    """Temporaries were renamed in session 65 (``.<name>.agriseg-tmp-<pid>``); those a killed run of an earlier
    version left (``.<name>.tmp-<pid>``) stayed for ever."""
    out = tmp_path / "out"
    out.mkdir()
    dead = 2**22 - 3  # above every pid in use here
    old = out / f".0003_mask.png.tmp-{dead}.png"
    users = out / ".notes.tmp-2024.txt"
    old.write_bytes(b"x")
    users.write_text("mine")
    assert _run("crop", "predict", str(photos), "-o", str(out))[0] == 0
    assert not old.exists() and users.read_text() == "mine"


def _class_raster(path: Path) -> Path:
    """A 64 x 64 class raster (UTM, 10 m) with two fields."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    a = np.zeros((64, 64), np.uint8)
    a[5:30, 5:30] = 1
    a[35:60, 10:50] = 1
    profile = {"driver": "GTiff", "height": 64, "width": 64, "count": 1, "dtype": "uint8", "crs": "EPSG:32633"}
    with rasterio.open(path, "w", transform=from_origin(500000, 5000000, 10, 10), **profile) as dst:
        dst.write(a, 1)
    return path


def test_polygonize_parquet_and_geojson_of_one_stem_keep_their_own_records(tmp_path: Path) -> None:
    """-o f.geojson after -o f.parquet replaced f.parquet's record: the next run called it a user's file."""
    pytest.importorskip("geopandas")
    raster = _class_raster(tmp_path / "r.tif")
    for out in ("f.parquet", "f.geojson"):
        code, output = _run("fields", "polygonize", str(raster), "-o", str(tmp_path / out))
        assert code == 0 and "1 polygonized" in output, output
    for out in ("f.parquet", "f.geojson"):
        code, output = _run("fields", "polygonize", str(raster), "-o", str(tmp_path / out))
        assert code == 0 and "1 skipped" in output, output


def _polygonized_as_before(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    """``fields polygonize`` of a small class raster, its records then rewritten by ``edit`` as an earlier
    agriseg wrote them; the raster."""
    import json

    pytest.importorskip("geopandas")
    raster = _class_raster(tmp_path / "r.tif")
    assert _run("fields", "polygonize", str(raster))[0] == 0
    manifest = tmp_path / MANIFEST
    lines = [json.loads(x) for x in manifest.read_text().splitlines()]
    for rec in lines:
        edit(rec)
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return raster


def test_polygonize_output_recorded_under_its_stem_resumes(tmp_path: Path) -> None:
    """Earlier versions named polygonize's record by the output's stem: that record is still the file's."""

    def by_stem(rec: dict) -> None:
        if rec.get("item") == "r_fields.parquet":
            rec["item"] = "r_fields"  # as the earlier version wrote it

    raster = _polygonized_as_before(tmp_path, by_stem)
    code, output = _run("fields", "polygonize", str(raster))
    assert code == 0 and "1 skipped" in output, output
    code, output = _run("fields", "polygonize", str(raster), "--min-area", "10")
    assert code == 2 and "made with other settings (--min-area: 500.0 -> 10.0)" in output, output
    code, output = _run("fields", "polygonize", str(raster), "--overwrite")
    assert code == 0 and "1 polygonized" in output, output
    items = [json.loads(x).get("item") for x in (tmp_path / MANIFEST).read_text().splitlines()]
    assert items.count("r_fields.parquet") == 1 and "r_fields" not in items, items


def test_a_users_file_under_the_output_named_with_o_is_a_usage_error(tmp_path: Path) -> None:
    """README: an output in the way before anything ran is exit 2; `fields polygonize -o mine.parquet` gave 1."""
    pytest.importorskip("geopandas")
    raster = _class_raster(tmp_path / "r.tif")
    (tmp_path / "mine.parquet").write_text("mine")
    code, output = _run("fields", "polygonize", str(raster), "-o", str(tmp_path / "mine.parquet"))
    assert code == 2 and "exists and was not written by this command" in output, output
    assert (tmp_path / "mine.parquet").read_text() == "mine"


def test_polygonize_simplify_typed_at_its_default_resumes(tmp_path: Path) -> None:
    """`--simplify 10` on a 10 m raster is the default's tolerance (one pixel): refused as "--simplify: not given
    -> 10.0, simplify unit: not given -> m" (an internal key; session 107's sweep). It resumes; 20 m is refused
    in metres."""
    pytest.importorskip("geopandas")
    raster = _class_raster(tmp_path / "r.tif")
    assert _run("fields", "polygonize", str(raster))[0] == 0
    code, output = _run("fields", "polygonize", str(raster), "--simplify", "10")
    assert code == 0 and "1 skipped" in output, output
    code, output = _run("fields", "polygonize", str(raster), "--simplify", "20")
    assert code == 2 and "made with other settings (--simplify: 10.0 -> 20.0)" in output, output
    assert "unit" not in output


def test_polygonize_output_of_an_earlier_algorithm_names_only_the_algorithm(tmp_path: Path) -> None:
    """An output of agriseg's polygonize 3 (which recorded --simplify as given: null) was refused naming
    "--simplify: not given -> 10.0, simplify unit: not given -> m" beside the algorithm (session 107's review)."""

    def as_version_3(rec: dict) -> None:
        fp = rec.get("fingerprint")
        if isinstance(fp, dict) and fp.get("command") == "fields polygonize":
            fp["algorithm"], fp["options"]["simplify"] = "3", None
            fp["options"].pop("simplify_unit", None)

    raster = _polygonized_as_before(tmp_path, as_version_3)
    code, output = _run("fields", "polygonize", str(raster))
    said = " ".join(output.split())
    assert code == 2 and "(agriseg's fields polygonize algorithm: version 3 -> 4);" in said, said
