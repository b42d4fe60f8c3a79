"""Gradient-guided histogram thresholding (GGHT), the pseudo-mask step of DepthCropSeg.

The paper describes it in one sentence: normalise the depth map, detect edges, weight the histogram by
gradient, fit a sigmoid, threshold at the point of maximum gradient change of the fitted curve. Every choice
it leaves open is a field of :class:`GGHTConfig`:

1. **Normalise** the signal (depth-derived nearness or a vegetation index; larger = foreground) to [0, 1]:
   ``percentile`` (robust min/max at ``low_pct``/``high_pct``, clipped; default), ``minmax`` or ``zscore``
   (``(s - mean) / std`` clipped at +-``zscore_clip`` and mapped to [0, 1]).
2. **Edges**: Gaussian smoothing (``smooth_sigma`` px at the fitting resolution), then ``sobel`` (default),
   ``scharr`` or ``laplacian`` gradient magnitude.
3. **Gradient weighting** of the histogram of normalised values: ``magnitude`` (weight = |grad|),
   ``squared`` (|grad|^2, default: strong plant/ground edges dominate weak texture and noise edges),
   ``edges`` (weight 1 on pixels whose gradient is above its ``edge_quantile`` quantile, 0 elsewhere)
   or ``none`` (plain histogram). Pixels on the boundary between plant and ground carry most of the
   weight, so the weighted histogram concentrates on values in the transition between the two levels.
4. **Sigmoid fit** to the cumulative weighted histogram (a CDF over [0, 1]): ``logistic``
   ``1 / (1 + exp(-k (x - x0)))`` (default), ``erf`` ``(1 + erf(k (x - x0) / sqrt 2)) / 2`` (Gaussian CDF,
   ``k = 1 / sigma``) or ``gompertz`` ``exp(-exp(-k (x - x0)))`` (asymmetric).
5. **Threshold** at the ``inflection`` (max of F', default: ``x0`` for all three forms) or at the ``knee``
   (max of F'', the point where the curve starts to rise: ``x0 - ln(2 + sqrt 3) / k`` logistic,
   ``x0 - 1 / k`` erf, ``x0 - ln((3 + sqrt 5) / 2) / k`` Gompertz). The knee is the more inclusive choice.

Foreground = normalised signal > threshold. Fit quality = R^2 of the sigmoid fit times the Otsu
separability (between-class / total variance of the plain histogram split at the threshold), both in [0, 1].
Full-coverage images (dense canopy; the paper's Fig. 4) are flagged and get all-ones masks when the RGB
photo is almost entirely green (``coverage_green_fraction``) or the thresholded mask covers at least
``coverage_mask_fraction`` of the image.

Defaults were chosen on synthetic RGB-D scenes (``agriseg.crop.pseudolabel.synthetic``), never on Peanut labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator
from typing_extensions import deprecated

from agriseg.config import StrictModel

Normaliser = Literal["percentile", "minmax", "zscore"]
EdgeOperator = Literal["sobel", "scharr", "laplacian"]
Weighting = Literal["magnitude", "squared", "edges", "none"]
SigmoidForm = Literal["logistic", "erf", "gompertz"]
ThresholdPoint = Literal["inflection", "knee"]
FullCoverage = Literal["auto", "off"]
GreenFloor = Literal["auto", "off"]

# Otsu separability under which a fit is too weak for its threshold to stand below a floor: one Gaussian split in
# two gives 2 / pi = 0.64 (bare soil, 40 patches of the Peanut training photos: 0.53-0.76, median 0.63); a photo
# of plants on a background of another colour 0.8-0.95, also when its plants are paler, yellower or darker than
# the floor's barely green pixel, whose fitted threshold then stands
WEAK_SPLIT = 0.75

# distance from x0 to the knee (max of F''), in units of 1/k, for each sigmoid form
_KNEE_OFFSET: dict[str, float] = {
    "logistic": math.log(2 + math.sqrt(3)),
    "erf": 1.0,
    "gompertz": math.log((3 + math.sqrt(5)) / 2),
}
# half the inter-quartile range of each form, in units of 1/k (used for the initial guess of k)
_HALF_IQR: dict[str, float] = {"logistic": math.log(3), "erf": 0.6745, "gompertz": 0.9}
FORMULAS: dict[str, str] = {
    "logistic": "1 / (1 + exp(-k * (x - x0)))",
    "erf": "(1 + erf(k * (x - x0) / sqrt(2))) / 2",
    "gompertz": "exp(-exp(-k * (x - x0)))",
}


MAX_SIGMA = 100.0  # px at the fitting resolution (480 px by default)


class GGHTConfig(StrictModel):
    """Every open choice of GGHT (see the module docstring for what each does).

    Attributes:
        normaliser: how the signal is mapped to [0, 1].
        low_pct: lower percentile for ``percentile`` normalisation.
        high_pct: upper percentile for ``percentile`` normalisation.
        zscore_clip: clip (in standard deviations) for ``zscore`` normalisation.
        smooth_sigma: Gaussian sigma (px at the fitting resolution) before edges and the histogram; 0 = off.
        mask_sigma: Gaussian sigma (px at the fitting resolution) of the map that is thresholded into the
            mask; None = ``smooth_sigma``. Smaller keeps thin leaves, larger removes speckle (default 0.5).
        edge_operator: gradient operator.
        weighting: how the gradient weights the histogram.
        edge_quantile: gradient quantile above which pixels count as edges (``weighting="edges"``).
        bins: histogram bins over [0, 1].
        sigmoid: the curve fitted to the cumulative weighted histogram.
        point: threshold at the curve's ``inflection`` or its ``knee``.
        fit_long_side: the threshold is estimated on a copy whose long side is this many px (speed;
            0 = full size); the mask is always made at full size.
        full_coverage: ``auto`` detects dense-canopy images and gives them all-ones masks; ``off`` never.
        coverage_green_fraction: an RGB photo with at least this share of clearly green pixels is
            full-coverage.
        coverage_mask_fraction: a mask covering at least this share of the image is full-coverage.
        green_floor: ``auto``: where the fit is weak (:data:`WEAK_SPLIT`), a colour-index threshold is never
            below the index of a barely green pixel (:data:`~agriseg.crop.pseudolabel.indices.BARELY_GREEN_RGB`),
            so bare soil and photos of a few small plants are not split in two; ``off``: the fitted threshold
            alone. Depth is never floored.
    """

    normaliser: Normaliser = "percentile"
    low_pct: float = Field(1.0, ge=0, le=100)
    high_pct: float = Field(99.0, ge=0, le=100)
    zscore_clip: float = Field(3.0, gt=0)
    # a blur far wider than a plant leaves nothing to threshold (1e9 was an OpenCV kernel that took all memory)
    smooth_sigma: float = Field(1.0, ge=0, le=MAX_SIGMA)
    mask_sigma: float | None = Field(0.5, ge=0, le=MAX_SIGMA)
    edge_operator: EdgeOperator = "sobel"
    weighting: Weighting = "squared"
    edge_quantile: float = Field(0.8, ge=0, le=1)
    bins: int = Field(128, ge=8)
    sigmoid: SigmoidForm = "logistic"
    point: ThresholdPoint = "inflection"
    fit_long_side: int = Field(480, ge=0)
    full_coverage: FullCoverage = "auto"
    coverage_green_fraction: float = Field(0.95, gt=0, le=1)
    coverage_mask_fraction: float = Field(0.98, gt=0, le=1)
    green_floor: GreenFloor = "auto"

    model_config = ConfigDict(frozen=True)  # merged with StrictModel's by pydantic

    @model_validator(mode="after")
    def _percentiles(self) -> GGHTConfig:
        if not self.low_pct < self.high_pct:
            raise ValueError(f"GGHT percentiles must satisfy low < high, got {self.low_pct}, {self.high_pct}")
        return self


@dataclass
class GGHTResult:
    """The outcome of GGHT on one image.

    Attributes:
        mask: ``bool`` ``(H, W)`` foreground (all True when ``full_coverage``).
        threshold: threshold on the normalised [0, 1] signal.
        threshold_raw: the same threshold in the signal's own units.
        curve: fitted curve: ``form``, ``formula``, ``x0``, ``k`` (on the normalised axis), ``point``.
        r2: R^2 of the fit to the cumulative weighted histogram.
        rmse: root-mean-square error of that fit.
        separability: Otsu's between-class / total variance at the threshold (0..1).
        quality: ``r2 * separability`` (clipped to [0, 1]); the screening page sorts by it.
        full_coverage: the image was judged a dense canopy (mask = all ones).
        foreground_fraction: share of mask pixels.
        normalisation: ``lo``/``hi`` raw values mapped to 0/1.
        hist: the gradient-weighted histogram (``bins`` values) for plotting.
        plain_hist: the unweighted histogram, for plotting.
        floored: the fit was weak and its threshold lay below the floor: the mask is the signal above the floor
            (``threshold_raw``; ``threshold`` is the floor normalised, at most 1).
    """

    mask: np.ndarray
    threshold: float
    threshold_raw: float
    curve: dict
    r2: float
    rmse: float
    separability: float
    quality: float
    full_coverage: bool
    foreground_fraction: float
    normalisation: dict
    hist: np.ndarray = field(repr=False)
    plain_hist: np.ndarray = field(repr=False)
    floored: bool = False

    def record(self) -> dict:
        """JSON-ready summary (no arrays except nothing large)."""
        return {
            "threshold": round(self.threshold, 6),
            "threshold_raw": round(self.threshold_raw, 6),
            "curve": self.curve,
            "fit_r2": round(self.r2, 6),
            "fit_rmse": round(self.rmse, 6),
            "separability": round(self.separability, 6),
            "fit_quality": round(self.quality, 6),
            "full_coverage": self.full_coverage,
            "floored": self.floored,
            "foreground_fraction": round(self.foreground_fraction, 6),
            "normalisation": self.normalisation,
        }


def sigmoid(x: np.ndarray, x0: float, k: float, form: SigmoidForm = "logistic") -> np.ndarray:
    """Evaluate a rising sigmoid of the given form at ``x``."""
    z = k * (x - x0)
    if form == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), overflow-free
    if form == "erf":
        from scipy.special import erf

        return 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
    if form == "gompertz":
        return np.exp(-np.exp(-np.clip(z, -50.0, 50.0)))
    raise ValueError(f"unknown sigmoid form {form!r}; valid: logistic, erf, gompertz")


def threshold_point(x0: float, k: float, form: SigmoidForm, point: ThresholdPoint) -> float:
    """Inflection (max F') or knee (max F'') of a fitted rising sigmoid."""
    if point == "inflection":
        return x0
    return x0 - _KNEE_OFFSET[form] / k


def normalise(signal: np.ndarray, cfg: GGHTConfig) -> tuple[float, float]:
    """Raw values ``(lo, hi)`` that map to 0 and 1.

    Raises:
        ValueError: if the signal is (nearly) constant or not finite.
    """
    s = signal.ravel()
    if s.size > 60_000:  # percentiles of a regular subsample: same values, a fraction of the time
        s = s[:: s.size // 50_000]
    if cfg.normaliser == "percentile":
        lo, hi = (float(v) for v in np.percentile(s, [cfg.low_pct, cfg.high_pct]))
    elif cfg.normaliser == "minmax":
        lo, hi = float(s.min()), float(s.max())
    else:
        m, sd = float(s.mean()), float(s.std())
        lo, hi = m - cfg.zscore_clip * sd, m + cfg.zscore_clip * sd
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("signal has NaN or infinite values")
    scale = max(abs(lo), abs(hi), 1e-12)
    if hi - lo <= 1e-6 * scale:
        raise ValueError(f"signal is constant (value {lo:.6g}): nothing to threshold")
    return lo, hi


def _gradient(v: np.ndarray, op: EdgeOperator) -> np.ndarray:
    """Gradient magnitude ``(h, w)`` of a float32 map."""
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    if op == "laplacian":
        return np.abs(cv2.Laplacian(v, cv2.CV_32F, ksize=3))
    if op == "scharr":
        gx, gy = cv2.Scharr(v, cv2.CV_32F, 1, 0), cv2.Scharr(v, cv2.CV_32F, 0, 1)
    else:
        gx, gy = cv2.Sobel(v, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(v, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def _weights(g: np.ndarray, cfg: GGHTConfig) -> np.ndarray:
    if cfg.weighting == "magnitude":
        return g
    if cfg.weighting == "squared":
        return g * g
    if cfg.weighting == "edges":
        return (g > np.quantile(g, cfg.edge_quantile)).astype(np.float32)
    return np.ones_like(g)


def _fit(x: np.ndarray, y: np.ndarray, form: SigmoidForm) -> tuple[float, float, bool]:
    """Least-squares fit of ``sigmoid(x; x0, k)`` to ``y``; returns ``(x0, k, converged)``."""
    from scipy.optimize import curve_fit

    q25, q50, q75 = (float(np.interp(q, y, x)) for q in (0.25, 0.5, 0.75))
    k0 = 2 * _HALF_IQR[form] / max(q75 - q25, 1.0 / len(x))
    p0 = (min(max(q50, 0.0), 1.0), float(np.clip(k0, 0.5, 1e4)))
    try:
        (x0, k), _ = curve_fit(
            lambda xx, a, b: sigmoid(xx, a, b, form),
            x,
            y,
            p0=p0,
            bounds=([-0.5, 0.1], [1.5, 1e5]),
            maxfev=400,
        )
        return float(x0), float(k), True
    except (RuntimeError, ValueError):
        return p0[0], p0[1], False


def _separability(hist: np.ndarray, t_bin: int) -> float:
    """Otsu's eta = between-class variance / total variance when splitting ``hist`` at bin ``t_bin``."""
    p = hist / max(hist.sum(), 1e-12)
    c = (np.arange(len(p)) + 0.5) / len(p)
    mu = float((p * c).sum())
    var = float((p * (c - mu) ** 2).sum())
    w0 = float(p[:t_bin].sum())
    if var <= 0 or w0 <= 0 or w0 >= 1:
        return 0.0
    mu0 = float((p[:t_bin] * c[:t_bin]).sum()) / w0
    mu1 = (mu - w0 * mu0) / (1 - w0)
    return float(np.clip(w0 * (1 - w0) * (mu0 - mu1) ** 2 / var, 0.0, 1.0))


def gght(
    signal: np.ndarray,
    cfg: GGHTConfig | None = None,
    rgb: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    out_shape: tuple[int, int] | None = None,
    floor: float | None = None,
) -> GGHTResult:
    """Threshold one map by gradient-guided histogram thresholding.

    The threshold is estimated on a copy whose long side is ``cfg.fit_long_side``; the mask is made by
    bilinearly upsampling the smoothed, normalised copy to ``out_shape`` (default: the signal's shape)
    and thresholding it, so boundaries stay sub-pixel smooth at full size.

    Args:
        signal: ``(H, W)`` float map where larger = foreground (nearness or a vegetation index).
        cfg: the GGHT choices (defaults if None).
        rgb: the matching ``uint8`` photo ``(H', W', 3)`` (any size), used only for the full-coverage check.
        valid: optional ``bool`` ``(H, W)``; pixels outside it are excluded from the histogram and
            never foreground.
        out_shape: ``(H, W)`` of the mask, when the signal was computed on a smaller copy of the photo.
        floor: the lowest threshold in the signal's own units where the fit is weak (separability under
            :data:`WEAK_SPLIT`): a fitted one below it is not used, the mask is the smoothed signal above the
            floor; None = the fitted threshold alone.

    Returns:
        The mask and the per-image record.

    Raises:
        ValueError: if the signal is not 2-D, has NaN/inf values, is constant, or has no valid pixels.
    """
    import cv2  # OpenCV comes with the [train] extra: imported on use so the configs load without it

    cfg = cfg or GGHTConfig()
    if signal.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {signal.shape}")
    s = np.asarray(signal, dtype=np.float32)
    H, W = s.shape
    out_shape = out_shape or (H, W)
    if valid is not None:
        if valid.shape != s.shape:
            raise ValueError(f"valid mask {valid.shape} differs from the signal {s.shape}")
        if not valid.any():
            raise ValueError("no valid pixels")
        s = np.where(valid, s, np.float32(np.median(s[valid])))
    if not np.isfinite(s).all():
        raise ValueError(f"signal has {int((~np.isfinite(s)).sum())} NaN or infinite values")
    scale = min(1.0, cfg.fit_long_side / max(H, W)) if cfg.fit_long_side else 1.0
    if scale < 1.0:
        size = (max(2, round(W * scale)), max(2, round(H * scale)))
        small = cv2.resize(s, size, interpolation=cv2.INTER_AREA)  # (h, w)
        vsmall = (
            None if valid is None else cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        )
    else:
        small, vsmall = s, valid
    lo, hi = normalise(small if vsmall is None else small[vsmall][None, :], cfg)
    v = np.clip((small - lo) * np.float32(1.0 / (hi - lo)), 0.0, 1.0)  # (h, w) in [0, 1]
    v_raw = v
    if cfg.smooth_sigma > 0:
        v = cv2.GaussianBlur(v_raw, (0, 0), cfg.smooth_sigma)
    g = _gradient(v, cfg.edge_operator)  # (h, w)
    w = _weights(g, cfg)
    if vsmall is not None:
        w = w * vsmall
    idx = np.minimum((v * cfg.bins).astype(np.int32), cfg.bins - 1).ravel()
    hist = np.bincount(idx, weights=w.ravel(), minlength=cfg.bins)  # (bins,)
    plain = np.bincount(idx, minlength=cfg.bins).astype(np.float64)
    if hist.sum() <= 0:  # no gradient anywhere: fall back to the plain histogram
        hist = plain.astype(hist.dtype)
    x = (np.arange(cfg.bins) + 0.5) / cfg.bins
    cdf = np.cumsum(hist) / hist.sum()
    x0, k, ok = _fit(x, cdf, cfg.sigmoid)
    fitted = sigmoid(x, x0, k, cfg.sigmoid)
    ss_res = float(((cdf - fitted) ** 2).sum())
    ss_tot = float(((cdf - cdf.mean()) ** 2).sum()) or 1e-12
    r2 = max(0.0, 1.0 - ss_res / ss_tot)
    t = float(np.clip(threshold_point(x0, k, cfg.sigmoid, cfg.point), 0.0, 1.0))
    sep = _separability(plain, int(round(t * cfg.bins)))  # of the fit, at its own threshold
    t_floor = None if floor is None else (floor - lo) / (hi - lo)
    floored = t_floor is not None and t < t_floor and sep < WEAK_SPLIT

    ms = cfg.smooth_sigma if cfg.mask_sigma is None else cfg.mask_sigma
    if floored and t_floor is not None and floor is not None:
        # the signal itself against the floor: normalised, plants on a few % of the photo are clipped to 1 with
        # the soil's top (their outlines then blur into the soil; a floor above the range left none of them)
        v = cv2.GaussianBlur(small, (0, 0), ms) if ms > 0 else small  # (h, w) raw units
        t, t_raw, t_mask = min(1.0, t_floor), float(floor), float(floor)
    else:
        if ms != cfg.smooth_sigma:
            v = cv2.GaussianBlur(v_raw, (0, 0), ms) if ms > 0 else v_raw
        t_raw, t_mask = lo + t * (hi - lo), t
    up = v if v.shape == out_shape else cv2.resize(v, out_shape[::-1], interpolation=cv2.INTER_LINEAR)
    mask = up > t_mask  # (H, W) bool
    if valid is not None:
        vm = (
            valid
            if valid.shape == out_shape
            else cv2.resize(valid.astype(np.uint8), out_shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        )
        mask &= vm
    frac = float(mask.mean())
    full_cov = False
    if cfg.full_coverage == "auto":
        from agriseg.crop.pseudolabel.indices import green_fraction

        step = max(1, (max(rgb.shape[:2]) // 240)) if rgb is not None else 1
        if frac >= cfg.coverage_mask_fraction or (
            rgb is not None and green_fraction(rgb[::step, ::step]) >= cfg.coverage_green_fraction
        ):
            full_cov = True
            mask = np.ones(out_shape, bool)
            frac = 1.0
    curve = {
        "form": cfg.sigmoid,
        "formula": FORMULAS[cfg.sigmoid],
        "x0": round(x0, 6),
        "k": round(k, 6),
        "point": cfg.point,
        "converged": ok,
        "axis": "normalised signal in [0, 1]",
    }
    return GGHTResult(
        mask=mask,
        threshold=float(t),
        threshold_raw=float(t_raw),
        curve=curve,
        r2=r2,
        rmse=math.sqrt(ss_res / cfg.bins),
        separability=sep,
        quality=float(np.clip(r2 * sep, 0, 1)),
        full_coverage=full_cov,
        foreground_fraction=frac,
        normalisation={"method": cfg.normaliser, "lo": round(lo, 6), "hi": round(hi, 6)},
        hist=hist,
        plain_hist=plain,
        floored=floored,
    )


@deprecated("config_dict: unused, removed in the next release; use cfg.model_dump()")
def config_dict(cfg: GGHTConfig) -> dict:
    """The config as a plain dict (for JSON records)."""
    return cfg.model_dump()
