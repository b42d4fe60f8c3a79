"""What ``agriseg fields evaluate | robustness | make-synthetic`` do, one function each."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from agriseg.fields.config import FTW_DIVISOR, FieldsEvaluateConfig, SyntheticFTWConfig

log = logging.getLogger("agriseg")


def asked_countries(value: str, root: str | Path | None = None) -> tuple[list[str] | str, list[str]]:
    """A ``--countries`` value; with a root, only the asked countries present there, and the missing ones.

    A partial FTW download holds only some countries: ``all`` (or a list) scores those that are there.

    Raises:
        FileNotFoundError: none of the asked countries is under ``root``.
    """
    from agriseg.fields.dataset import FTW_COUNTRIES, check_countries, countries_present

    every = value.strip() == "all"
    asked = list(FTW_COUNTRIES) if every else check_countries([c.strip() for c in value.split(",") if c.strip()])
    if root is None:
        return ("all" if every else asked), []
    present, _ = countries_present(root)
    missing = [c for c in asked if c not in present]
    if len(missing) == len(asked):
        raise FileNotFoundError(f"{root}: none of the asked countries is there ({', '.join(asked)})")
    return [c for c in asked if c in present], missing


def evaluate_ftw(model_path: str | Path, root: str | Path, config: FieldsEvaluateConfig) -> dict[str, Any]:
    """``agriseg fields evaluate``: pixel / object metrics (FTW rules), COCO AP, per country, 95% intervals.

    Returns:
        The report, with ``countries_missing`` (asked countries not under ``root``, not scored).
    """
    from agriseg.config import OptionError
    from agriseg.fields.checkpoints import load_fields_model
    from agriseg.fields.dataset import FTWDataset
    from agriseg.fields.evaluate import evaluate_model
    from agriseg.fields.registry import released
    from agriseg.fields.sentinel2 import channels_for

    present, absent = asked_countries(config.countries, root)  # before a released model is downloaded
    model, cfg, info = load_fields_model(released(model_path, "fields evaluate"))  # after the checks
    order = config.windows or info.get("windows", "ab")
    divisor = float(info.get("divisor", FTW_DIVISOR))
    ds = FTWDataset(root, present, config.split, config.target, order, divisor, dn_offset(config), config.missing,
                    refuse_empty=True)  # fmt: skip
    if channels_for(order) != cfg.in_channels:
        wrong = OptionError if config.windows else ValueError  # --windows given for this model: a usage error
        raise wrong(
            f"{model_path}: model takes {cfg.in_channels} channels, --windows {order} gives {channels_for(order)}"
        )
    res = evaluate_model(model, ds, config, progress=True)
    res.update({"model": str(model_path), "root": str(root), "split": config.split, "target": config.target,
                "offset": dn_offset(config), "bootstrap": config.bootstrap})  # fmt: skip  # (they change the scores)
    # countries under root with no chip of this split: not scored either, and said (they vanished without a word)
    without = ds.without
    if without:
        log.warning("%s: no %s chips for %s: not scored", root, config.split, ds.without_said())
    res.update({"windows": order, "countries_missing": absent, "countries_without_chips": without})
    res["chips_skipped"] = ds.skipped  # incomplete chips left out by --missing skip: two models' scores compare
    if ds.skipped:  # only on one chip set
        from agriseg.batch import listed

        log.warning(
            "%s: %d incomplete %s chip%s left out (--missing skip): %s", root, len(ds.skipped), config.split,
            "s" if len(ds.skipped) > 1 else "", listed(ds.skipped, 3),
        )  # fmt: skip
    return res


def robustness(
    model_path: str | Path, scene: str | Path | None, root: str | Path | None, config: FieldsEvaluateConfig
) -> dict[str, Any]:
    """``agriseg fields robustness``: PRUE's deployment metrics on a scene (no labels) or FTW chips.

    Returns:
        :func:`agriseg.fields.robustness.robustness_report`'s dict, with ``offset`` (the DN offset applied) and,
        for chips, ``failed``: one line per chip that could not be read (naming its file); the others are scored.

    Raises:
        ValueError: neither or both of ``scene`` and ``root``, or a model whose channels the chips lack.
    """
    import numpy as np
    import torch

    from agriseg.config import OptionError
    from agriseg.fields.checkpoints import load_fields_model
    from agriseg.fields.registry import released
    from agriseg.fields.robustness import RobustnessConfig, robustness_report, scene_chips, scene_valid
    from agriseg.fields.sentinel2 import channels_for, read_s2, to_reflectance

    if (scene is None) == (root is None):
        raise OptionError("give exactly one of --scene (no labels) or --root (FTW chips with labels)")
    if scene is not None and config.crop and not config.chip / 2 < config.crop < config.chip:  # before reading
        raise OptionError(f"--crop {config.crop}: must lie between half of --chip {config.chip} and --chip")
    if root is not None:
        asked_countries(config.countries, root)  # the root and countries before a released model is downloaded
    elif not Path(str(scene)).is_file():
        raise OptionError(f"{scene}: no such file (--scene)")
    model, cfg, info = load_fields_model(released(model_path, "fields robustness"))  # after the checks
    labels = None
    if scene is not None:
        from agriseg.data.io import quiet_rasterio

        try:
            with quiet_rasterio(scene):  # NaN: no data, as the chips that hold it are left out below
                arr, profile = read_s2(scene, bands=cfg.in_channels, nan_ok=True)
        except ValueError as err:  # not a scene this model reads: the file given is wrong
            raise OptionError(str(err)) from None
        if min(arr.shape[1:]) < config.chip:
            h, w = arr.shape[1:]
            raise OptionError(f"--chip {config.chip}: {scene} is {w} x {h} px, smaller than one chip")
        valid = scene_valid(arr, profile.get("nodata"))  # (H, W)
        offset = dn_offset(config, scene)  # auto: as fields predict reads the scene
        from agriseg.fields.predict import warn_if_reflectance
        from agriseg.raster.io import open_scene

        # as fields predict warns of the same scene: its values, and pixels far from 10 m or not square
        warn_if_reflectance(Path(str(scene)), offset, open_scene(scene, None, require_crs=False))
        chips, _pos = scene_chips(to_reflectance(np.where(np.isfinite(arr), arr, 0), offset), config.chip,
                                  config.stride)  # fmt: skip
        full = scene_chips(valid[None], config.chip, config.stride)[0].all(axis=(1, 2, 3))  # (N,) chips all valid
        if not full.any():
            raise ValueError(
                f"{scene}: no {config.chip}x{config.chip} chip without nodata or NaN pixels "
                f"({valid.mean():.0%} of the scene is valid)"
            )
        kept = np.flatnonzero(full)  # spread over the scene, as chips of a root are: its top rows were taken
        kept = kept[np.unique(np.linspace(0, len(kept) - 1, min(config.max_chips, len(kept))).round().astype(int))]
        refl = torch.from_numpy(chips[kept])
    else:
        from agriseg.fields.dataset import FTWDataset

        assert root is not None
        order = info.get("windows", "ab")
        if channels_for(order) != cfg.in_channels:
            raise ValueError(f"{model_path}: model takes {cfg.in_channels} channels, windows {order}")
        target: Literal["2-class", "3-class"] = "3-class" if cfg.num_classes == 3 else "2-class"
        present = asked_countries(config.countries, root)[0]
        ds = FTWDataset(root, present, config.split, target, order, None, dn_offset(config), config.missing,
                        refuse_empty=True)  # fmt: skip
        idx = np.linspace(0, len(ds) - 1, min(config.max_chips, len(ds))).round().astype(int)
        items, failed = [], []
        for i in dict.fromkeys(int(i) for i in idx):
            try:
                items.append(ds[i])
            except ValueError as err:  # a chip's own problem: left out, reported as failed (as evaluate does)
                failed.append(str(err))
        if not items:
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise ValueError(f"nothing to score: {failed[0]}{more}")
        side_of = items[0]["image"].shape  # chips of one size: they are stacked (a root may hold several)
        other = [it["aoi_id"] for it in items if it["image"].shape != side_of]
        items = [it for it in items if it["image"].shape == side_of]
        if other:
            log.warning("%s: %d chip(s) of another size than %d px left out (e.g. %s)", root, len(other),
                        side_of[-1], other[0])  # fmt: skip
        refl = torch.stack([it["image"] for it in items])
        labels = torch.stack([it["mask"] for it in items])
    side = int(refl.shape[-1])  # (N, C, S, S)
    crop = config.crop or round(0.75 * side)  # PRUE's 192 of 256
    if not side / 2 < crop < side:
        raise OptionError(f"--crop {crop}: must lie between half of the {side}-px chips and their side")
    divisor = float(info.get("divisor", FTW_DIVISOR))
    rcfg = RobustnessConfig(crop=crop, divisor=divisor, batch_size=config.batch_size)
    res = robustness_report(model, refl, labels, rcfg)
    res.update({"model": str(model_path), "input": str(scene or root)})
    res["offset"] = offset if scene is not None else dn_offset(config)
    if root is not None:  # which chips the report rests on, as evaluate's report says (session 105's sweep)
        res["failed"] = failed  # chips that could not be read: the report rests on the others
        res.update({"split": config.split, "countries": present, "max_chips": config.max_chips,
                    "chips_other_size": other, "chips_skipped": ds.skipped})  # fmt: skip
    return res


def dn_offset(config: FieldsEvaluateConfig, scene: str | Path | None = None) -> float:
    """The DN offset added before scaling for ``--offset``: a number as given, ``none`` 0, ``apply`` -1000 (the
    BOA_ADD_OFFSET of processing baseline 04.00), ``auto`` the ``scene``'s tags as ``fields predict`` reads
    them, and 0 for FTW chips (harmonised: their offset is already removed)."""
    from agriseg.fields.config import PreprocessConfig

    if not isinstance(config.offset, str):
        return float(config.offset)
    if config.offset == "apply":
        return PreprocessConfig().offset_value
    return _tagged_offset(scene) if config.offset == "auto" and scene is not None else 0.0


def _tagged_offset(scene: str | Path) -> float:
    """The DN offset a scene's tags give (``BOA_ADD_OFFSET``, else its processing baseline), as ``fields
    predict --offset auto`` reads them: a scene of ``fields download`` is robustness-tested as it is predicted."""
    from agriseg.fields.config import PreprocessConfig
    from agriseg.fields.predict import scene_offset
    from agriseg.raster.io import open_scene

    return scene_offset(open_scene(scene, require_crs=False), PreprocessConfig(offset="auto"))


def make_synthetic(root: str | Path, config: SyntheticFTWConfig) -> dict[str, int]:
    """``agriseg fields make-synthetic``: chips in the FTW layout (country names normalised first).

    Raises:
        ValueError: an unknown country (the message lists the valid names).
    """
    from agriseg.config import with_updates
    from agriseg.fields.dataset import check_countries
    from agriseg.fields.synthetic import make_synthetic_ftw

    counts = {check_countries([name])[0]: n for name, n in config.countries.items()}
    return make_synthetic_ftw(root, with_updates(config, {"countries": counts}))
