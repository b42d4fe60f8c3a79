"""Can a small learned refiner decide the unsure pixels better than the colour rule? (a development measurement)

The inference rule re-decides every pixel whose vegetation probability lies in the unsure band (0.05-0.9) by a
per-photo colour discriminant (``agriseg.crop.refine.refine_outline``). On the Peanut validation photos that rule
scores 89.57 mIoU against their own labels (bar of issue #29: 90.68) while the model's own 0.5 decision scores
90.87 but draws other fields' plants 13 % too wide. This script asks how much of the gap the unsure band holds and
whether a learned decision there closes it. Nothing here is used by agriseg; nothing was shipped from it.

``oracle``: the 60 Peanut validation photos scored against their own labels with the shipped mask, the model's
0.5 decision, and the shipped mask with the boundary-refined training target (band 3) copied into the unsure band
(``oracle_unsure``) or everywhere else (``oracle_sure``): what a perfect decision in (or outside) the band would give.

``collect`` / ``train``: a tiny CNN (6 layers of 24 channels, dilated, receptive field 33 px; ``Refiner``) sees the
photo, the model's probability and the rule's mask and re-decides the unsure pixels. It is trained on the 240
Peanut **training** photos (``configs/crop/peanut_train.txt``, boundary-refined targets) and every second of the
400 lab scenes of seed 0 (the default model's own training scenes), binary cross-entropy on unsure pixels only,
96-px patches centred on unsure pixels, AdamW, cosine over a budget of CPU minutes. ``--inputs raw``: the photo's
RGB; ``relative`` (no raw colour): the rule's discriminant score and CIELAB scaled 0 at the photo's sure background
and 1 at its sure plants.

``dev``: ``crop_unsure_pixels.py``'s development sets with the refiner applied after the rule (all its arguments
pass through); ``--keep-topology`` takes the refiner's changes only inside the rule's objects grown 3 px and only
where the number of objects of >= 50 px there stays the same.

    agriseg crop make-synthetic lab -o runs/data/scenes_train --photos ../shared/data/peanut/images \\
        --labels ../shared/data/peanut/labels --stems configs/crop/peanut_train.txt -n 400 --seed 0 \\
        --layouts pots,tray,side,plate,field --uniform-frames
    python benchmarks/crop_unsure_refiner.py oracle -o benchmarks/results/crop_unsure_refiner_oracle.json
    python benchmarks/crop_unsure_refiner.py collect
    python benchmarks/crop_unsure_refiner.py train --minutes 12 --inputs relative
    python benchmarks/crop_unsure_refiner.py dev --inputs relative -- --ews runs/data/ews --candidates 0.05:0.9 -o F

Results and the keep rule written before each run: ``benchmarks/results/crop_unsure_refiner.md``.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
LOW, HIGH = 0.05, 0.9  # the shipped unsure band (agriseg.crop.predictor.UNSURE)
WORK = ROOT / "runs/refiner"
EIGHT = np.ones((3, 3), bool)
Inputs = Literal["raw", "relative"]


class Refiner(nn.Module):
    """A residual stack of dilated 3x3 convolutions: ``(B, 6, H, W)`` -> vegetation logit ``(B, 1, H, W)``."""

    def __init__(self, ch: int = 24, in_ch: int = 6) -> None:
        super().__init__()
        self.inp = nn.Conv2d(in_ch, ch, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(ch, ch, 3, padding=d, dilation=d) for d in (1, 2, 4, 8, 1))
        self.out = nn.Conv2d(ch, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.inp(x))  # (B, ch, H, W)
        for conv in self.body:
            h = h + F.relu(conv(h))
        return self.out(h)


def relative_colour(rgb: np.ndarray, p: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """``(4, H, W)``: the rule's discriminant score (-1 at the sure background's mean, +1 at the sure plants') and
    CIELAB scaled 0 at the sure background's mean and 1 at the sure plants' (zeros without enough sure pixels)."""
    from agriseg.crop.refine import fit_by_colour, lab_features

    sv, sb = (rule > 0) & (p >= HIGH), (rule == 0) & (p <= LOW)
    out = np.zeros((4, *p.shape), np.float32)
    fitted = fit_by_colour(rgb, sv, sb, 20000, 200, 0, opencv=False)
    if fitted is None:
        return out
    lab = lab_features(rgb, opencv=False)  # (H, W, 3)
    w, c = fitted
    vm, bm = lab[sv].mean(0), lab[sb].mean(0)
    half = max(float((vm - bm) @ w) / 2, 1e-6)
    out[0] = np.clip((lab @ w - c) / half, -4, 4) / 4
    span = np.where(np.abs(vm - bm) < 1, 1, vm - bm)
    out[1:] = np.clip((lab - bm) / span, -3, 3).transpose(2, 0, 1) / 3
    return out


def inputs(rgb: np.ndarray, p: np.ndarray, rule: np.ndarray, kind: Inputs, rel: np.ndarray | None = None) -> np.ndarray:
    """The refiner's input ``(6, H, W)``: colour (raw RGB, 3 channels + a zero one, or relative, 4), p, the rule."""
    x = np.zeros((6, *p.shape), np.float32)
    if kind == "raw":
        x[:3] = rgb.transpose(2, 0, 1) / 255.0 - 0.5
    else:
        x[:4] = relative_colour(rgb, p, rule) if rel is None else rel
    x[4] = p - 0.5
    x[5] = (rule > 0) - 0.5
    return x


