"""Demonstration: a tiny Gemma 3 VLM learns text masks of synthetic landscapes on CPU with SFT, then GRPO.

Per seed: build a random-weight tiny Gemma 3 offline, warm-start its vision tower on per-token classes (a
stand-in for a pretrained encoder), fully fine-tune it with SFT on MAgSeg-format samples (the 32-px patch and
the whole 64-px image + the patch's pixel box -> the 8x8 RRLE of that patch) of synthetic landscapes
(fields, trees, water, others), post-train it with GRPO and the mean-Dice reward (KL to the SFT model), and
evaluate every stage on the same held-out images (paired across stages and seeds), beside the floors
(each constant class, per-cell nearest colour) measured on those images.

Evaluation: every image is cut into its disjoint patch grid (or, for the voting rows, patches overlapping by
``vote_overlap`` with per-pixel voting); all patches are generated in batches, decoded and stitched.
validity = share of patch completions that decode with no repair; grid Dice = per-image mean Dice over field,
tree and water on the image's label grid (the reward's resolution; a class absent from both counts 1),
averaged over images; pixel Dice = the same against the full-resolution truth; seam artefacts = share of
pixel pairs across the disjoint patch seams whose predicted labels differ where the truth's do not;
instances = the watershed step (``agriseg.text.instances``) on the predicted mask, matched to the synthetic
instances by merge-and-match (``agriseg.text.metrics``).

Every setting is in ``agriseg.text.config.DemoConfig`` (``-c FILE`` overrides it from YAML). Resumable: each
stage writes its result under ``--out`` and is skipped when present. Writes ``results.json`` and
``results.md``. ``--split val`` evaluates on the validation images instead (for choosing settings); ``--redo-grpo``
discards the listed seeds' GRPO stage (model, evaluations, times) so that GRPO settings can change while
the SFT stage is kept:

    OMP_NUM_THREADS=2 python scripts/text_demo.py --out runs/text_demo --seeds 0 1 2 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from agriseg.config import load_config
from agriseg.data.files import write_json
from agriseg.text.config import DemoConfig

STAGES = ("sft", "grpo")
MODES = ("greedy", "sampled")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def load_split(cfg: DemoConfig, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, class masks and instance maps of the held-out (``eval``) or validation (``val``) images."""
    from agriseg.text.synthetic import make_landscapes

    if split == "eval":
        return make_landscapes(cfg.eval_images, cfg.eval_seed, cfg.landscape)
    return make_landscapes(cfg.val_images, cfg.val_seed, cfg.landscape)


def build_data(cfg: DemoConfig, sd: Path, seed: int) -> Path:
    """Training dataset of one seed (random patches on the ``train_align`` lattice), saved with ``datasets``."""
    from agriseg.text.dataset import PatchConfig, records_from_arrays, to_hf_dataset
    from agriseg.text.synthetic import SYNTH_CLASSES, make_landscapes

    path = sd / "train_data"
    if (path / "dataset_info.json").is_file():
        return path
    imgs, sems, _ = make_landscapes(cfg.train_images, cfg.train_seed_base + seed, cfg.landscape)
    spec = PatchConfig(
        patch=cfg.patch,
        grid=cfg.grid,
        mode="random",
        per_image=cfg.per_image,
        align=cfg.train_align,
        patch_image=cfg.patch_image,
    )
    to_hf_dataset(records_from_arrays(imgs, sems, SYNTH_CLASSES, spec, seed=seed)).save_to_disk(str(path))
    return path


