"""Sentinel-2 L2A scaling and two-window band stacking, as Fields of The World (FTW) models expect them.

Public helpers (also used by scene inference, ``agriseg.raster`` / ``agriseg.fields.mapping``):

- :func:`boa_offset` - the additive offset of a product from its processing baseline (``-1000`` from 04.00).
- :func:`to_reflectance` - uint16 digital numbers -> reflectance x10000 as float32 (offset applied).
- :func:`scale_for_model` - reflectance x10000 -> model input (divide by ``divisor``, FTW: 3000).
- :func:`prepare_input` - both steps in one call (what a deployment pipeline runs).
- :func:`minmax_per_band` - per-band min-max scaling (a *wrong* but common alternative; used by robustness).
- :func:`stack_windows` / :func:`swap_windows` - window A + B stacking in an explicit order.
- :func:`read_s2` - read an N-band GeoTIFF and check its band count, naming the file on error.

Conventions: arrays are channel-first ``(C, H, W)`` (numpy) or ``(B, C, H, W)`` (torch). A two-window
stack has 8 channels: window A (R, G, B, NIR) then window B (R, G, B, NIR) for order ``"ab"``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import torch

from agriseg.fields.config import FTW_DIVISOR

# Sentinel-2 L2A from processing baseline 04.00 (25 January 2022 onwards) stores DN = 10000 * BOA + 1000:
# BOA_ADD_OFFSET = -1000 has to be added before scaling.
BOA_ADD_OFFSET: float = -1000.0
PB04_START = _dt.date(2022, 1, 25)
BANDS_PER_WINDOW = 4  # R (B04), G (B03), B (B02), NIR (B08)
BAND_NAMES = ("red", "green", "blue", "nir")

WindowOrder = Literal["ab", "ba", "a", "b"]
"""Which windows a model input holds and in what order: ``ab`` (A then B, FTW scenes and PRUE), ``ba``
(B then A, ftw-tools' training dataset default), ``a`` or ``b`` (one window, 4 channels)."""

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def channels_for(order: WindowOrder) -> int:
    """Number of input channels of a window order (8 for two windows, 4 for one)."""
    return BANDS_PER_WINDOW * len(order)


def boa_offset(baseline: str | float | None = None, date: _dt.date | str | None = None) -> float:
    """The BOA additive offset of an L2A product.

    Args:
        baseline: processing baseline, e.g. ``"04.00"``, ``"N0400"``, ``5.09``; takes precedence.
        date: acquisition/processing date (``date`` or ISO string); products from 2022-01-25 on carry the
            offset. Used when ``baseline`` is None.

    Returns:
        ``-1000.0`` for baseline >= 04.00, otherwise ``0.0`` (also when neither argument is given).
    """
    if baseline is not None:
        s = str(baseline).upper().removeprefix("N")
        try:
            value = float(s) if "." in s or len(s) < 4 else float(s[:2] + "." + s[2:])
        except ValueError as err:
            raise ValueError(f"unreadable processing baseline {baseline!r} (e.g. '04.00' or 'N0400')") from err
        return BOA_ADD_OFFSET if value >= 4.0 else 0.0
    if date is not None:
        d = _dt.date.fromisoformat(date[:10]) if isinstance(date, str) else date
        if isinstance(d, _dt.datetime):
            d = d.date()
        return BOA_ADD_OFFSET if d >= PB04_START else 0.0
    return 0.0


def to_reflectance(dn: ArrayT, offset: float = 0.0, clip_negative: bool = True) -> ArrayT:
    """Digital numbers -> reflectance x10000 (float32): ``dn + offset``, negatives clipped to 0.

    Args:
        dn: uint16 (or any numeric) array/tensor.
        offset: additive offset, :func:`boa_offset` (``-1000`` for baseline >= 04.00, else 0).
        clip_negative: clip values below 0 (dark pixels of offset products).
    """
    if isinstance(dn, torch.Tensor):
        x = dn.to(torch.float32) + offset
        return x.clamp_min(0.0) if clip_negative else x
    x = np.asarray(dn, dtype=np.float32) + np.float32(offset)
    return np.maximum(x, 0.0, out=x) if clip_negative else x


def scale_for_model(refl: ArrayT, divisor: float = FTW_DIVISOR) -> ArrayT:
    """Reflectance x10000 -> model input: ``refl / divisor`` (FTW: 3000, so bright soil ~ 1)."""
    if divisor <= 0:
        raise ValueError(f"divisor must be positive, got {divisor}")
    if isinstance(refl, torch.Tensor):
        return refl.to(torch.float32) / divisor
    return (np.asarray(refl, dtype=np.float32) / np.float32(divisor)).astype(np.float32, copy=False)


def prepare_input(dn: ArrayT, offset: float = 0.0, divisor: float = FTW_DIVISOR) -> ArrayT:
    """Raw L2A DN -> model input in one call: ``max(dn + offset, 0) / divisor`` as float32.

    Args:
        dn: ``(C, H, W)`` or ``(B, C, H, W)`` digital numbers.
        offset: :func:`boa_offset` of the product (0 for harmonised data such as FTW chips).
        divisor: FTW models use 3000.
    """
    return scale_for_model(to_reflectance(dn, offset), divisor)


def minmax_per_band(x: ArrayT, eps: float = 1e-6) -> ArrayT:
    """Per-band min-max scaling to [0, 1] over the spatial axes of ``(..., C, H, W)``."""
    if isinstance(x, torch.Tensor):
        x = x.to(torch.float32)
        lo = x.amin(dim=(-2, -1), keepdim=True)
        hi = x.amax(dim=(-2, -1), keepdim=True)
        return (x - lo) / (hi - lo).clamp_min(eps)
    x = np.asarray(x, dtype=np.float32)
    lo = x.min(axis=(-2, -1), keepdims=True)
    hi = x.max(axis=(-2, -1), keepdims=True)
    return (x - lo) / np.maximum(hi - lo, eps)


def stack_windows(window_a: np.ndarray, window_b: np.ndarray | None, order: WindowOrder = "ab") -> np.ndarray:
    """Stack two 4-band windows ``(4, H, W)`` into the model input ``(4 * len(order), H, W)``.

    Raises:
        ValueError: a window without 4 bands, mismatched sizes, or ``window_b`` missing for a 2-window order.
    """
    if window_a.shape[0] != BANDS_PER_WINDOW:
        raise ValueError(f"window A has {window_a.shape[0]} bands, expected {BANDS_PER_WINDOW} (R, G, B, NIR)")
    if window_b is not None:
        if window_b.shape[0] != BANDS_PER_WINDOW:
            raise ValueError(f"window B has {window_b.shape[0]} bands, expected {BANDS_PER_WINDOW} (R, G, B, NIR)")
        if window_b.shape != window_a.shape:
            raise ValueError(f"window sizes differ: A {window_a.shape[1:]}, B {window_b.shape[1:]}")
    parts = {"a": window_a, "b": window_b}
    if any(parts[w] is None for w in order):
        raise ValueError(f"window order {order!r} needs window B")
    return np.concatenate([parts[w] for w in order], axis=0)


def split_windows(x: ArrayT) -> tuple[ArrayT, ArrayT]:
    """Split an 8-channel stack ``(..., 8, H, W)`` into its two 4-band windows (in stored order)."""
    if x.shape[-3] != 2 * BANDS_PER_WINDOW:
        raise ValueError(f"expected {2 * BANDS_PER_WINDOW} channels (two windows), got {x.shape[-3]}")
    return x[..., :BANDS_PER_WINDOW, :, :], x[..., BANDS_PER_WINDOW:, :, :]


def swap_windows(x: ArrayT) -> ArrayT:
    """Swap the two windows of an 8-channel stack ``(..., 8, H, W)`` (A,B -> B,A)."""
    first, second = split_windows(x)
    if isinstance(x, torch.Tensor):
        return torch.cat([second, first], dim=-3)
    return np.concatenate([second, first], axis=-3)


def read_s2(
    path: str | Path, bands: int | tuple[int, ...] | None = None, chip: bool = False, nan_ok: bool = False
) -> tuple[np.ndarray, dict]:
    """Read a Sentinel-2 GeoTIFF as ``(C, H, W)`` plus its rasterio profile.

    Args:
        path: the file.
        bands: the band count(s) accepted (e.g. ``8`` or ``(4, 8)``); None accepts any.
        chip: an FTW chip's image: infinite values are refused as NaN are (a scene's are left out as nodata).
        nan_ok: NaN pixels are kept (the caller leaves them out as nodata), not refused.

    Raises:
        FileNotFoundError: the file does not exist (message starts with the path).
        ValueError: unreadable file or wrong band count (message starts with the path).
    """
    import rasterio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with rasterio.open(path) as src:
            count = src.count
            allowed = (bands,) if isinstance(bands, int) else bands
            if allowed is not None and count not in allowed:
                want = " or ".join(str(b) for b in allowed)
                raise ValueError(
                    f"{path}: has {count} bands, expected {want} (Sentinel-2 R, G, B, NIR per window: "
                    "4 for one window, 8 for window A + window B)"
                )
            try:
                arr = src.read()
            except rasterio.errors.RasterioIOError as err:  # its header read: the pixels are cut short
                from agriseg.raster.io import gdal_reason

                raise ValueError(
                    f"{path}: cannot read its pixels: the file is truncated or corrupt ({gdal_reason(err)})"
                ) from err
            if problem := band_order_problem(src.descriptions) if count in (4, 8) else None:
                raise ValueError(f"{path}: {problem}")
            # NaN was scored as nothing found (every metric 0); a chip's inf was scored too, or trained into a NaN
            # loss (a label's is said as no class id by its reader)
            odd = ~np.isfinite(arr) if chip else np.isnan(arr)
            if arr.dtype.kind == "f" and odd.any() and not nan_ok:
                what = "NaN" if np.isnan(arr).any() else "infinite"
                raise ValueError(f"{path}: holds {what} values (no FTW chip does): fill them, or leave the chip out")
            return arr, dict(src.profile)
    except rasterio.errors.RasterioIOError as err:
        from agriseg.raster.io import unreadable_raster

        raise ValueError(unreadable_raster(path, err)) from err


OFFSET_FLOOR = 1000
"""L2A digital numbers of processing baseline 04.00 on carry +1000 (``BOA_ADD_OFFSET`` -1000): their darkest
pixels (water, shadow: reflectance under 0.05, DN under 500 without it) never fall below 1000."""

CLOUD_FLOOR = 4000
"""Visible bands whose darkest percent is still above this (0.3 reflectance with the offset taken off) are
cloud or snow wherever the scene was sampled: no land pixel tells whether the offset was left in."""


def scale_problems(
    bands: np.ndarray, offset: float = 0.0, fixes: tuple[str, str] = ("--offset apply", "--offset none")
) -> list[str]:
    """What makes the values of a scene's (or chip's) visible bands ``(<=3, h, w)`` (a masked array: nodata
    left out) other than the L2A digital numbers the models were trained on, one sentence each:

    - 8-bit values, or 0-1 reflectance;
    - digital numbers (of any type) whose darkest percent is still above :data:`OFFSET_FLOOR` while no offset
      is applied (``offset`` 0): the +1000 of baseline 04.00 left in, every pixel 0.1 reflectance too bright;
    - darkest percent above :data:`CLOUD_FLOOR`: cloud or snow over every part sampled (not the offset);
    - an offset to apply (``offset`` < 0: a tag or ``--offset apply``) that takes over 5 % of the pixels to 0
      or below: data harmonised already, whose tags were copied.

    ``fixes``: the options that remove the offset and that apply none, as the command spells them.
    """
    values = np.ma.asarray(bands)
    first = values[0].compressed()
    if first.dtype == np.uint8:  # an 8-bit rendering (a quick-look, a screenshot): L2A needs 0-10000+
        return ["8-bit values (0-255), not Sentinel-2 L2A digital numbers (uint16, reflectance x 10000); the "
                "fields found will be wrong: use the L2A bands themselves"]  # fmt: skip
    seen = first[np.isfinite(first)] if np.issubdtype(first.dtype, np.floating) else first  # an all-NaN scene: no
    top = float(seen.max()) if seen.size else 0.0  # "All-NaN slice" warning before its one-line error
    if seen.size and np.issubdtype(first.dtype, np.floating) and top <= 1.5:
        return [f"values look like 0-1 reflectance (max {top:.3f}); models expect L2A digital numbers "
                "(reflectance x 10000): multiply by 10000 first"]  # fmt: skip
    positive = [v[np.isfinite(v) & (v > 0)] for v in (b.compressed().astype(np.float64) for b in values)]
    positive = [v for v in positive if v.size]
    if not positive:
        return []
    darkest = min(float(np.percentile(v, 1)) for v in positive)
    if darkest >= CLOUD_FLOOR:
        return [f"no pixel of bands 1-{len(values)} is darker than {CLOUD_FLOOR} (1st percentile {round(darkest)}) "
                "where the scene was sampled: cloud or snow, under which no field is found (or a very bright bare "
                f"scene with the +1000 of baseline 04.00 left in: then give {fixes[0]})"]  # fmt: skip
    if offset == 0 and darkest >= OFFSET_FLOOR:
        return [f"no pixel of bands 1-{len(values)} is darker than {OFFSET_FLOOR} (1st percentile "
                f"{round(darkest)}): the +1000 of Sentinel-2 processing baseline 04.00 (from 25 January 2022) "
                f"seems left in; if so, give {fixes[0]}"]  # fmt: skip
    lost = float(np.mean(np.concatenate(positive) + offset <= 0)) if offset < 0 else 0.0
    if lost > 0.05:
        return [f"the offset {offset:g} takes {100 * lost:.0f}% of the pixels of bands 1-{len(values)} to 0 or "
                "below: the data seem harmonised already (their tags copied from the original); if so, give "
                f"{fixes[1]}"]  # fmt: skip
    return []


# what a band's description may call each of BAND_NAMES (Sentinel-2 band ids, common names)
_CALLED = {
    **dict.fromkeys(("b04", "b4", "red"), "red"),
    **dict.fromkeys(("b03", "b3", "green"), "green"),
    **dict.fromkeys(("b02", "b2", "blue"), "blue"),
    **dict.fromkeys(("b08", "b8", "nir"), "nir"),  # B8A (narrow NIR) is another band: the models read B08
}


def _band_called(description: str | None) -> str | None:
    """The band a description names (``B04``, ``win_a_red``, ``Red (B4)``, ``S2_B08``): one of
    :data:`BAND_NAMES`, ``other`` for another Sentinel-2 band (``B11``), None when it names none."""
    import re

    words = re.findall(r"[a-z0-9]+", (description or "").lower().replace("_", " "))
    named = {_CALLED[w] for w in words if w in _CALLED}
    if len(named) == 1:
        return named.pop()
    if not named and any(re.fullmatch(r"b(0?[15679]|1[012]|8a)", w) for w in words):
        return "other"
    return None


def _window_called(description: str | None) -> str | None:
    """The window a band description names (``win_a_red``, ``window B NIR``): ``a``, ``b`` or None."""
    import re

    m = re.search(r"(?<![a-z0-9])win(?:dow)?[ _-]?([ab])(?![a-z0-9])", (description or "").lower())
    return m.group(1) if m else None


def bands_to_take(descriptions: Sequence[str | None], need: int) -> str:
    """``; its bands 4, 3, 2, 8 are B04, B03, B02, B08: gdal_translate -b 4 -b 3 -b 2 -b 8 ...``: for a stack
    of one date's Sentinel-2 bands (a full L2A stack of 12 or 13), the bands a model of ``need`` (4 or 8) bands
    reads, when the descriptions name each once; empty otherwise."""
    called = [_band_called(d) for d in descriptions]
    if any(called.count(n) != 1 for n in BAND_NAMES) or need not in (BANDS_PER_WINDOW, 2 * BANDS_PER_WINDOW):
        return ""
    take = [called.index(n) + 1 for n in BAND_NAMES]
    pick = " ".join(f"-b {b}" for b in take)
    said = f"; its bands {', '.join(map(str, take))} are {', '.join(str(descriptions[b - 1]) for b in take)}: "
    if need == BANDS_PER_WINDOW:
        return said + f"gdal_translate {pick} IN.tif OUT.tif"
    return said + (f"take them from each date (gdal_translate {pick}) and stack window A's then window B's "
                   "(gdal_merge.py -separate A.tif B.tif)")  # fmt: skip


def band_order_problem(descriptions: Sequence[str | None]) -> str | None:
    """What is wrong when a scene's band descriptions name its bands in another order than the models read
    (R, G, B, NIR per window): ``"described as B02, B03, B04, B08, ...: ..."``, with the ``gdal_translate``
    bands that put them right when each window holds all four; None when they agree or name no band."""
    said = ", ".join(str(d) for d in descriptions)
    windows_named = [_window_called(d) for d in descriptions]
    want = [w for w in "ab" for _ in range(BANDS_PER_WINDOW)]
    if len(descriptions) == len(want) and None not in windows_named and windows_named != want:
        # window B's bands first (as agriseg's own download names them): read as A, the model saw the dates swapped
        fix = ""
        if sorted(str(n) for n in windows_named) == want:
            order = [i + 1 for w in "ab" for i, n in enumerate(windows_named) if n == w]
            fix = "; reorder them: gdal_translate " + " ".join(f"-b {b}" for b in order) + " IN.tif OUT.tif"
        return f"its bands are described as {said}, the model reads window A's four bands, then window B's{fix}"
    found = [_band_called(d) for d in descriptions]
    called = [c for c in found if c is not None]
    if len(called) < len(found) or len(called) % BANDS_PER_WINDOW:
        return None  # undescribed (or only partly): read as given
    windows = [called[i : i + BANDS_PER_WINDOW] for i in range(0, len(called), BANDS_PER_WINDOW)]
    if all(list(w) == list(BAND_NAMES) for w in windows):
        return None
    fix = ""
    if all(sorted(w) == sorted(BAND_NAMES) for w in windows):  # a permutation within each window
        order = [i * BANDS_PER_WINDOW + w.index(n) + 1 for i, w in enumerate(windows) for n in BAND_NAMES]
        fix = "; reorder them: gdal_translate " + " ".join(f"-b {b}" for b in order) + " IN.tif OUT.tif"
    return f"its bands are described as {said}, the model reads R, G, B, NIR (B04, B03, B02, B08) per window{fix}"


__all__ = [
    "BANDS_PER_WINDOW",
    "BAND_NAMES",
    "BOA_ADD_OFFSET",
    "FTW_DIVISOR",
    "WindowOrder",
    "band_order_problem",
    "bands_to_take",
    "boa_offset",
    "channels_for",
    "minmax_per_band",
    "prepare_input",
    "read_s2",
    "scale_problems",
    "scale_for_model",
    "split_windows",
    "stack_windows",
    "swap_windows",
    "to_reflectance",
]
