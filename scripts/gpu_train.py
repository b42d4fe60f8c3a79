"""Train several crop configs at once on one rented GPU, each sized to finish inside a time budget.

Run through ``scripts/gpu_train.sh`` (which installs the bundle of ``scripts/gpu_bundle.py``). Steps:

1. every config is pointed at the bundle (``.gpu/peanut``; a few training photos stand in for validation,
   because the real validation photos do not travel: score the returned models afterwards with
   ``benchmarks/crop_accuracy.py scale``);
2. probe: all configs train concurrently for ``--probe-s`` seconds on the real pipeline; samples/s after a
   warm-up is each run's throughput under the same contention as the real runs (it came out at about 80%
   of the rate whole runs then sustained, start-up and validation included: ``--rate`` gives a measured
   rate instead);
3. ``train.epochs`` is set so the cosine schedule ends inside the budget (``val_every`` about a tenth of it),
   ``train.max_minutes`` stops a run that would still overrun; the planned configs are written out;
4. the runs train concurrently with ``agriseg crop train``; each returns its fp16 model and a tarball of
   its planned config, log and metrics.

    python scripts/gpu_train.py --budget-s 540 --out $OUT configs/crop/a.yaml configs/crop/b.yaml
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

BUNDLE = Path(".gpu")


def unpack_lite() -> None:
    dst = Path(os.environ.get("AGRISEG_LITE_DIR", "/tmp/lite"))
    dst.mkdir(parents=True, exist_ok=True)
    for xz in (BUNDLE / "lite").glob("*.pth.xz"):
        (dst / xz.name[:-3]).write_bytes(lzma.decompress(xz.read_bytes()))


def point_at_bundle(cfg: dict, name: str, runs: Path) -> dict:
    cfg["data"]["images"] = str(BUNDLE / "peanut/images")
    cfg["data"]["labels"] = str(BUNDLE / "peanut/labels")
    cfg["data"]["val_list"] = str(BUNDLE / "peanut/monitor.txt")
    cfg["data"]["train_list"] = str(BUNDLE / "peanut/train.txt")
    cfg["output_dir"] = str(runs / name)
    init = cfg["train"].get("init_weights")
    if init and (BUNDLE / "init" / Path(init).name).is_file():  # else the repository's own copy travelled
        cfg["train"]["init_weights"] = str(BUNDLE / "init" / Path(init).name)
    return cfg


def train_items(cfg: dict) -> int:
    """Items per epoch: the bundled training photos times ``data.repeat``, plus every extra set's photo/label pairs
    (paired as training pairs them) times its ``repeat``."""
    from agriseg.crop.dataset import match_pairs

    n = len((BUNDLE / "peanut/train.txt").read_text().split()) * cfg["data"].get("repeat", 1)
    for src in cfg["data"].get("extra", []):
        n += len(match_pairs(src["images"], src["labels"])) * src.get("repeat", 1)
    return n


def probe(cfg_path: str, seconds: float, warmup_s: float = 8.0) -> None:
    """Train the config's real pipeline for ``seconds``; print samples/s after ``warmup_s``."""
    import torch

    from agriseg.config import load_config
    from agriseg.crop.config import CropTrainConfig
    from agriseg.crop.task import SegmentationTask
    from agriseg.crop.train import CropDataModule

    cfg = load_config(cfg_path, CropTrainConfig)
    t = cfg.train
    dm = CropDataModule(cfg.data, t.batch_size, t.num_workers, t.seed, cfg.model.infer_long_side)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    task = SegmentationTask(cfg.model_dump()).to(dev)
    if t.channels_last:
        task.model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(task.parameters(), lr=1e-4)
    start = time.time()
    n, t0 = 0, None
    while time.time() - start < seconds:
        for batch in dm.train_dataloader():
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=t.precision == "bf16-mixed"):
                loss = task.loss(task(batch["image"].to(dev, non_blocking=True)).float(), batch["mask"].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            now = time.time()
            if t0 is None and now - start > warmup_s:
                if dev == "cuda":
                    torch.cuda.synchronize()
                t0, n = time.time(), 0
            elif t0 is not None:
                n += batch["image"].shape[0]
            if now - start > seconds:
                break
    if dev == "cuda":
        torch.cuda.synchronize()
    print(json.dumps({"samples_per_s": n / (time.time() - t0), "train_photos": len(dm.train_set)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--budget-s", type=float, default=540, help="seconds from now until results must be out")
    ap.add_argument("--probe-s", type=float, default=30)
    ap.add_argument("--out", default=os.environ.get("OUT", "runs/gpu"))
    ap.add_argument("--runs", default="/tmp/runs")
    ap.add_argument("--rate", type=float, help="samples/s per run, measured before: skips the probe")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        return probe(args.probe, args.probe_s)
    t_start = time.time()
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    unpack_lite()
    names, paths = [], []
    for c in args.configs:
        name = Path(c).stem
        cfg = point_at_bundle(yaml.safe_load(Path(c).read_text()), name, runs)
        p = runs / f"{name}.yaml"
        p.write_text(yaml.safe_dump(cfg, sort_keys=False))
        names.append(name)
        paths.append(p)
    if args.rate:
        items = [train_items(yaml.safe_load(p.read_text())) for p in paths]
        rates = [{"samples_per_s": args.rate, "train_photos": n, "measured": "given"} for n in items]
    else:
        probes = [
            subprocess.Popen(
                [sys.executable, __file__, "x", "--probe", str(p), "--probe-s", str(args.probe_s)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for p in paths
        ]
        rates = [json.loads(pr.communicate()[0].strip().splitlines()[-1]) for pr in probes]
    # time left for training: the budget less what has passed, ~45 s of start-up/export per run, 5% slack
    train_s = (args.budget_s - (time.time() - t_start) - 45) * 0.95
    plan = {}
    for name, p, r in zip(names, paths, rates, strict=True):
        cfg = yaml.safe_load(p.read_text())
        e0 = max(1, int(r["samples_per_s"] * train_s / r["train_photos"]))
        every = max(1, round(e0 / 10))
        epochs = max(every, e0 // every * every)
        cfg["train"].update(
            epochs=epochs,
            val_every=every,
            warmup_epochs=max(1, round(epochs * 0.02)),
            export="last",
            max_minutes=round(train_s / 60 + 0.5, 2),
        )
        p.write_text(yaml.safe_dump(cfg, sort_keys=False))
        plan[name] = {**r, "epochs": epochs, "val_every": every, "train_s": train_s}
    print(json.dumps(plan, indent=1), flush=True)
    (out / "plan.json").write_text(json.dumps(plan, indent=1))
    env = {**os.environ, "TQDM_MININTERVAL": "30"}
    procs = []
    for name, p in zip(names, paths, strict=True):
        log = open(runs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process below
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "agriseg", "crop", "train", "-c", str(p)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                ),
                log,
            )
        )
    for pr, log in procs:
        pr.wait()
        log.close()
    for name, p in zip(names, paths, strict=True):
        model = runs / name / "model.safetensors"
        if model.is_file():
            os.replace(model, out / f"{name}.safetensors")
        with tarfile.open(out / f"{name}.tar.gz", "w:gz") as tar:
            tar.add(p, arcname=f"{name}/config.yaml")
            tar.add(runs / f"{name}.log", arcname=f"{name}/train.log")
            for m in (runs / name).glob("logs/*/metrics.csv"):
                tar.add(m, arcname=f"{name}/metrics.csv")
        print(
            name,
            "model" if (out / f"{name}.safetensors").is_file() else "NO MODEL",
            f"{time.time() - t_start:.0f} s",
            flush=True,
        )
        print("".join(open(runs / f"{name}.log").readlines()[-6:]))


if __name__ == "__main__":
    main()