def score_masks(
    masks: np.ndarray, imgs: np.ndarray, sems: np.ndarray, insts: np.ndarray, cfg: DemoConfig
) -> dict[str, Any]:
    """Grid Dice, pixel Dice, seam artefacts and watershed instance metrics of (N, H, W) predicted masks."""
    from agriseg.text.grid import mask_to_grid
    from agriseg.text.infer import seam_disagreement
    from agriseg.text.instances import WatershedConfig, instances_from_ids, semantic_to_instances
    from agriseg.text.metrics import ClassInstanceStats, instance_report, match_instances
    from agriseg.text.reward import mean_dice
    from agriseg.text.synthetic import SYNTH_CLASSES

    k = len(SYNTH_CLASSES)
    cells = cfg.landscape.size // cfg.patch * cfg.grid
    ws = WatershedConfig(min_size=cfg.min_instance_px)
    grid_dice, pixel_dice, seams = [], [], []
    stats: dict[int, ClassInstanceStats] = {}
    for mask, img, sem, inst in zip(masks, imgs, sems, insts, strict=True):
        grid_dice.append(mean_dice(mask_to_grid(mask, cells, k), mask_to_grid(sem, cells, k), k))
        pixel_dice.append(mean_dice(mask, sem, k))
        seams.append(seam_disagreement(mask, cfg.patch, sem))
        sizes = np.bincount(inst.ravel())
        truth = np.where(sizes[inst] >= cfg.min_instance_px, inst, 0)  # (H, W) instances large enough to find
        labels, cls_of = semantic_to_instances(mask, img, ws)
        match_instances(labels, cls_of, truth, instances_from_ids(truth, sem), stats, cfg.match_iou)
    pooled = ClassInstanceStats()
    for s in stats.values():
        pooled.ious += s.ious
        pooled.truths += s.truths
        pooled.unmatched_truths += s.unmatched_truths
        pooled.preds += s.preds
        pooled.false_preds += s.false_preds
    return {
        "grid_dice": float(np.mean(grid_dice)),
        "pixel_dice": float(np.mean(pixel_dice)),
        "seam_artefacts": float(np.mean(seams)),
        "instances": {"all": pooled.summary(), **instance_report(stats, SYNTH_CLASSES)},
        "grid_dice_per_image": np.round(grid_dice, 5).tolist(),
        "pixel_dice_per_image": np.round(pixel_dice, 5).tolist(),
        "seams_per_image": np.round(seams, 5).tolist(),
    }


def floors(cfg: DemoConfig, out: Path, split: str) -> dict[str, Any]:
    """Scores of the non-learned predictions on the same images: each constant class, per-cell nearest
    colour (class colours from ``calib_images`` other images), and the truth itself (the watershed's ceiling)."""
    from agriseg.text.baselines import class_colours, nearest_colour_grid
    from agriseg.text.grid import grid_to_mask
    from agriseg.text.synthetic import SYNTH_CLASSES, make_landscapes

    path = out / f"floors_{split}.json"
    if path.is_file():
        return _read(path)
    imgs, sems, insts = load_split(cfg, split)
    cells = cfg.landscape.size // cfg.patch * cfg.grid
    c_imgs, c_sems, _ = make_landscapes(cfg.calib_images, cfg.calib_seed, cfg.landscape)
    colours = class_colours(c_imgs, c_sems, cells, len(SYNTH_CLASSES))
    res: dict[str, Any] = {}
    for c, name in enumerate(SYNTH_CLASSES):
        res[f"all {name}"] = score_masks(np.full_like(sems, c), imgs, sems, insts, cfg)
    near = np.stack(
        [grid_to_mask(nearest_colour_grid(im, cells, colours), sem.shape) for im, sem in zip(imgs, sems, strict=True)]
    )
    res["nearest colour"] = score_masks(near, imgs, sems, insts, cfg)
    res["truth"] = score_masks(sems, imgs, sems, insts, cfg)
    res["class_colours"] = np.round(colours, 2).tolist()
    write_json(path, res)
    return _read(path)  # as stored (undefined rates are null)


def predict(
    model: Any, proc: Any, imgs: np.ndarray, cfg: DemoConfig, overlap: float, sample: bool, seed: int
) -> tuple[np.ndarray, float]:
    """(N, H, W) stitched masks of all images and the share of patch completions needing no repair."""
    import torch

    from agriseg.text.config import PredictConfig
    from agriseg.text.infer import predict_many
    from agriseg.text.synthetic import SYNTH_CLASSES

    pcfg = PredictConfig(
        patch=cfg.patch,
        grid=cfg.grid,
        overlap=overlap,
        vote=cfg.vote,
        batch_size=cfg.eval_batch,
        max_new_tokens=cfg.max_new_tokens,
        do_sample=sample,
        temperature=1.0,
        patch_image=cfg.patch_image,
    )
    torch.manual_seed(seed)
    model.eval()
    results = predict_many(model, proc, list(imgs), SYNTH_CLASSES, pcfg)
    valid = [p.report.valid for _, preds in results for p in preds]
    return np.stack([m for m, _ in results]), float(np.mean(valid))


