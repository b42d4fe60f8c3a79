"""ViT-Adapter + UperNet: parameters, GFLOPs, images/s and peak memory per size and upsampler.

Each (size, upsampler) is measured in a fresh subprocess so that peak memory is its own. Inference only:
eval mode, ``torch.no_grad``, batch 1, random weights (speed does not depend on them). Prints a markdown
table and, with ``--json``, writes the rows. Run heavy CPU jobs under the shared lock:

    OMP_NUM_THREADS=2 flock /tmp/agriseg-cpu.lock python benchmarks/vit_adapter.py
    python benchmarks/vit_adapter.py --params-only --sizes tiny small base large
    python benchmarks/vit_adapter.py --device cuda --iters 50   # on a GPU machine

GFLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-add = 2 FLOPs; papers
using mmseg/fvcore usually report multiply-adds as "FLOPs", i.e. half of this). ``grid_sample`` (the
deformable-attention sampling) has no FLOP formula there and is not counted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Literal

SIZES = ("tiny", "small", "base", "large")
UPSAMPLERS = ("bilinear", "fade", "dysample", "carafe")
Device = Literal["cpu", "cuda"]


@dataclass
class BenchConfig:
    """What to measure.

    Attributes:
        image_size: square input side in pixels.
        batch: images per forward pass.
        warmup: untimed forward passes.
        iters: timed forward passes.
        decoder_channels: UperNet width (512 = mmseg's UperNet, the published configurations).
        device: ``cpu`` or ``cuda``.
        threads: torch CPU threads (0 = leave torch's default).
    """

    image_size: int = 512
    batch: int = 1
    warmup: int = 1
    iters: int = 3
    decoder_channels: int = 512
    device: Device = "cpu"
    threads: int = 0


def _rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def count_params(size: str, upsampler: str, decoder_channels: int) -> dict[str, float]:
    """Millions of parameters: ViT, adapter (encoder minus ViT), decoder + head, total."""
    import torch

    from agriseg.models import build_model

    torch.manual_seed(0)
    model = build_model(
        arch="upernet",
        encoder=f"vit_adapter_{size}",
        encoder_weights=None,
        upsampler=upsampler,
        decoder_channels=decoder_channels,
    )
    n = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    vit, enc = n(model.encoder.body.vit), n(model.encoder)
    return {
        "vit_m": vit,
        "adapter_m": enc - vit,
        "decoder_m": n(model) - enc,
        "total_m": n(model),
        "dim": model.encoder.out_channels[1],
        "vit": model.encoder.body.spec.vit,
    }


def measure(size: str, upsampler: str, cfg: BenchConfig) -> dict[str, float | str]:
    """Build one model and measure it (call in a fresh process for a meaningful peak memory)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from agriseg.models import build_model

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(0)
    dev = torch.device(cfg.device)
    model = (
        build_model(
            arch="upernet",
            encoder=f"vit_adapter_{size}",
            encoder_weights=None,
            upsampler=upsampler,
            decoder_channels=cfg.decoder_channels,
        )
        .eval()
        .to(dev)
    )
    params = sum(p.numel() for p in model.parameters()) / 1e6
    x = torch.rand(cfg.batch, 3, cfg.image_size, cfg.image_size, device=dev)  # (B, 3, S, S)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            model(x[:1])
        gflops = counter.get_total_flops() / 1e9
        base_rss = _rss_mib()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        for _ in range(cfg.warmup):
            model(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(cfg.iters):
            model(x)
        sync()
        dt = time.perf_counter() - t0
    row: dict[str, float | str] = {
        "size": size,
        "upsampler": upsampler,
        "params_m": params,
        "gflops": gflops,
        "images_per_s": cfg.iters * cfg.batch / dt,
    }
    if dev.type == "cuda":
        row["peak_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
    else:  # ru_maxrss is in KiB on Linux: the process peak, and its rise over the model-loaded baseline
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row["peak_mem_mib"] = peak
        row["activation_peak_mib"] = max(0.0, peak - base_rss)
    return row


def _markdown(rows: list[dict], cfg: BenchConfig) -> str:
    mem = "peak GPU MiB" if cfg.device == "cuda" else "peak RSS MiB (rise over model)"
    lines = [
        f"| size | upsampler | params (M) | GFLOPs | images/s | {mem} |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        m = f"{r['peak_mem_mib']:.0f}"
        if "activation_peak_mib" in r:
            m += f" (+{r['activation_peak_mib']:.0f})"
        lines.append(
            f"| {r['size']} | {r['upsampler']} | {r['params_m']:.2f} | {r['gflops']:.1f} | "
            f"{r['images_per_s']:.2f} | {m} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small"], choices=SIZES)
    ap.add_argument("--upsamplers", nargs="+", default=list(UPSAMPLERS), choices=UPSAMPLERS)
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--decoder-channels", type=int, default=512)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--params-only", action="store_true", help="parameter table only (no forward passes)")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--one", nargs=2, metavar=("SIZE", "UPSAMPLER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    cfg = BenchConfig(
        args.image_size, args.batch, args.warmup, args.iters, args.decoder_channels, args.device, args.threads
    )
    if args.one:  # child process: one measurement, one JSON line
        print(json.dumps(measure(args.one[0], args.one[1], cfg)))
        return
    if args.params_only:
        rows = [
            {"size": s, **count_params(s, u, cfg.decoder_channels), "upsampler": u}
            for s in args.sizes
            for u in args.upsamplers
        ]
        print("| size | ViT (timm) | dim | upsampler | ViT (M) | adapter (M) | UperNet+head (M) | total (M) |")
        print("|---|---|---:|---|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['size']} | {r['vit']} | {r['dim']} | {r['upsampler']} | {r['vit_m']:.2f} | "
                f"{r['adapter_m']:.2f} | {r['decoder_m']:.2f} | {r['total_m']:.2f} |"
            )
    else:
        rows = []
        for s in args.sizes:
            for u in args.upsamplers:
                cmd = [sys.executable, __file__, "--one", s, u, *_child_args(cfg)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(f"{s} {u}: {rows[-1]}", file=sys.stderr, flush=True)
        print(
            f"input {cfg.batch}x3x{cfg.image_size}x{cfg.image_size}, {cfg.device}, "
            f"UperNet {cfg.decoder_channels} ch, "
            f"{cfg.iters} timed passes after {cfg.warmup} warm-up"
        )
        print(_markdown(rows, cfg))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": asdict(cfg), "rows": rows}, f, indent=1)


def _child_args(cfg: BenchConfig) -> list[str]:
    return [
        "--image-size",
        str(cfg.image_size),
        "--batch",
        str(cfg.batch),
        "--warmup",
        str(cfg.warmup),
        "--iters",
        str(cfg.iters),
        "--decoder-channels",
        str(cfg.decoder_channels),
        "--device",
        cfg.device,
        "--threads",
        str(cfg.threads),
    ]


if __name__ == "__main__":
    main()
