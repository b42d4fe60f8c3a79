"""The base install: crop predict / evaluate / traits without PyTorch, and one line for a missing extra.

Each command runs in a fresh process (imports are per process). Modules of an extra can be hidden from it,
so the full environment also checks what a base install does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# what the base install lacks (the train, geo, fields, text and depth extras)
EXTRA_MODULES = (
    "torch",
    "torchvision",
    "timm",
    "segmentation_models_pytorch",
    "lightning",
    "albumentations",
    "cv2",
    "onnx",
    "matplotlib",
    "rasterio",
    "geopandas",
    "shapely",
    "dask",
    "transformers",
)

# the modules of ``hide`` made unimportable in a new process, as in an install without them
HIDE = """
import importlib.abc, json, sys
hidden = set({hide!r})

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Hide())
"""

RUNNER = (
    HIDE
    + """
from agriseg.cli import main
try:
    main({args!r}, prog_name="agriseg")
finally:
    with open({modules!r}, "w") as f:
        json.dump(sorted(sys.modules), f)
"""
)


def _env() -> dict[str, str]:
    """This environment, with the checkout's sources first on the path."""
    return {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_agriseg(args: list[str], tmp_path: Path, hide: tuple[str, ...] = ()) -> tuple[int, str, str, set[str]]:
    """Exit code, stdout, stderr and imported modules of ``agriseg ARGS`` in a new process, ``hide`` unimportable."""
    modules = tmp_path / "modules.json"
    code = RUNNER.format(hide=tuple(hide), args=args, modules=str(modules))
    env = _env()
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr, set(json.loads(modules.read_text()))


def only_progress(stderr: str, desc: str) -> bool:
    """True when stderr holds nothing but tqdm's bar (``desc: ...`` updates separated by carriage returns)."""
    parts = [p.strip() for p in stderr.replace("\r", "\n").splitlines() if p.strip()]
    return all(p.startswith(f"{desc}:") for p in parts)


@pytest.mark.parametrize("hide", [(), EXTRA_MODULES], ids=["installed", "hidden"])
def test_crop_predict_runs_without_torch_and_writes_only_its_progress_bar(samples_dir, tmp_path, hide) -> None:
    photo = samples_dir / "peanut" / "images" / "0003.jpg"
    rc, out, err, modules = run_agriseg(["crop", "predict", str(photo), "-o", "out"], tmp_path, hide)
    assert rc == 0, err
    assert not {m.split(".")[0] for m in modules} & set(EXTRA_MODULES), "an extra's module was imported"
    assert only_progress(err, "predict"), f"stderr beyond the progress bar: {err!r}"
    assert (tmp_path / "out" / "0003_mask.png").is_file() and "1 predicted" in out


def test_evaluate_and_traits_run_without_the_extras(samples_dir, tmp_path) -> None:
    images, labels = samples_dir / "peanut" / "images", samples_dir / "peanut" / "labels"
    args = ["crop", "evaluate", "--images", str(images), "--masks", str(labels), "--peanut", "-o", "r.json"]
    rc, out, err, modules = run_agriseg(args, tmp_path, EXTRA_MODULES)
    assert rc == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["miou"] > 0.8
    assert "torch" not in modules and only_progress(err, "evaluate"), err
    rc, out, err, modules = run_agriseg(["crop", "traits", str(images), "-o", "traits"], tmp_path, EXTRA_MODULES)
    assert rc == 0, err
    assert "torch" not in modules and (tmp_path / "traits" / "traits.csv").is_file()


@pytest.mark.parametrize(
    "args, line",
    [
        (["crop", "train", "-c", "train.yaml"], 'crop train needs PyTorch: pip install "agriseg[train]"'),
        (["crop", "adapt", "photos", "-o", "m.safetensors"], 'crop adapt needs PyTorch: pip install "agriseg[train]"'),
        (
            ["crop", "plots", "m.tif", "--plots", "p.gpkg", "-o", "out"],
            'crop plots needs the geospatial libraries: pip install "agriseg[geo]"',
        ),
        (
            ["fields", "import-checkpoint", "x.ckpt"],
            'fields import-checkpoint needs PyTorch and the geospatial libraries: pip install "agriseg[fields]"',
        ),
        (["text", "sft", "-c", "x.yaml"], 'text sft needs PyTorch and transformers: pip install "agriseg[text]"'),
    ],
)
def test_a_command_without_its_extra_prints_the_install_line_and_exits_2(tmp_path, args, line) -> None:
    rc, out, err, _ = run_agriseg(args, tmp_path, EXTRA_MODULES)
    assert rc == 2 and err.strip() == line, err


def test_running_a_model_in_pytorch_without_it_names_the_train_extra(samples_dir, tmp_path) -> None:
    photo = samples_dir / "peanut" / "images" / "0003.jpg"
    rc, _, err, _ = run_agriseg(["crop", "predict", str(photo), "-o", "o", "--optimize", "none"], tmp_path, ("torch",))
    assert rc == 2 and err.strip().endswith('needs PyTorch: pip install "agriseg[train]"'), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # crop traits failed each photo with "internal error (MissingExtra: ...) this is a bug" (session 73's sweep)
    rc, _, err, _ = run_agriseg(["crop", "traits", str(photo), "-o", "t", "-m", "default@4"], tmp_path, ("torch",))
    assert rc == 2 and err.strip().endswith('needs PyTorch: pip install "agriseg[train]"'), err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1
    # --precision bf16 said it runs in PyTorch, then that PyTorch is missing: two lines (session 99's sweep)
    rc, _, err, _ = run_agriseg(["crop", "predict", str(photo), "-o", "b", "--precision", "bf16"], tmp_path, ("torch",))
    assert rc == 2 and len(err.strip().splitlines()) == 1 and err.strip().endswith('"agriseg[train]"'), err


def test_every_help_works_without_the_extras_and_names_the_extra(tmp_path) -> None:
    code = """
import click
from agriseg.cli import main

def walk(cmd, path):
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from walk(sub, path + [name])
    else:
        yield path, cmd

for path, cmd in walk(main, []):
    try:
        main(path + ["--help"], prog_name="agriseg")
    except SystemExit as e:
        assert e.code == 0, (path, e.code)
    print("CMD", "|".join(path), "agriseg[" in (cmd.help or ""))
"""
    runner = RUNNER.split("from agriseg.cli import main")[0].format(hide=EXTRA_MODULES)
    env = _env()
    proc = subprocess.run([sys.executable, "-c", runner + code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = dict(line[4:].rsplit(" ", 1) for line in proc.stdout.splitlines() if line.startswith("CMD "))
    base = {"crop|predict", "crop|evaluate", "crop|traits", "crop|screen", "crop|models|list", "crop|models|show"}
    assert base <= names.keys() and len(names) > 30
    for name, needs in names.items():
        assert needs == ("False" if name in base else "True"), name


API_RUNNER = (
    HIDE
    + """
from agriseg.extras import MissingExtra
for call in (
    "from agriseg.fields import ScenePredictor",
    "from agriseg.models import build_model; build_model()",
    "from agriseg.raster import open_scene; open_scene('scene.tif')",
    "from agriseg.vector import polygonize; polygonize('classes.tif')",
):
    try:
        exec(call)
    except MissingExtra as err:
        print("missing:", err)
"""
)


def test_python_names_of_an_extra_say_what_to_install() -> None:
    """In the base install, `from agriseg.fields import ScenePredictor` and `build_model()` gave a bare
    `No module named 'torch'`; they say which extra to install, as the commands do."""
    env = _env()
    code = API_RUNNER.format(hide=EXTRA_MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == [
        "missing: agriseg.fields.ScenePredictor needs PyTorch and the geospatial libraries: "
        'pip install "agriseg[fields]"',
        'missing: build_model needs PyTorch: pip install "agriseg[train]"',
        *['missing: reading GeoTIFF scenes (agriseg.raster) needs the geospatial libraries: pip install "agriseg[geo]"']
        * 2,  # session 87's API sweep: a bare "No module named 'rasterio'"
    ], out.stdout


@pytest.mark.parametrize("group", ["crop", "fields"])
def test_a_train_config_error_comes_before_lightning_loads(tmp_path: Path, group: str) -> None:
    """A typo in the config path took 8-16 s to be said: Lightning was imported before the config was read."""
    pytest.importorskip("lightning", reason="the base install says the extra is missing first")
    code, _, err, modules = run_agriseg([group, "train", "-c", str(tmp_path / "nope.yaml")], tmp_path)
    assert code == 2 and "nope.yaml: config file not found" in err, err
    assert "lightning" not in modules and "torch" not in modules


def test_the_onnx_export_script_without_pytorch_names_the_train_extra(tmp_path) -> None:
    """``scripts/export_onnx.py`` in the base install ended in onnx's ModuleNotFoundError traceback (session 99)."""
    code = HIDE.format(hide=("torch", "onnx")) + (
        "import runpy, sys\n"
        f"sys.argv = ['export_onnx.py', 'default', '-o', {str(tmp_path / 'x.onnx')!r}]\n"
        f"runpy.run_path({str(REPO / 'scripts' / 'export_onnx.py')!r}, run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == 'error: exporting a model to ONNX needs PyTorch: pip install "agriseg[train]"'