def train_sft(cfg: DemoConfig, sd: Path, seed: int, data: Path) -> None:
    """Full fine-tuning SFT of a fresh tiny Gemma 3 (no LoRA: the model has no pretrained weights)."""
    from agriseg.text.config import LoraAdapterConfig, SFTRunConfig
    from agriseg.text.sft import run_sft
    from agriseg.text.synthetic import SYNTH_CLASSES
    from agriseg.text.tinyvlm import build_tiny_vlm

    model, proc = build_tiny_vlm(SYNTH_CLASSES, cfg.model, seed=seed)
    if cfg.vision_warmup_steps:
        from agriseg.text.synthetic import make_landscapes
        from agriseg.text.tinyvlm import warm_start_vision, warmup_samples

        imgs, sems, _ = make_landscapes(cfg.train_images, cfg.train_seed_base + seed, cfg.landscape)
        patch = cfg.patch if cfg.patch_image else None  # the vision tower also sees patches then
        images, masks = warmup_samples(imgs, sems, patch, cfg.train_align, seed)
        losses = warm_start_vision(
            model,
            proc,
            images,
            masks,
            len(SYNTH_CLASSES),
            cfg.vision_warmup_steps,
            cfg.vision_warmup_batch,
            cfg.vision_warmup_lr,
            seed,
            cfg.vision_warmup_position,
        )
        write_json(sd / "vision_warmup.json", {"loss_first": losses[:10], "loss_last": losses[-10:]})
    run_sft(
        SFTRunConfig(
            model="tiny-gemma3-random",
            dataset=str(data),
            output_dir=str(sd / "sft"),
            lora=LoraAdapterConfig(enabled=False),
            learning_rate=cfg.sft_lr,
            warmup_steps=cfg.sft_warmup,
            max_steps=cfg.sft_steps,
            per_device_train_batch_size=cfg.sft_batch,
            seed=seed,
            logging_steps=25,
            device="cpu",
        ),
        model,
        proc,
    )


def train_grpo(cfg: DemoConfig, sd: Path, seed: int, data: Path) -> None:
    """GRPO with the mean-Dice reward from the SFT model (full fine-tuning, KL to the SFT model)."""
    from agriseg.text.config import GRPORunConfig, LoraAdapterConfig
    from agriseg.text.grpo import run_grpo

    run_grpo(
        GRPORunConfig(
            model=str(sd / "sft"),
            dataset=str(data),
            output_dir=str(sd / "grpo"),
            lora=LoraAdapterConfig(enabled=False),
            learning_rate=cfg.grpo_lr,
            lr_scheduler_type="constant",
            beta=cfg.grpo_beta,
            validity_weight=cfg.grpo_validity_weight,
            repaired_rows=cfg.grpo_repaired_rows,
            loss_type=cfg.grpo_loss_type,
            scale_rewards=cfg.grpo_scale_rewards,
            num_generations=cfg.grpo_generations,
            num_iterations=cfg.grpo_iterations,
            per_device_train_batch_size=cfg.grpo_prompts_per_step * cfg.grpo_generations,
            max_steps=cfg.grpo_steps,
            max_completion_length=cfg.max_new_tokens,
            temperature=cfg.grpo_temperature,
            top_k=cfg.grpo_top_k,
            seed=seed,
            logging_steps=5,
            device="cpu",
        )
    )


def _timed(timings: dict[str, float], key: str, sd: Path, fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)``, add its seconds to ``timings[key]`` and note the torch threads it ran with."""
    import torch

    t = time.time()
    res = fn(*args)
    timings[key] = timings.get(key, 0.0) + time.time() - t
    write_json(sd / "timings.json", timings)
    threads = _read(sd / "threads.json") if (sd / "threads.json").is_file() else {}
    write_json(sd / "threads.json", {**threads, key: torch.get_num_threads()})
    return res


def _counts(key: str, split: str) -> bool:
    """Whether a ``timings.json`` key belongs to a run on ``split`` (evaluations of the other split do not)."""
    return not key.startswith(("eval_", "score_")) or f"_{split}_" in key


def seed_wall(timings: dict[str, float], split: str) -> float:
    """Seconds one seed took on ``split``: data, training and that split's evaluations (not the other's)."""
    return sum(v for k, v in timings.items() if _counts(k, split))


def grpo_outputs(sd: Path) -> list[Path]:
    """The GRPO model and the evaluations of it in a seed folder (what ``--redo-grpo`` discards)."""
    return [p for p in [sd / "grpo", *sd.glob("eval_*_grpo_*.json")] if p.exists()]


def discard_grpo(sd: Path) -> None:
    """Remove a seed's GRPO model, its evaluations and their times (the SFT stage is kept)."""
    import shutil

    for p in grpo_outputs(sd):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    if (sd / "timings.json").is_file():
        timings = _read(sd / "timings.json")
        write_json(sd / "timings.json", {k: v for k, v in timings.items() if "grpo" not in k})


