"""Histogram plot of one GGHT result: plain and gradient-weighted histograms, their CDF and the fit."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from agriseg.crop.pseudolabel.gght import GGHTResult, sigmoid
from agriseg.data.files import atomic_write


def plot_histogram(res: GGHTResult, path: str | Path, title: str = "") -> Path:
    """Save a PNG: histograms, the weighted CDF, the fitted sigmoid and the threshold (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a name in a script the font lacks (field 田地_15) is drawn as boxes; matplotlib's warning of it printed two
    # raw lines with its source paths per picture
    warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)

    path = Path(path)
    bins = len(res.hist)
    x = (np.arange(bins) + 0.5) / bins
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)  # room for the legend beside the axes
    ax.bar(x, res.plain_hist / max(res.plain_hist.max(), 1e-12), width=1 / bins, color="0.75", label="histogram")
    ax.bar(
        x,
        res.hist / max(res.hist.max(), 1e-12),
        width=1 / bins,
        color="tab:orange",
        alpha=0.6,
        label="gradient-weighted",
    )
    ax.plot(x, np.cumsum(res.hist) / max(res.hist.sum(), 1e-12), color="tab:blue", lw=1.5, label="weighted CDF")
    xf = np.linspace(0, 1, 400)
    ax.plot(
        xf,
        sigmoid(xf, res.curve["x0"], res.curve["k"], res.curve["form"]),
        "k--",
        lw=1.2,
        label=f"{res.curve['form']} fit (R2 {res.r2:.3f})",
    )
    why = "green floor" if res.floored else res.curve["point"]  # the floor, not the fit, set a floored threshold
    ax.axvline(res.threshold, color="tab:red", lw=1.5, label=f"threshold ({why}) {res.threshold:.3f}")
    ax.set_xlabel("normalised signal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{title}  quality {res.quality:.2f}" + ("  FULL COVERAGE" if res.full_coverage else ""), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside: it covered bars
    fig.tight_layout()
    try:
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