def refine(net: Refiner, kind: Inputs, rgb: np.ndarray, probs: np.ndarray, rule: np.ndarray, keep: bool) -> np.ndarray:
    """The rule's mask with its unsure pixels re-decided by ``net`` (``keep``: topology kept, see the docstring)."""
    p = 1 - probs[0]  # (H, W)
    with torch.no_grad():
        z = net(torch.from_numpy(inputs(rgb, p, rule, kind))[None])[0, 0].numpy()
    u = (p > LOW) & (p < HIGH)
    out = rule > 0
    new = out.copy()
    new[u] = z[u] > 0
    if not keep:
        return new
    grown = ndi.binary_dilation(out, EIGHT, iterations=3)
    regions, _ = ndi.label(grown, structure=EIGHT)
    new &= grown  # no new objects
    res = out.copy()
    for i, sl in enumerate(ndi.find_objects(regions), start=1):
        r = regions[sl] == i
        a, b = out[sl] & r, new[sl] & r
        if _count(a) == _count(b):
            res[sl][r] = b[r]
    return res


def _count(m: np.ndarray) -> int:
    lab, k = ndi.label(m, structure=EIGHT)
    return int((np.bincount(lab.ravel())[1:] >= 50).sum()) if k else 0


def oracle(out: Path | None) -> None:
    from crop_unsure_pixels import peanut_sets
    from lib import need

    from agriseg.crop.predictor import load_predictor
    from agriseg.data.files import write_json
    from agriseg.metrics import SegmentationMetrics

    need(ROOT.parent / "shared" / "data" / "peanut", "the Peanut photos and labels")
    pred = load_predictor("default")
    own, refined = peanut_sets(ROOT.parent / "shared")
    names = ("rule", "argmax", "oracle_unsure", "oracle_sure")
    mets = {n: SegmentationMetrics(2, 0.005, 255, ["background", "vegetation"]) for n in names}
    area, truth = dict.fromkeys(names, 0), 0
    for (_, rgb, t), (_, _, r) in zip(own, refined, strict=True):
        probs = pred.probabilities([rgb])[0]
        rule = pred.classes(probs, rgb) > 0
        p = 1 - probs[0]
        u = (p > LOW) & (p < HIGH)
        masks = {"rule": rule, "argmax": p > 0.5, "oracle_unsure": rule.copy(), "oracle_sure": rule.copy()}
        masks["oracle_unsure"][u] = r[u] == 1
        masks["oracle_sure"][~u] = r[~u] == 1
        for n, m in masks.items():
            mets[n].update(m.astype(np.uint8), t)
            area[n] += int(m.sum())
        truth += int((t == 1).sum())
    res = {}
    for n in names:
        c = mets[n].compute()
        res[n] = {"miou": 100 * c["miou"], "biou_0.005": 100 * c["biou"], "area_ratio": area[n] / truth}
        print(f"{n:14s} mIoU {res[n]['miou']:.2f}  bIoU {res[n]['biou_0.005']:.2f}  area {res[n]['area_ratio']:.3f}")
    if out:
        write_json(out, {"model": "default", "photos": len(own), "peanut_own": res})


def collect() -> None:
    from crop_edge_bias import truth_of
    from lib import need

    from agriseg.crop.dataset import read_stem_list
    from agriseg.crop.labels import PEANUT_VEGETATION, read_label
    from agriseg.crop.predictor import load_predictor
    from agriseg.crop.refine import refine_labels
    from agriseg.data.io import read_rgb

    peanut = need(ROOT.parent / "shared/data/peanut", "the Peanut photos and labels")
    pred = load_predictor("default")
    items = []
    for s in read_stem_list(ROOT / "configs/crop/peanut_train.txt"):
        rgb = read_rgb(peanut / "images" / f"{s}.jpg")
        lab = read_label(peanut / "labels" / f"{s}.png", "colormap", PEANUT_VEGETATION)
        items.append((rgb, refine_labels(rgb, lab, band=3)))
    scenes = ROOT / "runs/data/scenes_train"
    for f in sorted((scenes / "images").iterdir())[::2]:
        items.append((read_rgb(f), truth_of(next((scenes / "labels").glob(f.stem + ".*")))))
    data = []
    for rgb, t in items:
        probs = pred.probabilities([rgb])[0]
        rule = pred.classes(probs, rgb)
        target = np.where(t == 255, 255, t > 0).astype(np.uint8)
        data.append((rgb, (1 - probs[0]).astype(np.float16), (rule > 0).astype(np.uint8), target))
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "cache.pkl", "wb") as fh:  # our own cache, read back by train() only
        pickle.dump(data, fh, protocol=4)
    print(f"{len(data)} photos -> {WORK / 'cache.pkl'}")


