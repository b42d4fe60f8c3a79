"""Boundary refinement of hand labels: re-decide the band around every outline from the pixels' colour.

Hand outlines are drawn a few pixels generously (the Peanut labels sit 1-2 px outside the leaves), and a model
trained on them learns to draw every plant that much too wide. Away from the outline the hand label is right;
near it, the photo itself says where leaf turns into soil. So each photo gets its own two-class colour model:

1. *sure* vegetation = labelled vegetation farther than ``band + 1`` px from the outline, *sure* background
   likewise; both sampled;
2. a linear discriminant (LDA, equal priors) on CIELAB colour separates the two. A pixel mixing leaf and soil
   has a colour on the line between the two means, and LDA with equal priors cuts that line at its middle:
   the decision falls where a pixel is half leaf, which is where an area-preserving outline lies;
3. every pixel within ``band`` px of the outline takes the discriminant's decision; pixels that become
   vegetation take the class of the nearest labelled vegetation pixel (crop and weed stay apart).

scikit-learn is not a dependency, and a two-class LDA is a few lines of numpy, so it is written here.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

# half-seen objects (_half_seen_objects): objects the model saw with at most this share sure, of at least this
# many pixels, with at least MIN_HALF_SEEN pixels of vegetation and of background ring, decided out to
# HALF_SEEN_GROW px beyond the region the model saw. MIN_HALF_SEEN 10 since session 57 (20 before): a small dark
# plant of which the photo-wide colour decision kept 17 px came out a speck (benchmarks/results/
# crop_half_seen_start_rule.md)
HALF_SEEN_SURE = 0.05
HALF_SEEN_MIN_SIZE = 100
MIN_HALF_SEEN = 10
HALF_SEEN_GROW = 2
# the object-level steps (half-seen objects, faint-stem bridges) read "the model saw something" as a probability
# above a small threshold, which assumes the model's background is sure (the packaged models give background a
# median vegetation probability of 0.0001-0.0005 on every development set). A model trained briefly or on
# pseudo-labels can give all of it 0.03-0.07: a whole photo then becomes one "half-seen object" or one "trace"
# (an annotation-free stage-1 model fell from 88.3 to 72.9 mIoU). Their thresholds are raised to at least this
# many times the photo's background floor (median vegetation probability of the pixels the model calls
# background).
FLOOR_FACTOR = 4.0
# local colour decision (band_by_colour_local): each object is decided against the sure background within this
# many working pixels of it; None: one discriminant for the whole photo. 8 since default v5: on fresh development
# sets and in one gated run of the benchmark sets it measured plants and lab scenes closer and tray pots nearer
# their true area (crop_default.md, "The per-object colour decision again, with v5")
LOCAL_RING: int | None = 8
LOCAL_MIN_SAMPLES = 30
# ... and only where the object is greener than that background by this much (CIELAB a*)
LOCAL_MIN_GREENER = 3.0
# objects of no plant colour (_drop_grey_unsure_objects): an object the model was sure of nowhere (every pixel
# under the unsure band's top) is not a plant when its median CIELAB colour is grey (chroma under GREY_CHROMA),
# blue (hue strictly inside BLUE_HUE, degrees of atan2(b*, a*)) or a saturated orange or yellow (chroma of at
# least WARM_CHROMA, hue inside WARM_HUE; pure sRGB yellow is 102.8 deg, green leaves 105 deg and up). Red and
# purple (-50..45 deg), the colours of anthocyanin in red- and purple-leaved crops, are left to the model.
# Chosen from the never-sure objects of the seen development sets (benchmarks/results/crop_hue_objects_rule.md)
GREY_CHROMA = 8.0
BLUE_HUE = (-120.0, -50.0)
WARM_CHROMA = 50.0
WARM_HUE = (45.0, 104.0)
# colour samples of vegetation (refine_outline with ``unsure``): pixels of at least this vegetation probability,
# 1 px inside the model's mask; None: the unsure band's top (only the pixels the model is sure of)
SAMPLE_VEG: float | None = None


def lab_features(rgb: np.ndarray, opencv: bool = True) -> np.ndarray:
    """CIELAB colour of every pixel as ``float32`` ``(H, W, 3)`` (OpenCV's 8-bit scaling).

    OpenCV where installed and ``opencv`` (training, where label refinement ran with it; 8x faster on a whole
    photo), else scikit-image scaled the same way (inference: the base install has no OpenCV, and every crop
    command must give the same mask with or without the extras); a linear discriminant does not depend on the
    scaling.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if opencv:
        try:
            import cv2
        except ImportError:
            pass
        else:
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    from skimage.color import rgb2lab

    lab = rgb2lab(rgb).astype(np.float32)  # L 0-100, a and b about -128..127
    lab[..., 0] *= 255 / 100
    lab[..., 1:] += 128
    return lab


def fit_lda(pos: np.ndarray, neg: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, float]:
    """Two-class linear discriminant with equal priors.

    Args:
        pos: ``(N, F)`` samples of the positive class.
        neg: ``(M, F)`` samples of the negative class.
        ridge: added to the pooled covariance's diagonal (relative to its mean variance) for stability.

    Returns:
        ``(w, c)``: a sample ``x`` is positive when ``x @ w > c``.
    """
    mp, mn = pos.mean(0), neg.mean(0)
    cov = (np.cov(pos, rowvar=False) * (len(pos) - 1) + np.cov(neg, rowvar=False) * (len(neg) - 1)) / max(
        1, len(pos) + len(neg) - 2
    )
    cov = np.atleast_2d(cov) + np.eye(pos.shape[1]) * ridge * max(float(np.trace(np.atleast_2d(cov))), 1e-6)
    w = np.linalg.solve(cov, mp - mn)
    return w, float(w @ (mp + mn) / 2)


def band_by_colour(
    rgb: np.ndarray,
    sure_veg: np.ndarray,
    sure_bg: np.ndarray,
    in_band: np.ndarray,
    max_samples: int = 20000,
    min_samples: int = 200,
    seed: int = 0,
    opencv: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The colour decision of both refiners: fit the discriminant on sampled sure pixels, apply it to the band.

    Only the sampled and band pixels are converted to Lab (a whole 8 MP photo takes seconds without OpenCV);
    ``opencv``: with OpenCV where installed (:func:`lab_features`), else with scikit-image.

    Returns:
        ``(ys, xs, is_vegetation)`` of the band pixels, or None when either class has under ``min_samples``
        sure pixels (or the band is empty).
    """
    fitted = fit_by_colour(rgb, sure_veg, sure_bg, max_samples, min_samples, seed, opencv)
    return None if fitted is None else _apply(rgb, in_band, fitted, opencv)


def _apply(
    rgb: np.ndarray, in_band: np.ndarray, fitted: tuple[np.ndarray, float], opencv: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(ys, xs, is_vegetation)`` of the ``in_band`` pixels by the discriminant ``fitted``; None: no band."""
    if not in_band.any():
        return None
    ys, xs = np.nonzero(in_band)
    return ys, xs, lab_features(rgb[ys, xs][:, None], opencv)[:, 0] @ fitted[0] > fitted[1]


def fit_by_colour(
    rgb: np.ndarray,
    sure_veg: np.ndarray,
    sure_bg: np.ndarray,
    max_samples: int = 20000,
    min_samples: int = 200,
    seed: int = 0,
    opencv: bool = True,
) -> tuple[np.ndarray, float] | None:
    """The discriminant :func:`fit_lda` of sampled sure pixels in Lab; None when either class has under
    ``min_samples`` of them."""
    if sure_veg.sum() < min_samples or sure_bg.sum() < min_samples:
        return None
    rng = np.random.default_rng(seed)
    return fit_lda(
        _sampled_lab(rgb, sure_veg, max_samples, rng, opencv), _sampled_lab(rgb, sure_bg, max_samples, rng, opencv)
    )


def band_by_colour_local(
    rgb: np.ndarray,
    sure_veg: np.ndarray,
    sure_bg: np.ndarray,
    in_band: np.ndarray,
    ring: int,
    photo: tuple[np.ndarray, float],
    min_samples: int = LOCAL_MIN_SAMPLES,
    max_samples: int = 4000,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The colour decision per object, each against the background around it.

    One discriminant per photo cuts between the mean plant and the mean background. Where the background is
    several things (soil in a pot, the pot's rim, a blue mat, a white bench), a pixel half leaf and half soil is
    cut against the wrong mean and plants come out too wide or too small. Here every group of band pixels
    within ``ring`` px of each other is decided by a discriminant fitted to the sure pixels within ``ring`` px of
    it. Groups with under ``min_samples`` sure pixels of either class are left out (the photo's discriminant
    ``photo`` decides them), and so are groups whose sure vegetation the photo's discriminant mostly calls
    background or which are not greener (CIELAB a*) than their background by :data:`LOCAL_MIN_GREENER`: a grey
    reflection the model took for a plant would otherwise be outlined against its own background and grow.

    Returns:
        ``(ys, xs, is_vegetation)`` per decided group.
    """
    rng = np.random.default_rng(seed)
    size = 2 * ring + 1
    near = ndi.maximum_filter(in_band, size)  # (H, W) within ring px of a band pixel
    groups, n = ndi.label(near)
    out = []
    for i, sl in enumerate(ndi.find_objects(groups), start=1):
        if sl is None:
            continue
        g = groups[sl] == i
        band, sv, sb = in_band[sl] & g, sure_veg[sl] & g, sure_bg[sl] & g
        if sv.sum() < min_samples or sb.sum() < min_samples or not band.any():
            continue
        crop = np.ascontiguousarray(rgb[sl])
        veg_lab = _sampled_lab(crop, sv, max_samples, rng)
        if (veg_lab @ photo[0] > photo[1]).mean() < 0.5:  # not a plant by the photo's colours
            continue
        bg_lab = _sampled_lab(crop, sb, max_samples, rng)
        if bg_lab[:, 1].mean() - veg_lab[:, 1].mean() < LOCAL_MIN_GREENER:  # a* (green-red): a grey reflection
            continue
        decided = _apply(crop, band, fit_lda(veg_lab, bg_lab), opencv=False)
        if decided is not None:
            ys, xs, is_veg = decided
            out.append((ys + sl[0].start, xs + sl[1].start, is_veg))
    return out


def _sampled_lab(
    rgb: np.ndarray, mask: np.ndarray, n: int, rng: np.random.Generator, opencv: bool = False
) -> np.ndarray:
    """Lab ``(k, 3)`` of at most ``n`` pixels of ``rgb`` ``(H, W, 3)`` where ``mask`` ``(H, W)``, sampled by
    index (only the sampled pixels are copied and converted)."""
    idx = np.flatnonzero(mask)
    if len(idx) > n:
        idx = idx[rng.choice(len(idx), n, replace=False)]
    return lab_features(rgb.reshape(-1, 3)[idx][:, None], opencv)[:, 0]


def refine_labels(
    rgb: np.ndarray,
    label: np.ndarray,
    band: int = 3,
    ignore_index: int = 255,
    max_samples: int = 20000,
    min_samples: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Re-label the band around every hand outline by colour (see the module docstring).

    Args:
        rgb: the photo, ``uint8`` ``(H, W, 3)``.
        label: class ids ``(H, W)``: 0 background, 1.. vegetation classes, ``ignore_index`` unlabelled.
        band: half-width (px) of the band around the outline that is re-decided; 0 returns ``label``.
        ignore_index: the unlabelled value (never changed, never sampled).
        max_samples: sure pixels per class used to fit the discriminant.
        min_samples: below this many sure pixels of either class the label is returned unchanged.
        seed: seed of the sampling.

    Returns:
        A new ``uint8`` label of the same shape.
    """
    if band <= 0:
        return label.copy()
    veg = (label != 0) & (label != ignore_index)
    bg = label == 0
    d_in = ndi.distance_transform_edt(veg)  # vegetation pixel -> distance to the nearest non-vegetation
    d_out, (iy, ix) = ndi.distance_transform_edt(~veg, return_indices=True)  # -> nearest vegetation pixel
    sure_veg, sure_bg = veg & (d_in > band + 1), bg & (d_out > band + 1)
    in_band = (veg & (d_in <= band)) | (bg & (d_out <= band))
    decided = band_by_colour(rgb, sure_veg, sure_bg, in_band, max_samples, min_samples, seed)
    if decided is None:
        return label.copy()
    ys, xs, is_veg = decided
    out = label.copy()
    nearest = label[iy, ix]  # class of the nearest labelled vegetation pixel
    out[ys, xs] = np.where(is_veg, np.where(veg[ys, xs], label[ys, xs], nearest[ys, xs]), 0)
    return out


def refine_outline(
    rgb: np.ndarray,
    classes: np.ndarray,
    probs: np.ndarray,
    band: int,
    unsure: tuple[float, float] | None = None,
    max_samples: int = 20000,
    min_samples: int = 200,
    seed: int = 0,
    step: int = 1,
    faint_stem: float | None = None,
    trace: np.ndarray | None = None,
) -> np.ndarray:
    """Re-decide a predicted outline, and the pixels the model is unsure of, by the photo's colours (inference).

    The decision of :func:`refine_labels` (:func:`band_by_colour`), fitted per photo to the model's sure pixels.
    Two kinds of pixels are re-decided:

    - with ``band`` > 0 (large photos run at a reduced size), every pixel within ``band`` px of the outline; the
      band and the sure pixels come from square (separable) minimum / maximum filters instead of distance
      transforms, fast on 8-12 MP photos;
    - with ``unsure = (low, high)``, every pixel whose vegetation probability lies strictly between the two:
      a model's soft edge (it cannot place an outline finer than its working pixel) and plants it half saw
      (a dark or flat-coloured leaf on pale soil). Sure pixels then also need a probability of at least
      ``high`` (vegetation) or at most ``low`` (background).

    A pixel that becomes vegetation takes the vegetation class the model found most likely there. With
    ``unsure``, three object-level steps follow: plants the model only half saw are decided against their own
    soil (:func:`_half_seen_objects`), pieces the model traced faintly between them are joined
    (:func:`_bridge_faint_stems`), and grey objects the model was nowhere sure of are dropped
    (:func:`_drop_grey_unsure_objects`).

    Args:
        rgb: the photo, ``uint8`` ``(H, W, 3)``.
        classes: the model's class map ``(H, W)`` (0 background).
        probs: the model's probabilities ``(K, H, W)``.
        band: half-width (px) of the re-decided band; 0: none.
        unsure: ``(low, high)`` vegetation probabilities between which a pixel is re-decided; None: none.
        max_samples: sure pixels per class used to fit the discriminant.
        min_samples: below this many sure pixels of either class the colour decision is skipped.
        seed: seed of the sampling.
        step: photo pixels per working pixel (whole), where the photo was reduced for the model: the faint
            traces between pieces are followed on that grid.
        faint_stem: with ``unsure``, pieces joined by a trace of vegetation probability above this are
            bridged (:func:`_bridge_faint_stems`); None: never.
        trace: background probability ``(H, W)`` in which faint traces are followed (default ``probs[0]``).

    Returns:
        A new ``uint8`` class map.
    """
    if band <= 0 and unsure is None:
        return classes.copy()
    veg = classes > 0
    if band > 0:
        size = 2 * band + 1
        in_band = ndi.maximum_filter(veg, size) & ~ndi.minimum_filter(veg, size)
        sure_veg = ndi.minimum_filter(veg, size + 2)
        sure_bg = ~ndi.maximum_filter(veg, size + 2)
    else:
        in_band, sure_veg, sure_bg = np.zeros_like(veg), veg, ~veg
    if unsure is not None:
        low, high = unsure
        p = 1.0 - np.asarray(probs[0], np.float32)  # (H, W) vegetation probability
        floor = FLOOR_FACTOR * background_floor(p, classes)  # where the object-level steps start to read p
        in_band |= (p > low) & (p < high)
        if SAMPLE_VEG is not None:  # a development option (crop_unsure_pixels.py /sampleX), off
            sure_veg &= ndi.minimum_filter(veg, 3)
        sure_veg &= p >= (high if SAMPLE_VEG is None else SAMPLE_VEG)
        sure_bg &= p <= low
    decided = _decide_by_colour(rgb, sure_veg, sure_bg, in_band, max_samples, min_samples, seed, step)
    out = classes.copy()
    if decided is not None:
        ys, xs, is_veg = decided
        kept = classes[ys, xs]
        if probs.shape[0] > 2:
            grown = (probs[1:, ys, xs].argmax(0) + 1).astype(np.uint8)  # the likeliest vegetation class
        else:
            grown = np.ones(len(ys), np.uint8)
        out[ys, xs] = np.where(is_veg, np.where(kept > 0, kept, grown), 0)
    if unsure is not None:
        _half_seen_objects(out, rgb, probs, p, (max(low, floor), high))
    _keep_connections(out, classes)
    if unsure is not None and faint_stem is not None:
        _bridge_faint_stems(out, probs[0] if trace is None else trace, max(faint_stem, floor), step)
    if unsure is not None:
        _drop_grey_unsure_objects(out, rgb, p, high)
    return out


def _drop_grey_unsure_objects(out: np.ndarray, rgb: np.ndarray, p: np.ndarray, high: float) -> None:
    """Objects made of unsure pixels only that have no plant colour are background again (in place).

    The colour decision fits one line between the photo's plants and its background. Against a white bench a
    grey patch of glare, a shadow or a label lies on the plant's side of that line (darker than the bench); on a
    pink wall a yellow marker does (less red than the wall), on a blue mat a pale-blue reflection (brighter). So
    an object the model only half saw there can be called vegetation for one colour difference alone. An
    8-connected object whose vegetation probability ``p`` ``(H, W)`` stays under ``high`` everywhere and whose
    median CIELAB colour is grey, blue or a saturated orange or yellow (:func:`_no_plant_colour`) is
    removed. Objects the model is sure of somewhere are never touched, so a pale, washed-out or overexposed
    plant the model recognised, or a yellowing leaf on a green plant, stays.
    """
    labels, n = ndi.label(out > 0, structure=np.ones((3, 3), bool))
    if n == 0:
        return
    # ids of objects never sure: those without one pixel >= high (ndi.maximum per label took a sixth of the
    # decision's time on a photo of many objects; this is the same set)
    sure = np.zeros(n + 1, bool)
    sure[labels[~(p < high)]] = True  # a NaN probability counts as sure, as the per-label maximum had it
    unsure_only = np.flatnonzero(~sure[1:]) + 1
    if len(unsure_only) == 0:
        return
    boxes = ndi.find_objects(labels)
    for i in unsure_only:
        sl = boxes[i - 1]
        obj = labels[sl] == i
        lab = lab_features(np.ascontiguousarray(rgb[sl][obj])[:, None], opencv=False)[:, 0]  # (k, 3)
        a, b = float(np.median(lab[:, 1])) - 128, float(np.median(lab[:, 2])) - 128
        grey = float(np.median(np.hypot(lab[:, 1] - 128, lab[:, 2] - 128))) < GREY_CHROMA
        if grey or _no_plant_colour(a, b):
            out[sl][obj] = 0


def _no_plant_colour(a: float, b: float) -> bool:
    """Whether a (median) CIELAB colour ``a*``, ``b*`` is blue or a saturated orange or yellow: colours of
    markers, labels, pots and reflections, not of leaves (:data:`BLUE_HUE`, :data:`WARM_HUE`)."""
    hue, chroma = float(np.degrees(np.arctan2(b, a))), float(np.hypot(a, b))
    blue = BLUE_HUE[0] < hue < BLUE_HUE[1] and chroma >= GREY_CHROMA
    warm = chroma >= WARM_CHROMA and WARM_HUE[0] <= hue <= WARM_HUE[1]
    return blue or warm


def _decide_by_colour(
    rgb: np.ndarray,
    sure_veg: np.ndarray,
    sure_bg: np.ndarray,
    in_band: np.ndarray,
    max_samples: int,
    min_samples: int,
    seed: int,
    step: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(ys, xs, is_vegetation)`` of the band pixels of :func:`refine_outline`: the photo's discriminant, then,
    with :data:`LOCAL_RING`, each object's own (:func:`band_by_colour_local`). None: too few sure pixels."""
    # scikit-image's Lab, not OpenCV's: the mask must not depend on which extras are installed
    fitted = fit_by_colour(rgb, sure_veg, sure_bg, max_samples, min_samples, seed, opencv=False)
    decided = None if fitted is None else _apply(rgb, in_band, fitted, opencv=False)
    if decided is None or fitted is None or not LOCAL_RING:
        return decided
    ys, xs, is_veg = decided
    veg = np.zeros(in_band.shape, bool)  # (H, W)
    veg[ys, xs] = is_veg
    for ly, lx, lv in band_by_colour_local(rgb, sure_veg, sure_bg, in_band, LOCAL_RING * step, fitted, seed=seed):
        veg[ly, lx] = lv  # each object's own decision where it has one
    return ys, xs, veg[ys, xs]


def background_floor(p: np.ndarray, classes: np.ndarray, sample: int = 4) -> float:
    """Median vegetation probability ``p`` ``(H, W)`` of the pixels ``classes`` calls background (0.0 if none),
    from every ``sample``-th pixel in each direction (the median of a 12 MP photo's pixels takes 0.3 s)."""
    bg = p[::sample, ::sample][classes[::sample, ::sample] == 0]
    return float(np.median(bg)) if bg.size else 0.0


def _half_seen_objects(
    out: np.ndarray, rgb: np.ndarray, probs: np.ndarray, p: np.ndarray, unsure: tuple[float, float]
) -> None:
    """Decide plants the model only half saw by their own colour against the soil around them (in place).

    A dark-green leaf on pale soil comes out of the model as a patch of low and unsure probabilities with
    almost no sure vegetation in it. The photo-wide discriminant is fitted to the bright leaves the model is
    sure of, so it puts the dark leaf's core on the vegetation side but its mixed edge pixels on the soil side
    (a dark disc of radius 30 px came out 31 % small). For every object the model saw at all (a connected
    region of vegetation probability above ``low``) of which at most :data:`HALF_SEEN_SURE` is sure, and in
    which the photo-wide decision found vegetation, each pixel of the object grown by
    :data:`HALF_SEEN_GROW` px is given to the nearer (in CIELAB) of two local means: the object's vegetation
    and the sure background around it. That cuts a mixed pixel where it is half leaf, as the photo-wide
    decision does for the plants the model is sure of. ``p``: the vegetation probability ``(H, W)``.
    """
    low, high = unsure
    seen, n = ndi.label(p > low, structure=np.ones((3, 3), bool))
    if n == 0:
        return
    size = np.bincount(seen.ravel(), minlength=n + 1)
    sure = np.bincount(seen.ravel(), weights=(p >= high).ravel(), minlength=n + 1)
    half = (sure <= HALF_SEEN_SURE * size) & (size >= HALF_SEEN_MIN_SIZE)
    half[0] = False
    if not half.any():
        return
    g = HALF_SEEN_GROW
    boxes = ndi.find_objects(seen)
    for i in np.flatnonzero(half):
        sl = boxes[i - 1]
        # the object's box grown to hold the grown object and the background ring around it
        sl = tuple(slice(max(0, s.start - 2 * g - 1), s.stop + 2 * g + 1) for s in sl)
        obj = seen[sl] == i
        veg = obj & (out[sl] > 0)
        grown = ndi.binary_dilation(obj, iterations=g) & (obj | (p[sl] <= low))
        ring = ndi.binary_dilation(grown, iterations=g + 1) & ~grown & (p[sl] <= low)
        if veg.sum() < MIN_HALF_SEEN or ring.sum() < MIN_HALF_SEEN:
            continue
        lab = lab_features(rgb[sl], opencv=False)  # (h, w, 3)
        leaf, soil = lab[veg].mean(0), lab[ring].mean(0)
        is_veg = grown & ((lab - (leaf + soil) / 2) @ (leaf - soil) > 0)
        region = out[sl]
        cls = np.uint8(probs[1:, sl[0], sl[1]][:, obj].mean(1).argmax() + 1)  # the object's likeliest class
        region[is_veg & (region == 0)] = cls
        region[grown & ~is_veg] = 0


def _bridge_faint_stems(
    out: np.ndarray, background: np.ndarray, faint: float, step: int = 1, min_piece: int = 10
) -> None:
    """Join pieces of one plant that the model traced only faintly between them (in place).

    A stem two or three photo pixels wide is under one working pixel on a photo reduced for the model, so the
    model gives it a vegetation probability of a few percent: too little for the mask, and a plant of two
    leaves on a stem would be counted as two. Where pieces of at least ``min_piece`` px lie in one connected
    region of probability above ``faint``, the segments of that region's skeleton (scikit-image's
    ``skeletonize``, one pixel wide) that run from one piece to another become vegetation, with the class of
    the pieces they join. Only such bridges are added: no skeleton branch that leads nowhere.

    With ``step`` > 1 (a photo reduced that many times or more for the model) the search runs on every
    ``step``-th pixel, the grid the model saw (a skeleton of an 8 MP canopy takes seconds), and a bridge is one
    working pixel (``step`` photo pixels) wide.
    """
    veg = out > 0
    if step > 1:
        o = step // 2  # sample the centre of each step x step block
        coarse = _faint_bridges(
            out[o::step, o::step], background[o::step, o::step], faint, max(1, min_piece // step**2)
        )
        if coarse is None:
            return
        up = np.repeat(np.repeat(coarse, step, 0), step, 1)  # may end up to step // 2 px short of the photo
        bridge = np.zeros_like(out)
        h, w = min(up.shape[0], out.shape[0]), min(up.shape[1], out.shape[1])
        bridge[:h, :w] = up[:h, :w]
        bridge[veg] = 0
    else:
        found = _faint_bridges(out, background, faint, min_piece)
        if found is None:
            return
        bridge = found
    out[bridge > 0] = bridge[bridge > 0]


def gap_windows(
    veg: np.ndarray, reach: int, margin: int, step: int = 1, min_piece: int = 10, traced: np.ndarray | None = None
) -> list[tuple[slice, slice]]:
    """Boxes around the gaps between pieces of vegetation at most ``reach`` px apart (photo pixels).

    Where a second, larger pass of the model is to look for a stem too thin for the working size
    (:attr:`agriseg.crop.predictor.Predictor.trace_long_side`), only these boxes need it: a pixel lies in a gap
    when pieces of two different labels lie within ``reach / 2`` px of it. Each connected gap is grown out to
    the pieces on either side and by ``margin`` px of context, and clipped to the photo; the search runs on
    every ``step``-th pixel.

    Args:
        veg: vegetation mask ``(H, W)``.
        reach: the widest gap, in photo px, that a stem is looked for across.
        margin: context around each gap, in photo px.
        step: the search grid, in photo px.
        min_piece: pieces under this many photo px are left out.
        traced: where the model already traced something ``(H, W)``: pieces in one connected region of it are
            joined already and need no box between them.

    Returns:
        ``(rows, cols)`` slices into the photo, one per gap region (boxes may overlap).
    """
    o = step // 2
    coarse = veg[o::step, o::step]  # (h, w) on the search grid
    pieces, n = ndi.label(coarse, structure=np.ones((3, 3), bool))
    if n < 2:
        return []
    small = np.bincount(pieces.ravel(), minlength=n + 1) * step**2 < min_piece
    small[0] = False
    pieces[small[pieces]] = 0
    if traced is not None:  # pieces traced together count as one: label them by their traced region
        regions, _ = ndi.label(traced[o::step, o::step] | coarse, structure=np.ones((3, 3), bool))
        pieces = np.where(pieces > 0, regions, 0)
        n = int(regions.max())
    size = 2 * max(1, round(reach / (2 * step))) + 1  # a square of side ~reach: both pieces within reach/2
    high = ndi.maximum_filter(pieces, size)  # (h, w) the largest piece label near each pixel
    low = ndi.minimum_filter(np.where(pieces > 0, pieces, n + 1), size)  # the smallest (n + 1: none)
    gaps = (high > 0) & (low <= n) & (high != low) & (pieces == 0)
    if not gaps.any():
        return []
    grow = max(1, round((reach / 2 + margin) / step))  # out to the pieces on either side, and the context
    regions, _ = ndi.label(ndi.maximum_filter(gaps, 2 * grow + 1))
    h, w = veg.shape
    boxes = []
    for rs, cs in ndi.find_objects(regions):
        y0, y1 = max(0, rs.start * step), min(h, rs.stop * step + step)
        x0, x1 = max(0, cs.start * step), min(w, cs.stop * step + step)
        boxes.append((slice(y0, y1), slice(x0, x1)))
    return boxes


def _faint_bridges(classes: np.ndarray, background: np.ndarray, faint_p: float, min_piece: int) -> np.ndarray | None:
    """The bridges of :func:`_bridge_faint_stems` on one grid, as a class map (0 = no bridge; a bridge takes the
    commonest class of the pieces it joins), or None when there is nothing to join.

    Args:
        classes: the class map ``(H, W)`` (0 background).
        background: the model's background probability ``(H, W)``.
        faint_p: the vegetation probability above which the model traced something.
        min_piece: pieces under this many pixels are not joined.
    """
    from skimage.morphology import skeletonize

    eight = np.ones((3, 3), bool)
    veg = classes > 0
    pieces, n = ndi.label(veg, structure=eight)
    if n < 2:
        return None
    faint, m = ndi.label((np.asarray(background, np.float32) < 1.0 - faint_p) | veg, structure=eight)
    big, shared = _holding_several(pieces, n, faint, m, min_piece)  # faint regions holding two or more pieces
    if not shared.any():
        return None
    bridges = np.zeros_like(classes)
    boxes = ndi.find_objects(faint)
    for j in np.flatnonzero(shared):
        sl = boxes[j - 1]
        segs, k = ndi.label(skeletonize(faint[sl] == j) & ~veg[sl], structure=eight)
        if k == 0:
            continue
        near = ndi.grey_dilation(segs, footprint=eight)  # each segment's label over its 8-neighbours
        touch = pieces[sl] * big[pieces[sl]]
        at = (touch > 0) & (near > 0)
        pairs = np.unique(np.stack([near[at], touch[at]], 1), axis=0)  # (segment, piece) pairs
        ends = np.bincount(pairs[:, 0], minlength=k + 1) >= 2  # segments that touch two or more pieces
        ends[0] = False
        if not ends.any():
            continue
        joined = np.isin(pieces[sl], pairs[ends[pairs[:, 0]], 1])
        region = bridges[sl]
        region[ends[segs]] = np.bincount(classes[sl][joined]).argmax()
    return bridges if bridges.any() else None


def _holding_several(
    pieces: np.ndarray, n: int, regions: np.ndarray, m: int, min_piece: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which regions hold two or more pieces: ``(big, several)``, boolean by piece label (pieces of at least
    ``min_piece`` px) and by region label. Every piece lies inside one region (``pieces`` labels ``n`` pieces,
    ``regions`` labels ``m`` regions that contain them)."""
    owner = np.zeros(n + 1, np.int64)  # piece -> the region holding it
    owner[pieces.ravel()] = regions.ravel()
    big = np.bincount(pieces.ravel(), minlength=n + 1) >= min_piece
    big[0] = False
    several = np.bincount(owner[big], minlength=m + 1) > 1
    several[0] = False
    return big, several


def _keep_connections(out: np.ndarray, classes: np.ndarray, min_piece: int = 10) -> None:
    """Where the colour decision cut one of the model's plants into pieces, put its skeleton back (in place).

    A thin stem or petiole is a line of mixed leaf-and-soil pixels, and a per-pixel colour decision drops
    them, so one plant would be counted as several. The model's connectivity is kept: for every component of
    the model's mask that comes out as two or more pieces of at least ``min_piece`` px, the pixels of its
    skeleton (scikit-image's ``skeletonize``, one pixel wide and 8-connected) are vegetation again, with the
    model's class. Outlines elsewhere keep the colour decision.
    """
    if not ((classes > 0) & (out == 0)).any():  # nothing of the model's mask was taken away: nothing was cut
        return
    from skimage.morphology import skeletonize

    eight = np.ones((3, 3), bool)
    old_comps, n_old = ndi.label(classes > 0, structure=eight)
    pieces, n_pieces = ndi.label((out > 0) & (classes > 0), structure=eight)
    _, split = _holding_several(pieces, n_pieces, old_comps, n_old, min_piece)  # components left in pieces
    boxes = ndi.find_objects(old_comps)
    for i in np.flatnonzero(split):
        sl = boxes[i - 1]
        comp = old_comps[sl] == i
        skel = skeletonize(comp)
        region = out[sl]
        region[skel] = classes[sl][skel]
