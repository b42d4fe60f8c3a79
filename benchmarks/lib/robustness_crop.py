"""Does the crop model hold up away from its training conditions? Domain shifts of held-out photos.

No photos of other crops, soils or cameras are available offline, so this applies controlled shifts to the
validation photos of the Peanut split (never trained on) and compares the model with the plain colour
baseline agronomists use (excess green + Otsu threshold per image):

- lighting: gamma 0.5 (bright) and 2.0 (dark), low light + sensor noise;
- camera: warm and cool white balance (per-channel gains), blur, JPEG quality 15;
- distance: 2x2 mosaics (plants at half the pixel size in the model's input), and 3x3;
- soil / plant colour: hue rotation of the whole photo by +-15 degrees.

    python benchmarks/crop_accuracy.py shifts [--model default] [-o runs/bench/robustness_crop.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from agriseg.crop.dataset import read_stem_list
from agriseg.crop.labels import PEANUT_VEGETATION, read_label
from agriseg.data.io import read_rgb
from agriseg.metrics import SegmentationMetrics


def gamma(img: np.ndarray, g: float) -> np.ndarray:
    return (255 * (img / 255.0) ** g).astype(np.uint8)


def gains(img: np.ndarray, r: float, g: float, b: float) -> np.ndarray:
    return (img * np.array([r, g, b])).clip(0, 255).astype(np.uint8)


def hue(img: np.ndarray, deg: float) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(int) + int(deg / 2)) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def lowlight(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = img * 0.25
    return (dark + rng.normal(0, 6, img.shape)).clip(0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


SHIFTS = {
    "none": lambda im, rng: im,
    "bright (gamma 0.5)": lambda im, rng: gamma(im, 0.5),
    "dark (gamma 2.0)": lambda im, rng: gamma(im, 2.0),
    "low light + noise": lowlight,
    "warm white balance": lambda im, rng: gains(im, 1.25, 1.0, 0.75),
    "cool white balance": lambda im, rng: gains(im, 0.8, 1.0, 1.3),
    "blur (sigma 2)": lambda im, rng: cv2.GaussianBlur(im, (0, 0), 2),
    "JPEG q15": lambda im, rng: jpeg(im, 15),
    "hue +15 deg": lambda im, rng: hue(im, 15),
    "hue -15 deg": lambda im, rng: hue(im, -15),
}
MOSAICS = {"farther camera (2x2 mosaic)": 2, "much farther (3x3 mosaic)": 3}


def exg_otsu(img: np.ndarray) -> np.ndarray:
    """Excess green 2g - r - b on chromatic coordinates, thresholded by Otsu per image."""
    from skimage.filters import threshold_otsu

    rgb = img.astype(np.float32)
    s = rgb.sum(-1) + 1e-6
    r, g, b = (rgb[..., i] / s for i in range(3))
    exg = 2 * g - r - b
    return (exg > threshold_otsu(exg)).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="../shared/data/peanut")
    ap.add_argument("--val-list", default="configs/crop/peanut_val.txt")
    ap.add_argument("--limit", type=int, default=60, help="validation photos to use")
    ap.add_argument("-o", "--output", default="runs/bench/robustness_crop.md")
    args = ap.parse_args()
    if Path(args.output).suffix.lower() != ".md":  # the table; its JSON goes beside it (-o x.json lost the table)
        raise SystemExit(f"error: -o {args.output}: the Markdown table (.md); its JSON is written beside it")
    from lib import need

    data = need(args.data, "the Peanut photos and labels (--data)")  # before the model loads
    need(args.val_list, "the list of validation photos, --val-list", hint="run from the project folder")

    from tqdm import tqdm

    from agriseg.crop.predictor import Predictor
    from agriseg.models.io import load_model

    model, cfg = load_model(args.model)
    pred = Predictor(model, cfg.num_classes, cfg.infer_long_side, batch_size=1)
    stems = read_stem_list(args.val_list)[: args.limit]
    photos = [
        (
            read_rgb(data / "images" / f"{s}.jpg"),
            read_label(data / "labels" / f"{s}.png", "colormap", PEANUT_VEGETATION),
        )
        for s in stems
    ]
    rows = {}
    cases = [(n, f, 1) for n, f in SHIFTS.items()] + [(n, SHIFTS["none"], k) for n, k in MOSAICS.items()]
    for name, fn, k in tqdm(cases, desc="shifts"):
        rng = np.random.default_rng(0)
        m_model, m_base = SegmentationMetrics(2), SegmentationMetrics(2)
        for i in range(0, len(photos) - k * k + 1, k * k):
            group = photos[i : i + k * k]
            img = np.concatenate([np.concatenate([g[0] for g in group[r * k : (r + 1) * k]], 1) for r in range(k)], 0)
            lab = np.concatenate([np.concatenate([g[1] for g in group[r * k : (r + 1) * k]], 1) for r in range(k)], 0)
            img = fn(img, rng)
            m_model.update(pred.predict(img), lab)
            m_base.update(exg_otsu(img), lab)
        a, b = m_model.compute(), m_base.compute()
        rows[name] = {
            "model_miou": a["miou"],
            "model_biou": a["biou"],
            "exg_otsu_miou": b["miou"],
            "exg_otsu_biou": b["biou"],
            "images": a["images"],
        }
        print(f"{name:<30} model {100 * a['miou']:6.2f}  ExG+Otsu {100 * b['miou']:6.2f}")
    lines = [
        "| shift | model mIoU | model bIoU | ExG+Otsu mIoU | ExG+Otsu bIoU | images |",
        "|---|---|---|---|---|---|",
    ]
    for n, r in rows.items():
        lines.append(
            f"| {n} | {100 * r['model_miou']:.2f} | {100 * r['model_biou']:.2f} | "
            f"{100 * r['exg_otsu_miou']:.2f} | {100 * r['exg_otsu_biou']:.2f} | {r['images']} |"
        )
    from agriseg.data.files import write_json, write_text

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_text(
        args.output,
        "\n".join(lines) + f"\n\nModel: {args.model}; {len(photos)} Peanut validation photos; bIoU ratio 0.02.\n",
    )
    write_json(Path(args.output).with_suffix(".json"), rows)
