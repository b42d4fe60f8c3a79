"""How tight are crop masks, on soil and in the lab? Edge bias, lab backgrounds and an independent set.

Sets (committed under ``benchmarks/data/``, generated once by ``agriseg crop make-synthetic`` from the Peanut
*validation* photos, never used for training or model selection):

- ``edge_plants``: 40 photos of synthetic plants of known area (discs, ellipses, lobed rosettes, two leaves on a
  thin stem; 1-5 plants, touching in some photos; shadows; 640-1440 px) on real Peanut soil
  (``make-synthetic plants --stems configs/crop/peanut_val.txt -n 40 --seed 10000``);
- ``lab_set``: 30 lab scenes (Peanut plants cut out by their boundary-refined labels on white, grey, blue and
  black backgrounds, pots, trays, frames, labels, reflections) and four plain frames
  (``make-synthetic lab --stems configs/crop/peanut_val.txt -n 30 --seed 20000 --uniform-frames``);
- ``peanut``: the 60 Peanut validation photos (needs ``../shared``), against their own (generous) labels, and
  against boundary-refined labels (circular for a model trained on refined labels: reported, not a bar);
- ``--independent DIR``: a labelled set from elsewhere (``images/``, ``labels/`` with 0 background, 255
  vegetation, 128 ignore).

Methods, in the same run: every ``--models`` entry as a user runs it (``agriseg crop predict`` and, for per-plant
areas, ``agriseg crop traits --split-depth 0``, whole processes), CIVE + Otsu and ExG + Otsu, and PlantCV's
threshold workflow (LAB a* + Otsu + fill of objects under 50 px) in its own environment
(``python -m venv /tmp/plantcv-venv && /tmp/plantcv-venv/bin/pip install plantcv``).

    python benchmarks/crop_edge_bias.py --models default@3 default crop-weed -o benchmarks/results/crop_edge_bias.json
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from agriseg.crop.dataset import read_stem_list  # noqa: E402
from agriseg.crop.labels import PEANUT_CROP_WEED, read_label  # noqa: E402
from agriseg.crop.pseudolabel.indices import cive, exg  # noqa: E402
from agriseg.crop.refine import refine_labels  # noqa: E402
from agriseg.data.files import write_json  # noqa: E402
from agriseg.data.io import read_rgb  # noqa: E402
from agriseg.metrics import SegmentationMetrics  # noqa: E402

RATIOS = (0.005, 0.02)
BUCKETS = ((0, 15), (15, 25), (25, 40), (40, 1e9))
INFER_LONG_SIDE = 800
PLANTCV_SCRIPT = r"""
import sys
from pathlib import Path
import numpy as np
from PIL import Image
from plantcv import plantcv as pcv

pcv.params.debug = None
out = Path(sys.argv[1])
for f in sys.argv[2:]:
    img = np.asarray(Image.open(f).convert("RGB"))[..., ::-1].copy()  # PlantCV works in BGR
    a = pcv.rgb2gray_lab(rgb_img=img, channel="a")
    mask = pcv.threshold.otsu(gray_img=a, object_type="dark")
    mask = pcv.fill(bin_img=mask, size=50)
    Image.fromarray((mask > 0).astype(np.uint8) * 255).save(out / (Path(f).stem + ".png"))
"""


def truth_of(path: Path) -> np.ndarray:
    """Truth vegetation as uint8 0 / 1 / 255 (ignore) from a Peanut-coloured or a 0/128/255 label."""
    with Image.open(path) as im:
        if im.mode in ("RGB", "RGBA", "P"):
            lab = read_label(path, "colormap", PEANUT_CROP_WEED)
            return np.where(lab == 255, 255, (lab > 0)).astype(np.uint8)
        arr = np.asarray(im.convert("L"))
    return np.where(arr == 128, 255, arr > 128).astype(np.uint8)


def index_mask(rgb: np.ndarray, name: str) -> np.ndarray:
    """Vegetation by Otsu's threshold on CIVE or ExG (larger = greener for both here)."""
    v = cive(rgb) if name == "cive" else exg(rgb)
    return v > threshold_otsu(v)