def run_seed(cfg: DemoConfig, out: Path, seed: int, split: str, until: str = "grpo") -> dict[str, Any]:
    """SFT, evaluate, GRPO, evaluate (disjoint and voting) for one seed; each stage skipped when done.

    ``until="sft"`` stops after the SFT evaluations (GRPO settings can then still change). Times are kept
    per stage in ``timings.json``: ``data_s``, ``sft_s``/``grpo_s`` (training, the warm start included in
    SFT) and ``eval_<split>_<stage>_s``/``score_<split>_<stage>_s`` (generation and scoring)."""
    from agriseg.text.modeling import load_vlm

    sd = out / f"seed{seed}"
    sd.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = _read(sd / "timings.json") if (sd / "timings.json").is_file() else {}
    data = _timed(timings, "data_s", sd, build_data, cfg, sd, seed)
    imgs, sems, insts = load_split(cfg, split)
    runs = [(s, m, 0.0) for s in STAGES for m in MODES] + [("grpo", "greedy", cfg.vote_overlap)]
    for stage, mode, overlap in runs[:2] if until == "sft" else runs:
        if not (sd / stage / "config.json").is_file():
            _log(f"seed {seed}: {stage.upper()}")
            _timed(timings, f"{stage}_s", sd, train_sft if stage == "sft" else train_grpo, cfg, sd, seed, data)
        name = f"{stage}_{mode}" + ("_vote" if overlap else "")
        path = sd / f"eval_{split}_{name}.json"
        if path.is_file():
            continue
        model, proc = load_vlm(str(sd / stage), device="cpu")
        masks, validity = _timed(
            timings, f"eval_{split}_{stage}_s", sd, predict, model, proc, imgs, cfg, overlap, mode == "sampled", seed
        )
        res = {
            "validity": validity,
            **_timed(timings, f"score_{split}_{stage}_s", sd, score_masks, masks, imgs, sems, insts, cfg),
        }
        write_json(path, res)
        _log(f"seed {seed}: {name}: validity {validity:.4f} grid Dice {res['grid_dice']:.4f}")
    return {"seed": seed, "timings": _read(sd / "timings.json")}


