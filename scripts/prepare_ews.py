"""Convert the Eschikon Wheat Segmentation (EWS) patches into agriseg's training layout.

EWS (Zenkl et al., Front. Plant Sci. 12:774068, 2022; ETH Zurich, doi:10.3929/ethz-b-000512332; licence CC BY-SA
4.0) holds 166 hand-annotated 350 x 350 px patches of winter-wheat plots (plant vs soil, pixel-precise) cut from
20 MP nadir photos taken in Switzerland from 2017 to 2020. It is the only public set of tight field outlines we
found whose files sit in a git repository; the crop models train on its ``train`` patches and choose settings
on its ``validation`` patches.

Get the Supervisely-format copy and convert it::

    git clone https://github.com/supervisely-ecosystem/EWS-Dataset-training-data ews-src
    python scripts/prepare_ews.py ews-src -o runs/data/ews

Writes ``<out>/{train,validation}/images/<stem>.png`` (copies) and ``labels/<stem>.png`` in the Peanut colours
(black soil, green plant) so that the configs' colour map reads them. Supervisely stores each object as a bitmap
(base64 of zlib of a PNG) pasted at an origin; that decoding is a few lines, so no Supervisely SDK is needed.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import shutil
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def object_mask(obj: dict, shape: tuple[int, int]) -> np.ndarray:
    """The ``(H, W)`` bool mask of one Supervisely bitmap object."""
    raw = zlib.decompress(base64.b64decode(obj["bitmap"]["data"]))
    with Image.open(io.BytesIO(raw)) as im:
        arr = np.asarray(im.convert("RGBA"))
    on = arr[..., 3] > 0 if im.mode in ("RGBA", "LA", "P") else arr[..., :3].any(-1)
    x, y = obj["bitmap"]["origin"]
    out = np.zeros(shape, bool)
    h, w = min(on.shape[0], shape[0] - y), min(on.shape[1], shape[1] - x)
    out[y : y + h, x : x + w] = on[:h, :w]
    return out


def convert(src: Path, out: Path) -> dict[str, int]:
    """Convert every split found under ``src/project``; returns patches written per split."""
    counts = {}
    for split in ("train", "validation"):
        ann_dir, img_dir = src / "project" / split / "ann", src / "project" / split / "img"
        if not img_dir.is_dir():
            continue
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "labels").mkdir(parents=True, exist_ok=True)
        n = 0
        for img in sorted(img_dir.glob("*.png")):
            ann = json.loads((ann_dir / f"{img.name}.json").read_text())
            shape = (ann["size"]["height"], ann["size"]["width"])
            plant = np.zeros(shape, bool)
            for obj in ann["objects"]:
                if obj.get("geometryType") == "bitmap":
                    plant |= object_mask(obj, shape)
            label = np.zeros((*shape, 3), np.uint8)
            label[plant] = (0, 255, 0)
            shutil.copyfile(img, out / split / "images" / img.name)
            Image.fromarray(label).save(out / split / "labels" / img.name)
            n += 1
        counts[split] = n
    if not counts:
        raise SystemExit(f"{src}: no project/train or project/validation folder (clone the EWS repository)")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="the cloned EWS-Dataset-training-data repository")
    ap.add_argument("-o", "--out", type=Path, default=Path("runs/data/ews"))
    a = ap.parse_args()
    print(convert(a.src, a.out))


if __name__ == "__main__":
    main()