def agriseg_masks(model: str, images: Path, work: Path) -> dict[str, np.ndarray]:
    """``agriseg crop predict`` as a user runs it; stem -> vegetation mask (bool)."""
    out = work / "pred"
    subprocess.run(
        ["agriseg", "crop", "predict", str(images), "-o", str(out), "--model", model, "--no-overlay"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return {p.name[: -len("_mask.png")]: np.asarray(Image.open(p)) > 0 for p in out.glob("*_mask.png")}


def agriseg_classes(work: Path) -> dict[str, np.ndarray]:
    """Class maps written by the last ``agriseg_masks`` call of a multi-class model."""
    return {p.name[: -len("_classes.png")]: np.asarray(Image.open(p)) for p in (work / "pred").glob("*_classes.png")}


def agriseg_plants(model: str, images: Path, work: Path) -> dict[str, list[dict]]:
    """``agriseg crop traits --split-depth 0``; stem -> plants (area, centroid)."""
    out = work / "traits"
    subprocess.run(
        ["agriseg", "crop", "traits", str(images), "-o", str(out), "--model", model, "--split-depth", "0"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    res = {}
    for p in out.glob("*_traits.json"):
        rec = json.loads(p.read_text())
        res[p.name[: -len("_traits.json")]] = rec.get("plants", [])
    return res


def plantcv_masks(images: Path, work: Path, python: str) -> dict[str, np.ndarray] | None:
    """PlantCV's LAB a* + Otsu + fill workflow in its own environment; None when it is not installed."""
    if not Path(python).exists():
        return None
    out = work / "plantcv"
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p) for p in images.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    subprocess.run([python, "-c", PLANTCV_SCRIPT, str(out), *files], check=True, stdout=subprocess.DEVNULL)
    return {p.stem: np.asarray(Image.open(p)) > 0 for p in out.glob("*.png")}


def pixel_scores(preds: dict[str, np.ndarray], truths: dict[str, np.ndarray]) -> dict:
    """Pooled mIoU, vegetation IoU, boundary IoU (each ratio) and the predicted / true vegetation area."""
    mets = {r: SegmentationMetrics(2, r, 255, ["background", "vegetation"]) for r in RATIOS}
    pa = ta = 0
    ratios = []
    for stem, t in truths.items():
        p = preds[stem].astype(np.uint8)
        for m in mets.values():
            m.update(p, t)
        keep = t != 255
        pa += int(p[keep].sum())
        ta += int((t[keep] == 1).sum())
        if (t == 1).any():
            ratios.append(float(p[keep].sum() / (t[keep] == 1).sum()))
    res = {r: m.compute() for r, m in mets.items()}
    first = res[RATIOS[0]]
    out = {
        "miou": 100 * first["miou"],
        "iou_vegetation": 100 * first["per_class_iou"]["vegetation"],
        "area_ratio_total": pa / ta if ta else None,
        "area_ratio_median": float(np.median(ratios)) if ratios else None,
    }
    for r in RATIOS:
        out[f"biou_{r}"] = 100 * res[r]["biou"]
    return out


def plant_scores(
    truths: dict[str, np.ndarray],
    index: dict,
    preds: dict[str, np.ndarray] | None = None,
    plants: dict[str, list[dict]] | None = None,
) -> dict:
    """Per true object (touching plants form one): predicted / true area, by size bucket; plant counts.

    A prediction's area for an object is its vegetation inside the object grown by 8 px (plants that do not
    touch are at least 12 px apart), from the mask (``preds``) or from the plants of ``crop traits``
    (``plants``: the areas of the plants whose centroid falls there). Counts compare the number of objects with
    the number of predicted plants (components of at least 50 px for masks) in photos whose plants do not touch.
    """
    ratios: list[tuple[float, float]] = []  # (equivalent radius at the inference scale, ratio)
    exact = photos = 0
    for stem, t in truths.items():
        objs, n = ndi.label(t == 1, structure=np.ones((3, 3)))
        scale = INFER_LONG_SIDE / max(t.shape)
        zones = [ndi.binary_dilation(objs == i, iterations=8) for i in range(1, n + 1)]
        for i, zone in enumerate(zones, start=1):
            area = float((objs == i).sum())
            if preds is not None:
                got = float((preds[stem] & zone).sum())
            else:
                got = sum(
                    p["area"]
                    for p in (plants or {}).get(stem, [])
                    if zone[min(t.shape[0] - 1, round(p["centroid_y"])), min(t.shape[1] - 1, round(p["centroid_x"]))]
                )
            ratios.append((math.sqrt(area / math.pi) * scale, got / area))
        if not index["photos"][stem].get("touching", False):
            photos += 1
            if preds is not None:
                comps, m = ndi.label(preds[stem], structure=np.ones((3, 3)))
                count = int((np.bincount(comps.ravel())[1:] >= 50).sum())
            else:
                count = len((plants or {}).get(stem, []))
            exact += count == n
    arr = np.array(ratios)
    out = {"objects": len(ratios), "median_ratio": float(np.median(arr[:, 1])), "photos_exact_count": exact}
    out["photos_not_touching"] = photos
    for lo, hi in BUCKETS:
        sel = arr[(arr[:, 0] >= lo) & (arr[:, 0] < hi), 1]
        key = f"r{lo}-{int(hi)}" if hi < 1e9 else f"r>={lo}"
        out[key] = {"n": int(sel.size), "median_ratio": float(np.median(sel)) if sel.size else None}
    return out


def load_set(root: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Truth masks of a generated set and its index."""
    index = json.loads((root / "index.json").read_text())
    truths = {p.stem: truth_of(p) for p in sorted((root / "labels").glob("*.png"))}
    return truths, index


def baseline_masks(images: Path, stems: list[str], work: Path, plantcv: str) -> dict[str, dict[str, np.ndarray]]:
    """CIVE + Otsu, ExG + Otsu and PlantCV's workflow for every photo of a folder."""
    files = {p.stem: p for p in images.iterdir() if p.stem in stems}
    out = {name: {s: index_mask(read_rgb(files[s]), name) for s in stems} for name in ("cive", "exg")}
    pcv = plantcv_masks(images, work, plantcv)
    if pcv is not None:
        out["plantcv"] = pcv
    return {f"{k}+otsu" if k != "plantcv" else k: v for k, v in out.items()}


def evaluate_set(name: str, images: Path, truths: dict, index: dict | None, models: list[str], work: Path, a) -> dict:
    """Every method on one set."""
    stems = sorted(truths)
    res: dict = {}
    methods = {m: agriseg_masks(m, images, work / name / m.replace("/", "_")) for m in models}
    methods.update(baseline_masks(images, stems, work / name, a.plantcv_python))
    for m, preds in methods.items():
        r = {"pixels": pixel_scores(preds, truths)}
        if name == "plants" and index is not None:
            r["objects_mask"] = plant_scores(truths, index, preds=preds)
            if m in models:
                plants = agriseg_plants(m, images, work / name / m.replace("/", "_"))
                r["objects_traits"] = plant_scores(truths, index, plants=plants)
        if name == "lab":
            ious, fractions = {}, {}
            for s in stems:
                t, p = truths[s], preds[s]
                if (t == 1).any():
                    ious[s] = float((p & (t == 1)).sum() / (p | (t == 1)).sum())
                else:
                    fractions[s] = float(p.mean())
            r["per_photo_iou"] = ious
            r["median_iou"] = float(np.median(list(ious.values())))
            r["min_iou"] = float(min(ious.values()))
            r["empty_frames_vegetation"] = fractions
        res[m] = r
    if name == "lab" and "exg+otsu" in res:
        exg_iou = res["exg+otsu"]["per_photo_iou"]
        for m in models:
            own = res[m]["per_photo_iou"]
            res[m]["photos_below_exg"] = sorted(s for s in own if own[s] < exg_iou[s])
    return res


def peanut(models: list[str], shared: Path, work: Path, a) -> dict:
    """The Peanut validation photos against their own labels and against boundary-refined labels."""
    val = read_stem_list(REPO / "configs/crop/peanut_val.txt")
    img_dir = work / "peanut_images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for s in val:
        dst = img_dir / f"{s}.jpg"
        if not dst.exists():
            dst.symlink_to((shared / "images" / f"{s}.jpg").resolve())
    own, refined, cw = {}, {}, {}
    for s in val:
        lab = read_label(shared / "labels" / f"{s}.png", "colormap", PEANUT_CROP_WEED)
        cw[s] = lab
        own[s] = (lab > 0).astype(np.uint8)
        refined[s] = (refine_labels(read_rgb(img_dir / f"{s}.jpg"), lab, 3) > 0).astype(np.uint8)
    res: dict = {}
    methods = {m: agriseg_masks(m, img_dir, work / "peanut" / m.replace("/", "_")) for m in models}
    classes = {m: agriseg_classes(work / "peanut" / m.replace("/", "_")) for m in models}
    methods.update({k: v for k, v in baseline_masks(img_dir, val, work / "peanut", a.plantcv_python).items()})
    for m, preds in methods.items():
        res[m] = {"own_labels": pixel_scores(preds, own), "refined_labels": pixel_scores(preds, refined)}
        if classes.get(m):
            met = SegmentationMetrics(3, 0.02, 255, ["background", "crop", "weed"])
            for s in val:
                met.update(classes[m][s], cw[s])
            c = met.compute()
            res[m]["crop_weed"] = {"miou": 100 * c["miou"], **{k: 100 * v for k, v in c["per_class_iou"].items()}}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["default@3", "default", "crop-weed@3", "crop-weed"])
    ap.add_argument("--sets", nargs="+", default=["plants", "lab", "peanut"], choices=["plants", "lab", "peanut"])
    ap.add_argument("--plants-dir", type=Path, default=REPO / "benchmarks/data/edge_plants")
    ap.add_argument("--lab-dir", type=Path, default=REPO / "benchmarks/data/lab_set")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared/data/peanut")
    ap.add_argument("--independent", type=Path, default=None, help="images/ + labels/ (0, 255, 128 ignore)")
    ap.add_argument("--plantcv-python", default="/tmp/plantcv-venv/bin/python")
    ap.add_argument("-o", "--output", type=Path, default=REPO / "benchmarks/results/crop_edge_bias.json")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edge_bias_"))
    out: dict = {"models": a.models, "ratios": list(RATIOS), "plantcv": Path(a.plantcv_python).exists()}
    try:
        for name, root in (("plants", a.plants_dir), ("lab", a.lab_dir)):
            if name in a.sets:
                truths, index = load_set(root)
                out[name] = evaluate_set(name, root / "images", truths, index, a.models, work, a)
        if "peanut" in a.sets and a.shared.is_dir():
            out["peanut"] = peanut(a.models, a.shared, work, a)
        if a.independent:
            truths = {p.stem: truth_of(p) for p in sorted((a.independent / "labels").glob("*.png"))}
            out["independent"] = evaluate_set("independent", a.independent / "images", truths, None, a.models, work, a)
            out["independent_dir"] = str(a.independent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write_json(a.output, out)
    print(summary(out))


def summary(out: dict) -> str:
    """A short text table of the headline numbers."""
    lines = []
    for name in ("plants", "lab", "independent"):
        for m, r in out.get(name, {}).items():
            px = r["pixels"]
            line = f"{name:11s} {m:14s} mIoU {px['miou']:6.2f} bIoU.005 {px['biou_0.005']:6.2f} "
            line += f"bIoU.02 {px['biou_0.02']:6.2f} area {px['area_ratio_total']:.3f}"
            if "objects_traits" in r:
                o = r["objects_traits"]
                line += f" | traits plant area x{o['median_ratio']:.3f} exact counts {o['photos_exact_count']}/"
                line += f"{o['photos_not_touching']}"
            elif "objects_mask" in r:
                line += f" | mask plant area x{r['objects_mask']['median_ratio']:.3f}"
            if "median_iou" in r:
                line += f" | lab IoU median {r['median_iou']:.3f} min {r['min_iou']:.3f}"
                line += f" empty max {max(r['empty_frames_vegetation'].values(), default=0):.4f}"
            lines.append(line)
    for m, r in out.get("peanut", {}).items():
        own, ref = r["own_labels"]["miou"], r["refined_labels"]["miou"]
        line = f"peanut      {m:14s} own mIoU {own:6.2f} refined mIoU {ref:6.2f}"
        if "crop_weed" in r:
            line += f" | weed IoU {r['crop_weed']['weed']:.2f}"
        lines.append(line)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
