"""Whole-process speed of ``agriseg crop predict`` as a user runs it, and what the light install costs.

Every number is a whole process with the user's default options and all outputs (masks, overlays, summary).
Settings run interleaved (A B C A B C ...) so that other load on the machine hits every setting alike; the
median of the rounds is reported with the load average of every run.

- **this checkout**: ``agriseg crop predict`` with this checkout's code, by default in the running Python;
  with ``--install`` in a fresh virtual environment holding ``pip install <this checkout>`` (the base
  install, no PyTorch), which is what a new user runs. Every run starts from an empty user cache.
- **baseline** (``--baseline DIR``): another checkout (``DIR/src``, e.g. ``main`` before a change) in the
  running Python, from an empty user cache every run ("cold": a first run, which exports the model to ONNX
  when that checkout does so) and with a cache kept between runs ("warm").
- ``--install``: wall time and size on disk (the venv minus an empty venv) of ``pip install`` of this
  checkout and of each ``--peer`` package (default: ``plantcv``), each into a fresh venv under
  ``--venvs``, with pip's cache off (a first install downloads everything).
- ``--warm``: this checkout also with a user cache kept between runs (after one run of each photo set).
- ``--model FILE``: every setting runs that model (e.g. a ``.safetensors`` file, which is exported to ONNX in
  the user cache); each run reports the exports it made (``onnx_exports_batch``).
- ``--data``: masks of this checkout vs the baseline's PyTorch path (``--optimize none``) on the batch
  photos (share of identical pixels), and ``agriseg crop evaluate --peanut`` mIoU of both on the photos of
  ``--val-list``.

    /work/tools/quiet python benchmarks/crop_predict_speed.py --photos ../shared/data/peanut/images --n 32 \\
        --repeat 3 --install --baseline /work/main --data ../shared/data/peanut \\
        [--setting "long side 640=--long-side 640"] [-o benchmarks/results/crop_predict_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of one whole process; stderr lines beyond tqdm's bar are counted."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    *err, rss_kb = proc.stderr.strip().splitlines()
    noise = [ln for ln in "\n".join(err).replace("\r", "\n").splitlines() if ln.strip() and ":" not in ln[:12]]
    res = {"seconds": wall, "peak_rss_mib": int(rss_kb) / 1024, "load1": os.getloadavg()[0]}
    res["stderr_lines_beyond_progress"] = len(noise)
    m = re.search(r"predicted(?:, \d+ skipped, \d+ failed)? in ([\d.]+) s", proc.stdout)  # both summary forms
    if m:  # the command's own timing of its photo loop: the rest of the wall time is start-up
        res["loop_seconds"] = float(m.group(1))
        res["startup_seconds"] = wall - float(m.group(1))
    res["stdout"] = proc.stdout[-500:]  # type: ignore[assignment]
    return res


def du_mb(path: Path) -> float:
    """Size on disk of a folder in MB (10^6 bytes), as ``du`` counts it."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) * 1024 / 1e6


def install(venvs: Path, name: str, spec: list[str]) -> dict[str, float | str]:
    """``pip install SPEC`` into a fresh venv ``venvs/name`` (no pip cache): seconds and MB over an empty venv."""
    empty, venv = venvs / f"{name}_empty", venvs / name
    for d in (empty, venv):
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *spec], env=env, check=True, cwd=venvs)
    seconds = time.perf_counter() - t0
    size = du_mb(venv) - du_mb(empty)
    shutil.rmtree(empty)
    print(f"install {name}: {seconds:.1f} s, {size:.0f} MB", flush=True)
    load = round(os.getloadavg()[0], 2)
    return {"seconds": round(seconds, 1), "mb": round(size, 1), "load1": load, "venv": str(venv)}


def mask_agreement(a: Path, b: Path) -> dict[str, float]:
    """Share of identical pixels between the ``*_mask.png`` of two output folders (and the worst photo's)."""
    from PIL import Image

    same = total = 0
    worst = 1.0
    for f in sorted(a.glob("*_mask.png")):
        x, y = np.asarray(Image.open(f)), np.asarray(Image.open(b / f.name))
        eq = int((x == y).sum())
        same, total, worst = same + eq, total + x.size, min(worst, eq / x.size)
    share = round(same / max(total, 1), 8)
    return {
        "identical_pixels": share,
        "differing_pixels": total - same,
        "worst_photo": round(worst, 8),
        "pixels": total,
    }


