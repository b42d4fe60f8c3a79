"""An option the command would not read is a usage error naming it, never silently ignored (found by a bad-input
sweep in session 58: each of these ran with exit status 0 and did not use the option)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from agriseg.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "src/agriseg/samples/peanut"
EVALUATE = ["crop", "evaluate", "--images", "{images}", "--masks", "{labels}"]
MAP = ["-m", "{tmp}/p.tif", "-o", "{tmp}/p"]
AREA = [
    "--bbox",
    "15,48,15.01,48.01",
    "--win-a-dates",
    "2023-04-01/2023-04-30",
    "--win-b-dates",
    "2023-08-01/2023-08-31",
]
DEPTH_FILES = ["crop", "pseudolabel", "{images}", "-o", "{tmp}/p", "--source", "depth", "--depth-dir", "{tmp}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [*EVALUATE, "--colormap", "0,0,0=0"],
            "--colormap is read with --label-mode colormap only (not binary)",
        ),
        (
            [*EVALUATE, "--peanut", "--colormap", "0,0,0=0"],
            "--peanut and --colormap: give one",
        ),
        (
            ["crop", "pseudolabel", "{images}", "-o", "{tmp}/p", "--depth-dir", "{tmp}"],
            "depth files are read with --source depth only",
        ),
        (  # session 62's sweep: model options beside saved masks, a label mode beside --peanut, depth options
            # with a colour index and the other way round
            [*EVALUATE, "--pred-masks", "{tmp}", "--tta", "flip"],
            "--tta: not read with --pred-masks (no model runs)",
        ),
        (
            [*EVALUATE, "--pred-masks", "{tmp}", "-m", "x"],
            "--model: not read with --pred-masks",
        ),
        (
            [*EVALUATE, "--peanut", "--label-mode", "binary"],
            "--label-mode: not read with --peanut",
        ),
        (["crop", "pseudolabel", "{images}", "-o", "{tmp}/p", "--device", "cpu"], "--device: read with --source depth"),
        (
            ["crop", "pseudolabel", "{images}", "-o", "{tmp}/p", "--depth-convention", "inverse"],
            "--depth-convention: read with --source depth only",
        ),
        ([*DEPTH_FILES, "--index", "exg"], "--index: read with --source index only"),
        ([*DEPTH_FILES, "--depth-model", "m"], "--depth-model: not read with --depth-dir"),
        (
            ["crop", "make-synthetic", "discs", "-o", "{tmp}/d", "-n", "1", "--layouts", "pots"],
            "--layouts: options of lab scenes; discs photos do not use them",
        ),
        (["fields", "polygonize", "{tmp}/p.tif", "--landcover-keep", "40"], "--landcover-keep: land-cover classes"),
        (["text", "suggest-sizes", "--size", "64", "--min-object", "5"], "--min-object needs --resolution"),
        # session 78's sweep of the fields commands
        (["fields", "polygonize", "{tmp}/p.tif", "--landcover-min-fraction", "0.3"], "read with --landcover only"),
        (
            [
                "fields",
                "polygonize",
                "{tmp}/p.tif",
                "--landcover",
                "{tmp}/p.tif",
                "--landcover-keep",
                "40",
                "--landcover-drop",
                "50",
            ],
            "--landcover-drop: not read with --landcover-keep",
        ),  # fmt: skip
        (["fields", "map", "{tmp}/p.tif", *MAP, "--serial", "--workers", "3"], "--workers: not read with --serial"),
        (["fields", "map", "{tmp}/p.tif", *MAP, "--threads", "2"], "--threads: read with --serial only"),
        (
            ["fields", "map", "{tmp}/p.tif", *MAP, "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
            "--workers: not read with --scheduler",
        ),
        (["fields", "map", "{tmp}/p.tif", *MAP, "--cloud-max", "50"], "--cloud-max: read with --areas only"),
        (["fields", "map", "{tmp}/p.tif", *MAP, "--year", "2023"], "--year: read with --areas only"),
        (["fields", "download", "-o", "{tmp}/d.tif", *AREA, "--year", "2023"], "--year: read with --season auto only"),
        (
            ["fields", "download", "-o", "{tmp}/d.tif", *AREA, "--win-a", "S2B_X", "--win-b", "S2B_Y"],
            "--win-a-dates: not read with --win-a (its items are downloaded",
        ),
        # session 66's config sweep: read by nothing, yet recorded in the fingerprint (a re-run with another
        # value was refused as "made with other settings")
        (["crop", "traits", "{images}", "-o", "{tmp}/p", "--join", "5"], "--join: not read without --grid or"),
        (
            ["text", "predict", "{images}", "-m", "m", "-o", "{tmp}/p", "--temperature", "0.3"],
            "--temperature: not read with greedy decoding (add --sample)",
        ),
        (
            ["text", "predict", "{images}", "-m", "m", "-o", "{tmp}/p", "--blend", "count"],
            "--blend: not read with --overlap 0",
        ),
        (["text", "predict", "{images}", "-m", "m", "-o", "{tmp}/p", "--classes", ","], "no class words"),
        # session 91's sweep: fields predict took --blend with --overlap 0 without a word
        (
            ["fields", "predict", "{tmp}/p.tif", *MAP, "--overlap", "0", "--blend", "mean"],
            "--blend: not read with --overlap 0",
        ),
        # session 79's sweep of the crop commands
        (
            ["crop", "adapt", "{images}", "-o", "{tmp}/p.safetensors", "--combine", "none", "--confidence", "0.95"],
            "--confidence: read with --combine confident only",
        ),
        (
            ["crop", "adapt", "{images}", "-o", "{tmp}/p.safetensors", "--depth-model", "foo"],
            "--depth-model: read with --source depth only",
        ),
        (["crop", "traits", "{tmp}/m", "-o", "{tmp}/p", "--model", "crop-weed"], "--model crop-weed: not read, every"),
        (
            ["crop", "plots", "{images}", "--plots", "{tmp}/r.csv", "-o", "{tmp}/p", "--window", "64"],
            "--window: {tmp}/r.csv is a regions CSV of photos, each segmented whole",
        ),
        (
            ["crop", "plots", "{images}", "--plots", "{tmp}/r.csv", "-o", "{tmp}/p", "--meta", "tray_camera"],
            "--meta tray_camera: no date field",
        ),
        # session 79's sweep of the other fields commands
        (["fields", "robustness", "-m", "m", "--root", "{tmp}", "--chip", "512"], "--chip: read with --scene only"),
        (
            ["fields", "robustness", "-m", "m", "--scene", "{tmp}/p.tif", "--countries", "kenya"],
            "--countries: read with --root only",
        ),
        (["fields", "change", "{tmp}/p.tif", "{tmp}/p.tif", "-o", "{tmp}/p", "--min-area", "5"], "--min-area: read"),
        (["fields", "export", "{tmp}/p.tif", "-o", "{tmp}/p", "--opset", "11"], "--opset: read for an .onnx output"),
        (["fields", "make-synthetic", "{tmp}/d", "-o", "{tmp}/p"], "give the folder once, as -o"),
        (["fields", "make-synthetic", "-o", "{tmp}/p", "--countries", "Austria:1,austria:2"], "austria given twice"),
    ],
)
def test_an_option_the_command_would_not_read_is_refused(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "p.tif").write_bytes(b"")
    (tmp_path / "r.csv").write_text("id,x,y,width,height\nA,0,0,10,10\n")
    (tmp_path / "m").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "m" / "a_mask.png")
    fill = {"images": str(SAMPLES / "images"), "labels": str(SAMPLES / "labels"), "tmp": str(tmp_path)}
    res = CliRunner().invoke(main, [a.format(**fill) for a in args])
    assert res.exit_code == 2, res.output
    assert message.format(**fill) in res.output and "Traceback" not in res.output
    assert not (tmp_path / "d").exists() and not (tmp_path / "p").exists()