def _patch(data: list, kind: Inputs, size: int, rng: np.random.Generator) -> tuple[np.ndarray, ...] | None:
    rgb, p16, rule, t, rel = data[rng.integers(len(data))]
    p = p16.astype(np.float32)
    u = np.flatnonzero((p > LOW) & (p < HIGH))
    if len(u) == 0:
        return None
    cy, cx = divmod(int(u[rng.integers(len(u))]), p.shape[1])
    y0 = int(np.clip(cy - size // 2, 0, max(0, p.shape[0] - size)))
    x0 = int(np.clip(cx - size // 2, 0, max(0, p.shape[1] - size)))
    sl = (slice(y0, y0 + size), slice(x0, x0 + size))
    pp = p[sl]
    if pp.shape != (size, size):
        return None
    x = inputs(rgb[sl], pp, rule[sl], kind, None if rel is None else rel[(slice(None), *sl)].astype(np.float32))
    tt = t[sl]
    if rng.random() < 0.5:  # horizontal flip of inputs, target and mask alike
        x, tt, pp = x[:, :, ::-1], tt[:, ::-1], pp[:, ::-1]
    m = (pp > LOW) & (pp < HIGH) & (tt != 255)
    return np.ascontiguousarray(x), (tt == 1).astype(np.float32), m.astype(np.float32)


def train(minutes: float, kind: Inputs) -> None:
    with open(WORK / "cache.pkl", "rb") as fh:  # written by collect() above
        raw = pickle.load(fh)
    data = [(rgb, p, r, t, relative_colour(rgb, p.astype(np.float32), r).astype(np.float16) if kind == "relative"
             else None) for rgb, p, r, t in raw]  # fmt: skip
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = Refiner()
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    t0, step = time.time(), 0
    while (elapsed := time.time() - t0) < minutes * 60:
        for g in opt.param_groups:  # cosine over the time budget
            g["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * elapsed / (minutes * 60)))
        batch = []
        while len(batch) < 16:
            if (b := _patch(data, kind, 96, rng)) is not None:
                batch.append(b)
        xs, ys, ms = zip(*batch, strict=True)
        x = torch.from_numpy(np.stack(xs))  # (B, 6, 96, 96)
        y, m = (torch.from_numpy(np.stack(v))[:, None] for v in (ys, ms))  # (B, 1, 96, 96) each
        loss = (F.binary_cross_entropy_with_logits(net(x), y, reduction="none") * m).sum() / m.sum().clamp(min=1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            print(f"step {step}  {elapsed:.0f} s  loss {float(loss.detach()):.4f}", flush=True)
    torch.save(net.state_dict(), WORK / f"refiner_{kind}.pt")
    print(f"{step} steps -> {WORK / f'refiner_{kind}.pt'}")


def dev(kind: Inputs, keep: bool, rest: list[str]) -> None:
    import crop_unsure_pixels as cup

    from agriseg.crop import predict

    net = Refiner()
    net.load_state_dict(torch.load(WORK / f"refiner_{kind}.pt", weights_only=True))
    net.eval()

    def load(name: str) -> predict.Predictor:
        pred = predict.load_predictor(name)
        rule = pred.classes
        pred.classes = lambda probs, rgb: refine(net, kind, rgb, probs, rule(probs, rgb), keep).astype(np.uint8)  # type: ignore[method-assign]
        return pred

    cup.load_predictor = load  # type: ignore[assignment]
    sys.argv = [sys.argv[0], *rest]
    cup.main()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["oracle", "collect", "train", "dev"])
    ap.add_argument("--minutes", type=float, default=12.0)
    ap.add_argument("--inputs", choices=["raw", "relative"], default="relative")
    ap.add_argument("--keep-topology", action="store_true")
    ap.add_argument("-o", "--output", type=Path, default=None, help="oracle: the JSON written")
    argv = sys.argv[1:]
    if not argv:  # as the other scripts of several steps: what it does and its steps, not one argparse error
        print(__doc__.strip() + "\n\nsubcommands: oracle, collect, train, dev")
        print("usage: python benchmarks/crop_unsure_refiner.py SUBCOMMAND [--help | options]")
        raise SystemExit(2)
    cut = argv.index("--") if "--" in argv else len(argv)  # dev: crop_unsure_pixels.py's arguments after --
    a = ap.parse_args(argv[:cut])
    a.rest = argv[cut + 1 :]
    if a.step == "oracle":
        oracle(a.output)
    elif a.step == "collect":
        collect()
    elif a.step == "train":
        train(a.minutes, a.inputs)
    else:
        dev(a.inputs, a.keep_topology, a.rest)


if __name__ == "__main__":
    main()