def val_folder(data: Path, stems_file: Path, work: Path) -> tuple[Path, Path]:
    """Folders of links to the images and labels of the stems listed in ``stems_file``."""
    stems = [s.strip() for s in stems_file.read_text().splitlines() if s.strip() and not s.startswith("#")]
    images, labels = work / "val_images", work / "val_labels"
    images.mkdir()
    labels.mkdir()
    for s in stems:
        (images / f"{s}.jpg").symlink_to((data / "images" / f"{s}.jpg").resolve())
        (labels / f"{s}.png").symlink_to((data / "labels" / f"{s}.png").resolve())
    return images, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/peanut/images"))
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", type=Path, default=None, help="an older checkout, run in the same rounds")
    ap.add_argument("--install", action="store_true", help="measure installs; run this checkout's base install")
    ap.add_argument("--peer", nargs="*", default=["plantcv"], help="packages installed beside it (--install)")
    ap.add_argument("--venvs", type=Path, default=Path("/work/venvs"), help="where --install makes its venvs")
    ap.add_argument("--reuse", action="store_true", help="with --install: time the venv made by an earlier run")
    ap.add_argument("--install-only", action="store_true", help="with --install: measure the installs, no runs")
    ap.add_argument("--data", type=Path, default=None, help="Peanut data (images/, labels/): masks and mIoU")
    ap.add_argument("--val-list", type=Path, default=REPO / "configs" / "crop" / "peanut_val.txt")
    ap.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help='another option setting of this checkout, e.g. "long side 640=--long-side 640" (repeatable)',
    )
    ap.add_argument(
        "--model",
        default=None,
        help="a model every setting runs (-m), e.g. a .safetensors file; each run reports the ONNX exports it made",
    )
    ap.add_argument("--warm", action="store_true", help="also run this checkout with a user cache kept between runs")
    ap.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/crop_predict_speed.json"))
    args = ap.parse_args()
    from lib import need

    need(args.photos, "the photos to time (--photos)")
    model_args = ["--model", str(Path(args.model).resolve())] if args.model else []
    photos = sorted(args.photos.glob("*.jpg"))[: args.n]
    if len(photos) < args.n:
        raise SystemExit(f"{args.photos}: fewer than {args.n} photos")
    work = Path(tempfile.mkdtemp(prefix="crop_speed_"))
    batch, one = work / "batch", work / "one"
    batch.mkdir()
    one.mkdir()
    for p in photos:
        (batch / p.name).symlink_to(p.resolve())
    (one / photos[0].name).symlink_to(photos[0].resolve())

    report: dict = {
        "photos": args.n,
        "size": "960x720",
        "cpus": os.cpu_count(),
        "load_start": os.getloadavg()[0],
        "model": args.model or "default",
    }
    python, env = sys.executable, {**os.environ, "PYTHONPATH": str(REPO / "src")}
    if args.install and not args.reuse:
        report["install"] = {"agriseg": install(args.venvs, "bench_agriseg_base", [str(REPO)])}
        for peer in args.peer:
            report["install"][peer] = install(args.venvs, f"bench_{peer}", [peer])
        if args.install_only:
            report = {k: report[k] for k in ("cpus", "load_start", "install")}
            args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
            return
    if args.install:
        python = str(args.venvs / "bench_agriseg_base" / "bin" / "python")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # name -> (python, env, extra args, whether every run gets an empty user cache)
    settings: dict[str, tuple[str, dict[str, str], list[str], bool]] = {"this checkout": (python, env, [], True)}
    for item in args.setting:
        name, _, extra = item.partition("=")
        settings[name.strip()] = (python, env, extra.split(), True)
    warm_runs = [("this checkout warm", python, {**env, "AGRISEG_CACHE_DIR": str(work / "this_warm_cache")})]
    if args.baseline is not None:
        benv = {**os.environ, "PYTHONPATH": str((args.baseline / "src").resolve())}
        settings["baseline cold"] = (sys.executable, benv, [], True)
        settings["baseline warm"] = (sys.executable, {**benv, "AGRISEG_CACHE_DIR": str(work / "warm_cache")}, [], False)
        warm_runs.append(("baseline warm", sys.executable, settings["baseline warm"][1]))
    if args.warm:
        settings["this checkout warm"] = (warm_runs[0][1], warm_runs[0][2], [], False)
    for name, py, wenv in warm_runs if args.warm or args.baseline is not None else []:
        if name not in settings:
            continue
        # a warm cache holds the exports of both photo sets before the timed rounds
        for src in (one, batch):
            out = work / f"w_{name.replace(' ', '_')}_{src.name}"
            run([py, "-m", "agriseg", "crop", "predict", str(src), "-o", str(out), *model_args], wenv)

    results: dict[str, dict[str, list[dict]]] = {k: {"batch": [], "one": []} for k in settings}
    count = 0
    for r in range(args.repeat):
        for name, (py, penv, extra, fresh) in settings.items():
            for kind, src in (("batch", batch), ("one", one)):
                count += 1
                out = work / f"out_{r}_{name.replace(' ', '_')}_{kind}"
                renv = {**penv, "AGRISEG_CACHE_DIR": str(work / f"cache_{count}")} if fresh else penv
                cache = Path(renv.get("AGRISEG_CACHE_DIR", work / "none")) / "onnx"
                before = len(list(cache.glob("*.onnx")))
                res = run([py, "-m", "agriseg", "crop", "predict", str(src), "-o", str(out), *model_args, *extra], renv)
                res["onnx_exports"] = len(list(cache.glob("*.onnx"))) - before  # made by this run
                results[name][kind].append(res)
                print(f"round {r} {name:>14} {kind:>5}: {res['seconds']:.2f} s, load {res['load1']:.1f}", flush=True)
    summary = {}
    for name, kinds in results.items():
        b = statistics.median(x["seconds"] for x in kinds["batch"])
        summary[name] = {
            "batch_seconds": round(b, 2),
            "images_per_s": round(args.n / b, 3),
            "one_photo_seconds": round(statistics.median(x["seconds"] for x in kinds["one"]), 2),
            "startup_seconds": round(statistics.median(x.get("startup_seconds", np.nan) for x in kinds["one"]), 2),
            "peak_rss_mib": round(max(x["peak_rss_mib"] for x in kinds["batch"]), 1),
            "onnx_exports_batch": [x["onnx_exports"] for x in kinds["batch"]],
            "stderr_lines_beyond_progress": max(x["stderr_lines_beyond_progress"] for x in kinds["batch"]),
            "load1": [round(x["load1"], 2) for x in kinds["batch"] + kinds["one"]],
        }
    report["settings"] = summary

    if args.data is not None and args.baseline is not None:
        # masks: this checkout's default path vs the baseline's PyTorch path (eager), same photos
        ref = work / "pytorch_masks"
        run([sys.executable, "-m", "agriseg", "crop", "predict", str(batch), "-o", str(ref), "--optimize", "none"],
            settings["baseline cold"][1])  # fmt: skip
        report["masks_vs_baseline_pytorch"] = mask_agreement(work / "out_0_this_checkout_batch", ref)
        images, labels = val_folder(args.data, args.val_list, work)
        miou = {}
        for name in ("this checkout", "baseline cold"):
            py, penv, _, _ = settings[name]
            rep = work / f"eval_{name.replace(' ', '_')}.json"
            cmd = ["-m", "agriseg", "crop", "evaluate", "--images", str(images), "--masks", str(labels), "--peanut"]
            run([py, *cmd, "-o", str(rep)], {**penv, "AGRISEG_CACHE_DIR": str(work / "eval_cache")})
            miou[name] = round(json.loads(rep.read_text())["miou"], 4)
        report["val_miou"] = {**miou, "photos": len(list(images.iterdir())), "list": str(args.val_list)}
    report["load_end"] = os.getloadavg()[0]
    report["runs"] = results
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
    shutil.rmtree(work, ignore_errors=True)
