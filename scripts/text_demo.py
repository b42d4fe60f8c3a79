"""Demonstration: a tiny Gemma 3 VLM learns text masks of synthetic landscapes on CPU with SFT, then GRPO.

Per seed: build a random-weight tiny Gemma 3 offline, SFT it (full fine-tuning) on MAgSeg-format samples
(whole image + patch box -> RRLE of the patch) from synthetic landscapes (fields, trees, water), evaluate on
the same held-out images (paired across stages and seeds), GRPO it with the mean-Dice reward (KL to the
SFT model), evaluate again. Evaluation: every held-out image is cut into its fixed patch grid, all patches
are generated in batches, decoded, stitched; format validity = share of patch completions that decode with
no repair; Dice = per-image mean Dice over the foreground classes at grid resolution (the reward's
resolution), averaged over images; greedy and sampled (T = 1, no top-k/top-p) decoding.

Resumable: every stage writes its result under ``--out`` and is skipped when present. Writes
``results.json`` and ``results.md`` (per seed, and mean +- std over seeds). Run under the CPU lock:

    OMP_NUM_THREADS=1 flock /tmp/agriseg-cpu.lock python scripts/text_demo.py --out runs/text_demo
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

EVAL_SEED = 987_654
TRAIN_SEED_BASE = 10_000


@dataclass
class DemoConfig:
    """Sizes of the demonstration (defaults: about 28 CPU-minutes per seed on one core).

    400 SFT steps (about 6 minutes) leave the tiny model barely above the constant "all others" prediction;
    1600 steps are what it takes to make GRPO's effect on a model that segments measurable.
    """

    image_size: int = 32
    patch: int = 16
    grid: int = 4
    align: int = 8
    train_images: int = 2000
    per_image: int = 4
    eval_images: int = 500
    sft_steps: int = 1600
    sft_batch: int = 32
    sft_lr: float = 2e-3
    sft_warmup: int = 60
    grpo_steps: int = 80
    grpo_prompts_per_step: int = 4
    grpo_generations: int = 8
    grpo_lr: float = 3e-5
    grpo_beta: float = 0.01
    grpo_iterations: int = 2
    grpo_validity_weight: float = 0.0
    grpo_temperature: float = 1.0
    max_new_tokens: int = 64
    eval_batch: int = 250


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def build_data(cfg: DemoConfig, out: Path, seed: int) -> Path:
    """Training dataset of one seed (random aligned patches), saved with ``datasets``."""
    from agriseg.text.dataset import PatchSpec, records_from_arrays, to_hf_dataset
    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes

    path = out / f"seed{seed}" / "train_data"
    if (path / "dataset_info.json").is_file():
        return path
    imgs, sems, _ = make_landscapes(
        cfg.train_images, TRAIN_SEED_BASE + seed, LandscapeConfig(size=cfg.image_size)
    )
    spec = PatchSpec(patch=cfg.patch, grid=cfg.grid, mode="random", per_image=cfg.per_image, align=cfg.align)
    to_hf_dataset(records_from_arrays(imgs, sems, SYNTH_CLASSES, spec, seed=seed)).save_to_disk(str(path))
    return path


def evaluate(model: Any, proc: Any, cfg: DemoConfig, sample: bool, seed: int) -> dict[str, Any]:
    """Validity and Dice on the held-out images (same images for every stage and seed)."""
    import torch

    from agriseg.text.codec import decode_rrle
    from agriseg.text.grid import mask_to_grid
    from agriseg.text.infer import generate_batch
    from agriseg.text.patches import grid_boxes
    from agriseg.text.prompts import user_message
    from agriseg.text.reward import mean_dice
    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes

    imgs, sems, _ = make_landscapes(cfg.eval_images, EVAL_SEED, LandscapeConfig(size=cfg.image_size))
    boxes = grid_boxes(cfg.image_size, cfg.image_size, cfg.patch)
    jobs = [(i, b) for i in range(len(imgs)) for b in boxes]
    torch.manual_seed(seed)
    texts: list[str] = []
    model.eval()
    for k in range(0, len(jobs), cfg.eval_batch):
        chunk = jobs[k : k + cfg.eval_batch]
        texts += generate_batch(
            model,
            proc,
            [imgs[i] for i, _ in chunk],
            [user_message(b, SYNTH_CLASSES) for _, b in chunk],
            max_new_tokens=cfg.max_new_tokens,
            do_sample=sample,
            temperature=1.0,
        )
    n_cells = cfg.image_size // cfg.patch * cfg.grid
    k_cls = len(SYNTH_CLASSES)
    pred = np.zeros((len(imgs), n_cells, n_cells), dtype=np.int64)
    truth = np.zeros_like(pred)
    valid = np.zeros(len(jobs), dtype=bool)
    for j, ((i, (x0, y0, x1, y1)), t) in enumerate(zip(jobs, texts, strict=True)):
        g, rep = decode_rrle(t, (cfg.grid, cfg.grid), SYNTH_CLASSES)
        valid[j] = rep.valid
        gy, gx = y0 // cfg.patch * cfg.grid, x0 // cfg.patch * cfg.grid
        pred[i, gy : gy + cfg.grid, gx : gx + cfg.grid] = g
        truth[i, gy : gy + cfg.grid, gx : gx + cfg.grid] = mask_to_grid(
            sems[i, y0:y1, x0:x1], cfg.grid, k_cls
        )
    dice = np.array([mean_dice(p, t, k_cls) for p, t in zip(pred, truth, strict=True)])
    return {
        "validity": float(valid.mean()),
        "dice": float(dice.mean()),
        "dice_per_image": dice.round(5).tolist(),
        "examples": texts[:3],
    }


def run_seed(cfg: DemoConfig, out: Path, seed: int) -> dict[str, Any]:
    """SFT, evaluate, GRPO, evaluate for one seed (each stage skipped when its output exists)."""
    from agriseg.text.config import GRPORunConfig, LoraSpec, SFTRunConfig
    from agriseg.text.grpo import reward_curve, run_grpo
    from agriseg.text.modeling import load_vlm
    from agriseg.text.sft import run_sft
    from agriseg.text.synthetic import SYNTH_CLASSES
    from agriseg.text.tinyvlm import TinyVLMConfig, build_tiny_vlm

    sd = out / f"seed{seed}"
    sd.mkdir(parents=True, exist_ok=True)
    data = build_data(cfg, out, seed)
    timings: dict[str, float] = (
        json.loads((sd / "timings.json").read_text()) if (sd / "timings.json").is_file() else {}
    )
    sft_dir, grpo_dir = sd / "sft", sd / "grpo"
    if not (sft_dir / "config.json").is_file():
        _log(f"seed {seed}: SFT {cfg.sft_steps} steps")
        t = time.time()
        model, proc = build_tiny_vlm(
            SYNTH_CLASSES, TinyVLMConfig(image_size=cfg.image_size, vision_patch=4), seed=seed
        )
        sft_cfg = SFTRunConfig(
            model="tiny-gemma3-random",
            dataset=str(data),
            output_dir=str(sft_dir),
            lora=LoraSpec(enabled=False),
            learning_rate=cfg.sft_lr,
            warmup_steps=cfg.sft_warmup,
            max_steps=cfg.sft_steps,
            per_device_train_batch_size=cfg.sft_batch,
            seed=seed,
            logging_steps=25,
            device="cpu",
        )
        run_sft(sft_cfg, model, proc)
        timings["sft_s"] = time.time() - t
        _write_json(sd / "timings.json", timings)
    for stage, folder in (("sft", sft_dir), ("grpo", grpo_dir)):
        if stage == "grpo" and not (grpo_dir / "config.json").is_file():
            _log(f"seed {seed}: GRPO {cfg.grpo_steps} steps")
            t = time.time()
            g_cfg = GRPORunConfig(
                model=str(sft_dir),
                dataset=str(data),
                output_dir=str(grpo_dir),
                lora=LoraSpec(enabled=False),
                learning_rate=cfg.grpo_lr,
                lr_scheduler_type="constant",
                beta=cfg.grpo_beta,
                validity_weight=cfg.grpo_validity_weight,
                num_generations=cfg.grpo_generations,
                num_iterations=cfg.grpo_iterations,
                per_device_train_batch_size=cfg.grpo_prompts_per_step * cfg.grpo_generations,
                max_steps=cfg.grpo_steps,
                max_completion_length=cfg.max_new_tokens,
                temperature=cfg.grpo_temperature,
                seed=seed,
                logging_steps=5,
                device="cpu",
            )
            run_grpo(g_cfg)
            timings["grpo_s"] = time.time() - t
            _write_json(sd / "timings.json", timings)
        for mode in ("greedy", "sampled"):
            res_path = sd / f"eval_{stage}_{mode}.json"
            if res_path.is_file():
                continue
            _log(f"seed {seed}: evaluate {stage} {mode}")
            t = time.time()
            model, proc = load_vlm(str(folder), device="cpu")
            res = evaluate(model, proc, cfg, sample=mode == "sampled", seed=seed)
            res["eval_s"] = time.time() - t
            _write_json(res_path, res)
            _log(f"seed {seed}: {stage} {mode}: validity {res['validity']:.3f} dice {res['dice']:.4f}")
    curve = reward_curve(json.loads((grpo_dir / "log_history.json").read_text()))
    q = max(1, len(curve) // 4)
    return {
        "seed": seed,
        "timings": json.loads((sd / "timings.json").read_text()),
        "grpo_reward_first_quarter": float(np.mean([c[1] for c in curve[:q]])) if curve else float("nan"),
        "grpo_reward_last_quarter": float(np.mean([c[1] for c in curve[-q:]])) if curve else float("nan"),
        "grpo_reward_curve": curve,
        **{
            f"{stage}_{mode}": {
                k: v
                for k, v in json.loads((sd / f"eval_{stage}_{mode}.json").read_text()).items()
                if k in ("validity", "dice", "eval_s")
            }
            for stage in ("sft", "grpo")
            for mode in ("greedy", "sampled")
        },
    }


def voting_study(out: Path, cfg: DemoConfig, seed: int, stage: str = "grpo") -> dict[str, Any]:
    """Disjoint patches vs 50 %-overlap patches with per-pixel voting on the held-out images (greedy).

    Reports pixel-level mean Dice against the full-resolution truth and the seam-artefact rate (label
    changes across the disjoint grid's seams that the truth does not have).
    """
    import torch

    from agriseg.text.config import PredictConfig
    from agriseg.text.infer import predict_many, seam_disagreement
    from agriseg.text.modeling import load_vlm
    from agriseg.text.reward import mean_dice
    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes

    path = out / f"voting_seed{seed}_{stage}.json"
    if path.is_file():
        return json.loads(path.read_text())
    _log(f"voting study on seed {seed} {stage}")
    model, proc = load_vlm(str(out / f"seed{seed}" / stage), device="cpu")
    imgs, sems, _ = make_landscapes(cfg.eval_images, EVAL_SEED, LandscapeConfig(size=cfg.image_size))
    torch.manual_seed(seed)
    res: dict[str, Any] = {}
    for name, overlap, vote in (("disjoint", 0.0, "count"), ("overlap50_center_vote", 0.5, "center")):
        t = time.time()
        pcfg = PredictConfig(
            patch=cfg.patch,
            grid=cfg.grid,
            overlap=overlap,
            vote=vote,
            batch_size=cfg.eval_batch,
            max_new_tokens=cfg.max_new_tokens,
        )
        results = predict_many(model, proc, list(imgs), SYNTH_CLASSES, pcfg)
        dice = [
            mean_dice(pred, sem, len(SYNTH_CLASSES)) for (pred, _), sem in zip(results, sems, strict=True)
        ]
        seams = [
            seam_disagreement(pred, cfg.patch, sem) for (pred, _), sem in zip(results, sems, strict=True)
        ]
        d, sm = np.array(dice), np.array(seams)
        res[name] = {
            "pixel_dice": float(d.mean()),
            "pixel_dice_se": float(d.std(ddof=1) / np.sqrt(len(d))),
            "seam_artefact_rate": float(sm.mean()),
            "seam_artefact_rate_se": float(sm.std(ddof=1) / np.sqrt(len(sm))),
            "dice_per_image": d.round(5).tolist(),
            "seconds": time.time() - t,
        }
        _log(f"{name}: pixel Dice {d.mean():.4f}, seam artefacts {sm.mean():.4f}")
    diff = np.array(res["overlap50_center_vote"]["dice_per_image"]) - np.array(
        res["disjoint"]["dice_per_image"]
    )
    res["paired_dice_diff"] = {"mean": float(diff.mean()), "se": float(diff.std(ddof=1) / np.sqrt(len(diff)))}
    _write_json(path, res)
    return res


def constant_baselines(cfg: DemoConfig) -> dict[str, float]:
    """Mean Dice of predicting one class everywhere on the held-out images: the floor a model must beat."""
    from agriseg.text.grid import mask_to_grid
    from agriseg.text.patches import grid_boxes
    from agriseg.text.reward import mean_dice
    from agriseg.text.synthetic import SYNTH_CLASSES, LandscapeConfig, make_landscapes

    _, sems, _ = make_landscapes(cfg.eval_images, EVAL_SEED, LandscapeConfig(size=cfg.image_size))
    n_cells = cfg.image_size // cfg.patch * cfg.grid
    k = len(SYNTH_CLASSES)
    truth = np.zeros((len(sems), n_cells, n_cells), dtype=np.int64)
    for i, sem in enumerate(sems):
        for x0, y0, x1, y1 in grid_boxes(cfg.image_size, cfg.image_size, cfg.patch):
            gy, gx = y0 // cfg.patch * cfg.grid, x0 // cfg.patch * cfg.grid
            truth[i, gy : gy + cfg.grid, gx : gx + cfg.grid] = mask_to_grid(sem[y0:y1, x0:x1], cfg.grid, k)
    return {
        name: float(np.mean([mean_dice(np.full_like(t, c), t, k) for t in truth]))
        for c, name in enumerate(SYNTH_CLASSES)
    }


def _link_sft(src: Path, out: Path, seeds: list[int], cfg: DemoConfig) -> None:
    """Share another run's SFT stage (data, model, SFT evaluations) so that only GRPO runs again."""
    import shutil

    saved = {**asdict(DemoConfig()), **json.loads((src / "demo_config.json").read_text())}
    sft_keys = [k for k in asdict(cfg) if not k.startswith("grpo_")]
    if any(saved[k] != getattr(cfg, k) for k in sft_keys):
        raise SystemExit(f"{src}: its SFT settings differ from this run's; cannot reuse its SFT stage")
    for s in seeds:
        a, b = src / f"seed{s}", out / f"seed{s}"
        b.mkdir(parents=True, exist_ok=True)
        for name in ("train_data", "sft"):
            if not (b / name).exists():
                (b / name).symlink_to((a / name).resolve(), target_is_directory=True)
        for name in ("eval_sft_greedy.json", "eval_sft_sampled.json"):
            if not (b / name).exists():
                shutil.copy2(a / name, b / name)
        if not (b / "timings.json").exists():
            t = json.loads((a / "timings.json").read_text())
            _write_json(b / "timings.json", {"sft_s": t["sft_s"]})


def _paired(out: Path, seeds: list[int], mode: str) -> dict[str, float]:
    """Paired per-image GRPO - SFT Dice difference pooled over seeds: mean and standard error."""
    diffs = []
    for s in seeds:
        a = np.array(json.loads((out / f"seed{s}" / f"eval_sft_{mode}.json").read_text())["dice_per_image"])
        b = np.array(json.loads((out / f"seed{s}" / f"eval_grpo_{mode}.json").read_text())["dice_per_image"])
        diffs.append(b - a)
    d = np.concatenate(diffs)
    return {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))), "n": int(len(d))}


