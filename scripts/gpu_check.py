"""Check agriseg's GPU paths: every command that runs a model, with ``--device cuda``, beside the same command on
the CPU in the same run.

CI has no GPU, so these paths are only run on a rented machine (``scripts/gpu_check.sh`` unpacks the packages it
lacks, then runs this). Each check is a whole command as a user types it (``python -m agriseg ...``, subprocess);
what it compares is the output files: the share of mask pixels both devices agree on, and the numbers of the
reports. Results go to ``<out>/gpu_check.json`` (one entry per command: exit code, seconds, last lines of its
output, and the comparison) and a one-line verdict per check on stdout.

    python scripts/gpu_check.py --out runs/gpu_check                 # on the GPU machine
    python scripts/gpu_check.py --out /tmp/gc --device cpu --quick   # a dry run of the script itself, here
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "src/agriseg/samples/peanut"
RESULTS: list[dict[str, Any]] = []


def agriseg(line: str, cwd: Path, timeout: float = 240) -> dict[str, Any]:
    """Run ``agriseg <line>`` in a subprocess and record its exit code, time and output tail."""
    t = time.perf_counter()
    try:
        p = subprocess.run(
            [sys.executable, "-m", "agriseg", *shlex.split(line)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        rc, out = p.returncode, (p.stdout + p.stderr)
    except subprocess.TimeoutExpired as e:
        told = [x.decode(errors="replace") if isinstance(x, bytes) else (x or "") for x in (e.stdout, e.stderr)]
        rc, out = 124, f"timed out after {timeout} s: " + "".join(told)
    rec = {"command": f"agriseg {line}", "rc": rc, "seconds": round(time.perf_counter() - t, 1), "tail": out[-2500:]}
    RESULTS.append(rec)
    print(f"[rc {rc}, {rec['seconds']:6.1f} s] agriseg {line}", flush=True)
    if rc != 0:
        print("    " + out[-1500:].replace("\n", "\n    "), flush=True)
    return rec


def check(name: str, ok: bool, **numbers: Any) -> None:
    """Record a comparison on the last command."""
    RESULTS[-1].setdefault("checks", []).append({"check": name, "ok": bool(ok), **numbers})
    print(f"    {'PASS' if ok else 'FAIL'} {name} {json.dumps(numbers)}", flush=True)


def agreement(a: Path, b: Path, pattern: str) -> tuple[float, int]:
    """The lowest share of equal pixels over the files matching ``pattern`` in both folders, and their number."""
    worst, n = 1.0, 0
    for fa in sorted(a.glob(pattern)):
        fb = b / fa.name
        if not fb.is_file():
            return 0.0, n
        x, y = np.asarray(Image.open(fa)), np.asarray(Image.open(fb))
        if x.shape != y.shape:
            return 0.0, n
        worst, n = min(worst, float((x == y).mean())), n + 1
    return (worst if n else 0.0), n


def numbers(d: Any, prefix: str = "") -> dict[str, float]:
    """Every number in a JSON document, keyed by its path."""
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out |= numbers(v, f"{prefix}{k}.")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out |= numbers(v, f"{prefix}{i}.")
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix.rstrip(".")] = float(d)
    return out


def crop_checks(wd: Path, dev: str, quick: bool) -> None:
    img, lbl = SAMPLES / "images", SAMPLES / "labels"
    ref = agriseg(f"crop predict {img} -o cpu --device cpu --optimize none --no-overlay", wd)
    variants = {"plain": "", "bf16": "--precision bf16", "tta": "--tta flip", "tiles": "--tile 256 --batch-size 4"}
    if not quick:
        variants |= {"jit": "--optimize jit"}
    floors = {"plain": 0.999, "jit": 0.999, "bf16": 0.99, "tta": 0.97, "tiles": 0.97}
    for name, extra in variants.items():
        r = agriseg(f"crop predict {img} -o {dev}_{name} --device {dev} --no-overlay {extra}", wd)
        if r["rc"] == 0 and ref["rc"] == 0:
            a, n = agreement(wd / "cpu", wd / f"{dev}_{name}", "*_mask.png")
            check(f"crop predict {name}: masks agree with the CPU's", a >= floors[name] and n > 0, agree=a, photos=n)
    if not quick:
        cw = agriseg(f"crop predict {img} -o cw_cpu -m crop-weed --device cpu --optimize none --no-overlay", wd)
        r = agriseg(f"crop predict {img} -o cw_{dev} -m crop-weed --device {dev} --no-overlay", wd)
        if r["rc"] == 0 and cw["rc"] == 0:
            a, n = agreement(wd / "cw_cpu", wd / f"cw_{dev}", "*_mask.png")
            check("crop predict crop-weed: masks agree with the CPU's", a >= 0.999 and n > 0, agree=a, photos=n)
    reports = {}
    for d in ("cpu", dev):
        opt = "--optimize none" if d == "cpu" else ""
        r = agriseg(f"crop evaluate --images {img} --masks {lbl} --peanut --device {d} {opt} -o eval_{d}.json", wd)
        if r["rc"] == 0:
            reports[d] = numbers(json.loads((wd / f"eval_{d}.json").read_text()))
    if len(reports) == 2:
        keys = [k for k in reports["cpu"] if "miou" in k.lower() and k in reports[dev]]
        worst = max((abs(reports["cpu"][k] - reports[dev][k]) for k in keys), default=float("nan"))
        ok = bool(keys) and worst <= 0.1
        check("crop evaluate: mIoU as on the CPU (within 0.1)", ok, keys=len(keys), worst=worst)
    t_cpu = agriseg(f"crop traits {img} -o traits_cpu --device cpu", wd)
    t_dev = agriseg(f"crop traits {img} -o traits_{dev} --device {dev}", wd)
    if t_cpu["rc"] == 0 and t_dev["rc"] == 0:
        worst, n = 0.0, 0
        for f in sorted((wd / "traits_cpu").glob("*_traits.json")):
            ta = numbers(json.loads(f.read_text()))
            tb = numbers(json.loads((wd / f"traits_{dev}" / f.name).read_text()))
            for k in ta.keys() & tb.keys():
                if "fraction" in k or k.endswith("area_px"):
                    worst = max(worst, abs(ta[k] - tb[k]) / max(abs(ta[k]), 1e-9))
                    n += 1
        ok = n > 0 and worst <= 0.02
        check("crop traits: fractions and areas within 2 % of the CPU's", ok, values=n, worst=worst)
    # the depth source of pseudo-labels: a tiny random Depth Anything V2 (nothing to download)
    import torch
    import transformers

    from agriseg.crop.pseudolabel.depth import tiny_depth_anything_config

    torch.manual_seed(0)
    transformers.DepthAnythingForDepthEstimation(tiny_depth_anything_config()).save_pretrained(wd / "depth_model")
    pls = {}
    for d in ("cpu", dev):
        pls[d] = agriseg(
            f"crop pseudolabel {img} -o pl_{d} --source depth --depth-model depth_model --device {d} --no-overlay", wd
        )
    if all(r["rc"] == 0 for r in pls.values()):
        a, n = agreement(wd / "pl_cpu" / "masks", wd / f"pl_{dev}" / "masks", "*.png")
        check("crop pseudolabel --source depth: masks agree with the CPU's", a >= 0.99 and n > 0, agree=a, photos=n)
    # adaptation trains on whatever Lightning finds (the GPU here), with loader workers; its model then predicts
    r = agriseg(f"crop adapt {img} -o adapted.safetensors --stage1-epochs 1 --stage2-epochs 1 --crop-size 128", wd)
    if r["rc"] == 0:
        r = agriseg(f"crop predict {img} -o adapted_{dev} -m adapted.safetensors --device {dev} --no-overlay", wd)
        check("crop adapt, then predict with its model on the GPU", r["rc"] == 0)


def fields_checks(wd: Path, dev: str, quick: bool) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fields.synth_scenes import write_scene, write_tiny_model

    size = 300 if quick else 900
    write_scene(wd / "scene.tif", h=size, w=size, seed=0)
    encoder = "tu-mobilenetv3_small_050" if quick else "efficientnet-b3"  # FTW's released models are B3-B7 U-Nets
    write_tiny_model(wd / "fm.safetensors", half=False, encoder=encoder)
    import rasterio

    ref = agriseg("fields predict scene.tif -o f_cpu.tif -m fm.safetensors --device cpu --optimize none", wd)
    variants = {"plain": "", "onnx": "--optimize onnxruntime", "jit": "--optimize jit", "bf16": "--precision bf16"}
    for name, extra in variants.items():
        r = agriseg(f"fields predict scene.tif -o f_{name}.tif -m fm.safetensors --device {dev} {extra}", wd)
        if r["rc"] == 0 and ref["rc"] == 0:
            with rasterio.open(wd / "f_cpu.tif") as a, rasterio.open(wd / f"f_{name}.tif") as b:
                x, y = a.read(), b.read()
            same = float((x[0] == y[0]).mean())
            diff = int(np.abs(x[1:].astype(int) - y[1:].astype(int)).max())
            floor = 0.99 if name == "bf16" else 0.999
            check(f"fields predict {name}: classes agree with the CPU's", same >= floor, agree=same, max_prob_diff=diff)
    r = agriseg(f"fields map scene.tif -o fmap -m fm.safetensors --device {dev} --serial --min-area 0", wd)
    check("fields map on the GPU (--serial)", r["rc"] == 0)
    if not quick:
        r = agriseg(f"fields map scene.tif -o fmap_dask -m fm.safetensors --device {dev} --workers 2 --min-area 0", wd)
        check("fields map on the GPU (local Dask cluster)", r["rc"] == 0)


SFT = """model: tiny_base
dataset: tiny_train
output_dir: tiny_sft
lora: {{enabled: {lora}}}
learning_rate: 2.0e-3
warmup_steps: 1
per_device_train_batch_size: 8
max_steps: 4
logging_steps: 1
device: {dev}
"""

GRPO = """model: tiny_sft
dataset: tiny_train
output_dir: tiny_grpo
lora: {{enabled: {lora}}}
learning_rate: 3.0e-5
beta: 0.01
num_generations: 2
per_device_train_batch_size: 4
max_steps: 2
max_completion_length: 48
logging_steps: 1
device: {dev}
"""


def text_checks(wd: Path, dev: str, quick: bool) -> None:
    agriseg("text make-synthetic -o synth -n 16 --size 32", wd)
    agriseg("text make-synthetic -o synth_test -n 4 --size 64 --seed 1", wd)
    agriseg("text tiny-model -o tiny_base --image-size 32 --vision-patch 4", wd)
    agriseg(
        "text dataset synth/images --masks synth/masks -o tiny_train --classes others,field,tree,water "
        "--tile 16 --grid 4 --align 8",
        wd,
    )
    lora = "false" if quick else "true"
    (wd / "sft.yaml").write_text(SFT.format(dev=dev, lora=lora))
    (wd / "grpo.yaml").write_text(GRPO.format(dev=dev, lora=lora))
    r = agriseg("text sft -c sft.yaml", wd)
    check(f"text sft on {dev} (LoRA {lora})", r["rc"] == 0)
    r = agriseg("text grpo -c grpo.yaml", wd)
    check(f"text grpo on {dev} (LoRA {lora})", r["rc"] == 0 and "reward" in r["tail"])
    model = "tiny_grpo" if r["rc"] == 0 else "tiny_sft"
    res = {}
    for d in ("cpu", dev):
        res[d] = agriseg(f"text predict synth_test/images -o tp_{d} -m {model} --device {d} --max-new-tokens 48", wd)
    if all(r["rc"] == 0 for r in res.values()):
        a, n = agreement(wd / "tp_cpu", wd / f"tp_{dev}", "*.png")
        check("text predict: masks agree with the CPU's (greedy)", a >= 0.95 and n > 0, agree=a, tiles=n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder of gpu_check.json and the work folders")
    ap.add_argument("--device", default="cuda", help="the device under test (cpu: a dry run of this script)")
    ap.add_argument("--only", default="crop,fields,text", help="pipelines to check, comma-separated")
    ap.add_argument("--quick", action="store_true", help="fewer, smaller checks")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    env = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(env), flush=True)
    steps = {"crop": crop_checks, "fields": fields_checks, "text": text_checks}
    for name in args.only.split(","):
        wd = args.out / name
        wd.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        try:
            steps[name](wd, args.device, args.quick)
        except Exception as e:  # a broken check must not hide the others' results
            RESULTS.append({"command": f"{name} checks", "rc": -1, "tail": f"{type(e).__name__}: {e}"})
            print(f"!! {name} checks stopped: {type(e).__name__}: {e}", flush=True)
        print(f"== {name}: {time.perf_counter() - t:.0f} s", flush=True)
        (args.out / "gpu_check.json").write_text(json.dumps({"env": env, "results": RESULTS}, indent=1))
    failed = [r["command"] for r in RESULTS if r["rc"] != 0] + [
        c["check"] for r in RESULTS for c in r.get("checks", []) if not c["ok"]
    ]
    print(f"{len(RESULTS)} commands, {len(failed)} failed: {failed}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
