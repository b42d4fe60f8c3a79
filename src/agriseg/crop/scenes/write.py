"""Write generated sets to folders: ``images/`` (JPEG), ``labels/`` (PNG in the Peanut colours) and a JSON index.

Labels use the Peanut colour code (black background, green crop, red weed), so ``agriseg crop evaluate
--peanut`` and the training configs read them like the Peanut labels. Synthetic plants are green (vegetation).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from tqdm import tqdm

from agriseg.crop.scenes.lab import BACKGROUNDS, LabSettings, lab_scene, uniform_frame
from agriseg.crop.scenes.shapes import ShapeSettings, disc_photo, plant_photo, plant_records
from agriseg.crop.scenes.sources import plant_cutouts, read_pair, soil_canvas
from agriseg.data.files import atomic_write, write_json

SetKind = Literal["discs", "plants", "lab"]
PEANUT_RGB = np.array([[0, 0, 0], [0, 255, 0], [255, 0, 0]], np.uint8)  # class id -> colour


def _save(outdir: Path, name: str, rgb: np.ndarray, classes: np.ndarray) -> None:
    for sub, im, suffix, kw in (
        ("images", Image.fromarray(rgb), ".jpg", {"quality": 92}),
        ("labels", Image.fromarray(PEANUT_RGB[np.minimum(classes, 2)]), ".png", {}),
    ):
        path = outdir / sub / f"{name}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            im.save(tmp, format="JPEG" if suffix == ".jpg" else "PNG", **kw)


def load_sources(
    images: Path, labels: Path, stems: Iterable[str], refine_band: int = 3, cutouts: bool = True
) -> tuple[list, list[np.ndarray]]:
    """Plant cut-outs (boundary-refined labels) and soil canvases of the given labelled photos."""
    cuts: list = []
    soils: list[np.ndarray] = []
    for stem in tqdm(list(stems), desc="sources", unit="photo", leave=False):
        rgb, lab = read_pair(images, labels, stem, refine_band)
        canvas = soil_canvas(rgb, lab)
        if canvas is not None:
            soils.append(canvas)
        if cutouts:
            cuts += plant_cutouts(rgb, lab, stem)
    return cuts, soils


def write_set(
    kind: SetKind,
    outdir: str | Path,
    images: str | Path,
    labels: str | Path,
    stems: list[str],
    n: int = 20,
    seed: int = 0,
    uniform_frames: bool = False,
    layouts: tuple[str, ...] | None = None,
    plant_colours: str = "mild",
) -> Path:
    """Generate ``n`` photos of one kind from the labelled photos ``stems`` and write them to ``outdir``.

    Args:
        kind: ``discs`` (six discs of radius 30 px on soil), ``plants`` (synthetic plants of known area on
            soil, :mod:`~agriseg.crop.scenes.shapes`) or ``lab`` (cut-out plants on lab scenes,
            :mod:`~agriseg.crop.scenes.lab`).
        outdir: output folder (``images/``, ``labels/``, ``index.json``).
        images: folder of the source photos.
        labels: folder of their Peanut-coloured labels.
        stems: which source photos to use.
        n: number of photos.
        seed: seed of the generator (photo ``i`` uses ``seed + i``).
        uniform_frames: ``lab`` only: also write one plain frame of each background colour.
        layouts: ``lab`` only: scene layouts to draw from (default: the four lab layouts; ``field`` adds
            plants scattered on soil).
        plant_colours: ``lab`` only: ``mild`` or ``wide`` recolouring of the pasted plants
            (:class:`~agriseg.crop.scenes.lab.LabSettings`).

    Returns:
        The ``index.json`` path (per photo: what it holds; for ``plants``, every plant's true area).

    Raises:
        ValueError: when the source photos give no soil canvas (all too green) or, for ``lab``, no plant.
    """
    outdir, images, labels = Path(outdir), Path(images), Path(labels)
    cuts, soils = load_sources(images, labels, stems, cutouts=kind == "lab")
    if not soils and kind != "lab":
        raise ValueError(f"{images}: none of the {len(stems)} photos has enough bare soil for a canvas")
    if kind == "lab" and not cuts:
        raise ValueError(f"{images}: none of the {len(stems)} photos has a whole plant to cut out")
    index: dict = {"kind": kind, "seed": seed, "sources": sorted(stems), "photos": {}}
    for i in tqdm(range(n), desc=f"{kind} photos", unit="photo"):
        rng = np.random.default_rng(seed + i)
        name = f"{kind}_{seed + i:05d}"
        soil = soils[int(rng.integers(len(soils)))] if soils else None
        if kind == "discs":
            assert soil is not None
            rgb, truth, plants = disc_photo(soil, seed=seed + i, size=(960, 720))
            index["photos"][name] = {"plants": plant_records(plants), "touching": False}
        elif kind == "plants":
            assert soil is not None
            rgb, truth, plants, touching = plant_photo(soil, rng, ShapeSettings())
            index["photos"][name] = {"plants": plant_records(plants), "touching": touching}
        else:
            settings = LabSettings(plant_colours=plant_colours)  # type: ignore[arg-type]
            if layouts:
                settings.layouts = tuple(layouts)  # type: ignore[assignment]
            rgb, truth, info = lab_scene(rng, cuts, soils, settings)
            index["photos"][name] = info
        _save(outdir, name, rgb, truth)
    if kind == "lab" and uniform_frames:
        for j, colour in enumerate(BACKGROUNDS):
            rgb = uniform_frame(colour, seed=seed + n + j)
            name = f"uniform_{colour}"
            _save(outdir, name, rgb, np.zeros(rgb.shape[:2], np.uint8))
            index["photos"][name] = {"background": colour, "layout": "uniform", "plants": 0}
    return write_json(outdir / "index.json", index)