def summarise(out: Path, cfg: DemoConfig, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean +- std over seeds; write results.json and results.md."""

    def ms(vals: list[float]) -> tuple[float, float]:
        return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0

    rows = []
    agg: dict[str, Any] = {}
    for key in ("sft_greedy", "sft_sampled", "grpo_greedy", "grpo_sampled"):
        v = ms([r[key]["validity"] for r in per_seed])
        d = ms([r[key]["dice"] for r in per_seed])
        agg[key] = {"validity_mean": v[0], "validity_std": v[1], "dice_mean": d[0], "dice_std": d[1]}
        stage, mode = key.split("_")
        per = ", ".join(f"{r[key]['dice']:.4f}" for r in per_seed)
        rows.append(
            f"| {stage.upper()} | {mode} | {100 * v[0]:.1f} +- {100 * v[1]:.1f} "
            f"| {d[0]:.4f} +- {d[1]:.4f} | {per} |"
        )
    seeds = [r["seed"] for r in per_seed]
    paired = {m: _paired(out, seeds, m) for m in ("greedy", "sampled")}
    rw0 = ms([r["grpo_reward_first_quarter"] for r in per_seed])
    rw1 = ms([r["grpo_reward_last_quarter"] for r in per_seed])
    result = {
        "config": asdict(cfg),
        "seeds": seeds,
        "per_seed": per_seed,
        "aggregate": agg,
        "paired_diff": paired,
        "grpo_train_reward_first_quarter": rw0,
        "grpo_train_reward_last_quarter": rw1,
    }
    _write_json(out / "results.json", result)
    md = [
        f"# Text-mask demo: tiny Gemma 3, {len(seeds)} seed(s) {seeds}, {cfg.eval_images} held-out images",
        "",
        f"Images {cfg.image_size} px, patches {cfg.patch} px, grid {cfg.grid}x{cfg.grid} per patch; SFT "
        f"{cfg.sft_steps} steps x {cfg.sft_batch}; GRPO {cfg.grpo_steps} steps x {cfg.grpo_prompts_per_step} "
        f"prompts x {cfg.grpo_generations} generations (lr {cfg.grpo_lr}, beta {cfg.grpo_beta}, "
        f"validity weight {cfg.grpo_validity_weight}, rollout temperature {cfg.grpo_temperature}).",
        "Validity: share of patch completions decoding with no repair. Dice: per-image mean Dice over field, "
        "tree, water at grid resolution. Mean +- std over seeds.",
        "",
        "| stage | decoding | validity % | mean Dice | Dice per seed |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Paired per-image Dice difference GRPO - SFT (all seeds pooled, mean +- standard error): "
        + "; ".join(f"{m}: {p['mean']:+.4f} +- {p['se']:.4f} (n={p['n']})" for m, p in paired.items()),
        "",
        f"GRPO training reward (mean Dice of rollouts), first vs last quarter of logged steps: "
        f"{rw0[0]:.4f} +- {rw0[1]:.4f} -> {rw1[0]:.4f} +- {rw1[1]:.4f}",
        "",
        "Constant predictions on the same images (the floor a model must beat): "
        + ", ".join(f"all {n} {v:.4f}" for n, v in constant_baselines(cfg).items()),
        "",
        "Timings (s): "
        + "; ".join(
            f"seed {r['seed']}: " + ", ".join(f"{k} {v:.0f}" for k, v in r["timings"].items())
            for r in per_seed
        ),
        "",
    ]
    (out / "results.md").write_text("\n".join(md))
    return result


def main() -> None:
    """Parse arguments, run the seeds in order (resumable), write the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/text_demo"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--from-sft",
        type=Path,
        default=None,
        help="reuse the SFT models, data and SFT evaluations of another demo folder (GRPO variants)",
    )
    ap.add_argument(
        "--voting", action="store_true", help="also run the overlap-voting study on the first seed"
    )
    for f, v in asdict(DemoConfig()).items():
        ap.add_argument(f"--{f.replace('_', '-')}", type=type(v), default=v)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cfg = DemoConfig(**{f: getattr(args, f) for f in asdict(DemoConfig())})
    args.out.mkdir(parents=True, exist_ok=True)
    cfg_path = args.out / "demo_config.json"
    if cfg_path.is_file():
        saved = {**asdict(DemoConfig()), **json.loads(cfg_path.read_text())}  # fields added later: default
        if saved != asdict(cfg):
            raise SystemExit(f"{cfg_path}: a run with a different config is in this folder; use another --out")
    _write_json(cfg_path, asdict(cfg))
    if args.from_sft is not None:
        _link_sft(args.from_sft, args.out, args.seeds, cfg)
    per_seed = []
    for s in args.seeds:
        per_seed.append(run_seed(cfg, args.out, s))
        summarise(args.out, cfg, per_seed)
        _log(f"seed {s} done; summary in {args.out / 'results.md'}")
    if args.voting:
        v = voting_study(args.out, cfg, args.seeds[0])
        lines = [
            "",
            f"## Stitching: disjoint patches vs 50 % overlap + centre-weighted voting (seed {args.seeds[0]}, "
            f"GRPO model, greedy, {cfg.eval_images} images, pixel level)",
            "",
            "| inference | pixel mean Dice | seam artefact rate | seconds |",
            "|---|---|---|---|",
            *(
                f"| {k} | {v[k]['pixel_dice']:.4f} +- {v[k]['pixel_dice_se']:.4f} | "
                f"{v[k]['seam_artefact_rate']:.4f} +- {v[k]['seam_artefact_rate_se']:.4f} "
                f"| {v[k]['seconds']:.0f} |"
                for k in ("disjoint", "overlap50_center_vote")
            ),
            "",
            f"Paired Dice difference (voting - disjoint): {v['paired_dice_diff']['mean']:+.4f} +- "
            f"{v['paired_dice_diff']['se']:.4f} (standard error).",
            "",
        ]
        with (args.out / "results.md").open("a") as f:
            f.write("\n".join(lines))
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