def _ms(vals: list[float | None]) -> tuple[float, float]:
    """Mean and std (ddof 1) over seeds; None (JSON for an undefined rate) is left out."""
    v = np.array([np.nan if x is None else x for x in vals], dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def _paired(a: list[list[float]], b: list[list[float]]) -> dict[str, Any]:
    """b - a per image, pooled over seeds (mean, standard error) and per seed (means)."""
    diffs = [np.asarray(y) - np.asarray(x) for x, y in zip(a, b, strict=True)]
    d = np.concatenate(diffs)
    return {
        "mean": float(d.mean()),
        "se": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0,
        "n": int(len(d)),
        "per_seed": [float(x.mean()) for x in diffs],
    }


def summarise(cfg: DemoConfig, out: Path, seeds: list[int], split: str) -> dict[str, Any]:
    """Aggregate every finished seed into ``results.json`` and ``results.md`` (floors beside the model)."""
    fl = floors(cfg, out, split)
    names = [f"{s}_{m}" for s in STAGES for m in MODES] + ["grpo_greedy_vote"]
    ev = {n: [_read(out / f"seed{s}" / f"eval_{split}_{n}.json") for s in seeds] for n in names}
    agg: dict[str, Any] = {}
    for n, per in ev.items():
        agg[n] = {k: _ms([r[k] for r in per]) for k in ("validity", "grid_dice", "pixel_dice", "seam_artefacts")}
        agg[n]["grid_dice_per_seed"] = [r["grid_dice"] for r in per]
        agg[n]["validity_per_seed"] = [r["validity"] for r in per]
        agg[n]["instances"] = {k: _ms([r["instances"]["all"][k] for r in per]) for k in ("mean_iou", "fnr", "fpr")}
        agg[n]["field_instances"] = {
            k: _ms([r["instances"].get("field", {}).get(k) for r in per]) for k in ("mean_iou", "fnr", "fpr")
        }
    pairs = {
        f"grpo_minus_sft_{m}": _paired(
            [r["grid_dice_per_image"] for r in ev[f"sft_{m}"]], [r["grid_dice_per_image"] for r in ev[f"grpo_{m}"]]
        )
        for m in MODES
    }
    for key in ("grid_dice", "pixel_dice", "seams"):
        pairs[f"vote_minus_disjoint_{key}"] = _paired(
            [r[f"{key}_per_image"] for r in ev["grpo_greedy"]], [r[f"{key}_per_image"] for r in ev["grpo_greedy_vote"]]
        )
    timings = [_read(out / f"seed{s}" / "timings.json") for s in seeds]
    threads = [
        sorted(set(_read(out / f"seed{s}" / "threads.json").values()))
        if (out / f"seed{s}" / "threads.json").is_file()
        else []
        for s in seeds
    ]
    best_const = max(fl[f"all {c}"]["grid_dice"] for c in ("others", "field", "tree", "water"))
    curves = []
    for s in seeds:
        from agriseg.text.grpo import reward_curve

        c = reward_curve(_read(out / f"seed{s}" / "grpo" / "log_history.json"))
        q = max(1, len(c) // 4)
        curves.append((float(np.mean([x[1] for x in c[:q]])), float(np.mean([x[1] for x in c[-q:]]))))
    result = {
        "config": cfg.model_dump(mode="json"),
        "split": split,
        "images": len(ev["sft_greedy"][0]["grid_dice_per_image"]),
        "seeds": seeds,
        "aggregate": agg,
        "paired": pairs,
        "floors": {
            k: {m: v[m] for m in ("grid_dice", "pixel_dice", "seam_artefacts", "instances")}
            for k, v in fl.items()
            if k != "class_colours"
        },
        "best_constant_grid_dice": best_const,
        "grpo_train_reward_first_last_quarter": curves,
        "timings": timings,
        "wall_s": [seed_wall(t, split) for t in timings],
        "threads": threads,
    }
    write_json(out / "results.json", result)
    (out / "results.md").write_text(render(_read(out / "results.json")))
    return result


def render(r: dict[str, Any]) -> str:
    """The markdown tables of a ``results.json``."""
    cfg = r["config"]

    def pm(v: tuple[float | None, float | None] | list[float | None], scale: float = 1.0, nd: int = 3) -> str:
        if v[0] is None:
            return "–"
        return f"{scale * v[0]:.{nd}f} ± {scale * (v[1] or 0.0):.{nd}f}"

    def f3(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"

    rows = []
    labels = {
        "sft_greedy": "SFT, greedy",
        "sft_sampled": "SFT, sampled",
        "grpo_greedy": "GRPO, greedy",
        "grpo_sampled": "GRPO, sampled",
        "grpo_greedy_vote": f"GRPO, greedy, {cfg['vote_overlap']:.0%} overlap + {cfg['vote']} vote",
    }
    for k, lab in labels.items():
        a = r["aggregate"][k]
        i = a["instances"]
        rows.append(
            f"| {lab} | {pm(a['validity'], 100, 1)} | **{pm(a['grid_dice'])}** | {pm(a['pixel_dice'])} "
            f"| {pm(a['seam_artefacts'])} | {pm(i['mean_iou'])} | {pm(i['fnr'])} | {pm(i['fpr'])} |"
        )
    for k, v in r["floors"].items():
        i = v["instances"]["all"]
        label = "truth mask (watershed ceiling)" if k == "truth" else f"floor: {k}"
        rows.append(
            f"| {label} | – | {v['grid_dice']:.3f} | {v['pixel_dice']:.3f} | {v['seam_artefacts']:.3f} "
            f"| {f3(i['mean_iou'])} | {f3(i['fnr'])} | {f3(i['fpr'])} |"
        )
    p = r["paired"]

    def pd(key: str) -> str:
        x = p[key]
        return f"{x['mean']:+.4f} ± {x['se']:.4f} (per seed " + ", ".join(f"{v:+.4f}" for v in x["per_seed"]) + ")"

    per_seed = ", ".join(f"{v:.3f}" for v in r["aggregate"]["sft_greedy"]["grid_dice_per_seed"])

    def validity(key: str) -> str:
        return ", ".join(f"{100 * v:.1f} %" for v in r["aggregate"][key].get("validity_per_seed", []))

    wall = r.get("wall_s") or [sum(t.values()) for t in r["timings"]]
    threads = ", ".join("/".join(map(str, t)) or "?" for t in r.get("threads", [])) or "?"
    lines = [
        f"# Text-mask demo: tiny Gemma 3, seeds {r['seeds']}, {r['images']} {r['split']} images",
        "",
        f"Images {cfg['landscape']['size']} px, patches {cfg['patch']} px with a {cfg['grid']}x{cfg['grid']} grid; "
        f"vision warm start {cfg['vision_warmup_steps']} steps "
        f"(position weight {cfg.get('vision_warmup_position', 0)}); "
        f"SFT {cfg['sft_steps']} steps x {cfg['sft_batch']} (lr {cfg['sft_lr']}); GRPO {cfg['grpo_steps']} steps x "
        f"{cfg['grpo_prompts_per_step']} prompts x {cfg['grpo_generations']} generations (lr {cfg['grpo_lr']}, "
        f"beta {cfg['grpo_beta']}, T {cfg['grpo_temperature']}, repaired rows "
        f"{cfg.get('grpo_repaired_rows', 'keep')}, validity weight {cfg['grpo_validity_weight']}). "
        "Model rows: mean ± std over seeds.",
        "",
        "| prediction | validity % | grid Dice | pixel Dice | seam artefacts | instance IoU | FNR | FPR |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"SFT greedy grid Dice per seed: {per_seed}; best constant floor {r['best_constant_grid_dice']:.3f}.",
        f"Greedy validity per seed: SFT {validity('sft_greedy')}; GRPO {validity('grpo_greedy')}.",
        "",
        "Paired per-image differences (pooled over seeds, mean ± standard error):",
        f"- GRPO − SFT grid Dice, greedy: {pd('grpo_minus_sft_greedy')}",
        f"- GRPO − SFT grid Dice, sampled: {pd('grpo_minus_sft_sampled')}",
        f"- voting − disjoint (GRPO, greedy), grid Dice: {pd('vote_minus_disjoint_grid_dice')}",
        f"- voting − disjoint, pixel Dice: {pd('vote_minus_disjoint_pixel_dice')}",
        f"- voting − disjoint, seam artefacts: {pd('vote_minus_disjoint_seams')}",
        "",
        "GRPO training reward (rollout mean Dice), first → last quarter per seed: "
        + ", ".join(f"{a:.3f} → {b:.3f}" for a, b in r["grpo_train_reward_first_last_quarter"]),
        "",
        f"Wall time per seed (s; torch threads per seed: {threads}): "
        + ", ".join(
            f"{w:.0f} (" + ", ".join(f"{k} {v:.0f}" for k, v in t.items() if _counts(k, r["split"])) + ")"
            for w, t in zip(wall, r["timings"], strict=True)
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run the seeds in order (resumable), write the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/text_demo"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument(
        "-c", "--config", type=Path, default=None, help="YAML with DemoConfig fields (default: its defaults)"
    )
    ap.add_argument("--split", choices=["eval", "val"], default="eval", help="held-out or validation images")
    ap.add_argument("--no-summary", action="store_true", help="run the seeds only (summarise later)")
    ap.add_argument("--until", choices=["sft", "grpo"], default="grpo", help="stop after SFT and its evaluations")
    ap.add_argument(
        "--redo-grpo",
        action="store_true",
        help="discard the GRPO model, evaluations and times of these seeds first (SFT is kept)",
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, DemoConfig) if args.config else DemoConfig()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg_path = args.out / "demo_config.json"
    redo = {args.out / f"seed{s}" for s in args.seeds} if args.redo_grpo else set()
    if cfg_path.is_file():
        old = DemoConfig.model_validate(_read(cfg_path)).model_dump()
        changed = {k for k, v in cfg.model_dump().items() if old[k] != v}
        grpo_kept = [p for p in args.out.glob("seed*") if p not in redo and grpo_outputs(p)]
        if changed and (grpo_kept or any(not k.startswith("grpo_") for k in changed)):
            raise SystemExit(
                f"{cfg_path}: a run with a different config is in this folder (changed: {sorted(changed)}); "
                "use another --out, or --redo-grpo for every seed with GRPO results when only GRPO settings change"
            )
    for sd in sorted(redo):
        discard_grpo(sd)
    write_json(cfg_path, cfg.model_dump(mode="json"))
    for s in args.seeds:
        run_seed(cfg, args.out, s, args.split, args.until)
    if not args.no_summary and args.until == "grpo":
        done = sorted(
            int(p.name[4:])
            for p in args.out.glob("seed*")
            if (p / f"eval_{args.split}_grpo_greedy_vote.json").is_file()
        )
        summarise(cfg, args.out, done, args.split)
        print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
