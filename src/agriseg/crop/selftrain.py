"""Two-stage self-training on pseudo-labels (DepthCropSeg / DepthCropSeg++), and adapting to a new field.

Stage 1 trains on pseudo-labels (and/or manual labels). The stage-1 model then predicts every training
photo; a trimap keeps the pixels where prediction and pseudo-label agree and sets the rest to 255
(optionally also a band around the pseudo-mask boundary and low-confidence pixels); stage 2 trains with
``ignore_index=255`` (by default fine-tuning the stage-1 model, as DepthCropSeg does). The ignored share of
each image is recorded. Both stages use :func:`agriseg.crop.train.train_crop`.

Model selection is annotation-free: a seeded share of the photo pool is held out and the best epoch is
picked on its pseudo-labels (stage 1) or trimaps (stage 2). True labels, when given in ``evaluate``, are
only used to score the finished models.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from agriseg.config import OptionError, StrictModel, renamed_names, with_updates
from agriseg.crop.config import AdaptConfig, DataConfig, TrainConfig
from agriseg.crop.pseudolabel.pipeline import PseudoLabelConfig
from agriseg.data.files import atomic_write, write_json, write_text
from agriseg.models.config import ModelConfig

if TYPE_CHECKING:
    from agriseg.batch import Item
    from agriseg.data.io import PathsLike
    from agriseg.fingerprint import Recipe

# agriseg's version of what each command makes from its inputs and options (part of their fingerprints)
# 2: evaluation masks re-decide unsure pixels by colour; 3: and decide half-seen plants against their own soil;
# 4: the object-level steps rise above the model's background floor; 5: faint stems traced at the photo's size;
# 6: per-object colour decision; 7: grey objects the model was never sure of dropped; 8: blue and saturated
# orange / yellow ones too; 9: half-seen plants from 10 colour-decided px
ALGORITHM = {"crop selftrain": "9", "crop adapt": "9"}

Stage2Init = Literal["stage1", "scratch"]
Combine = Literal["none", "agree", "confident"]


MOSTLY_IGNORED = 0.5
"""Trimaps ignoring more than this share of the pixels on average are said to: the documented Peanut runs ignore
1.5-3.7 % (docs/pseudolabels.md); a barely trained stage 1 ignored 93 % and stage 2's score on the pseudo-labels
was a perfect 1.000 from the few pixels left, against 0.03 on the true labels (session 104's sweep)."""


def trimap_summary(mean_ignored: float) -> str:
    """The report's trimap line: the ignored share, and what it means when the trimaps ignore most pixels."""
    said = f"trimaps: {100 * mean_ignored:.1f}% of pixels ignored on average"
    if mean_ignored > MOSTLY_IGNORED:
        said += (
            " (most of each photo: the stage-1 model disagrees with its own labels there, so stage 2 learned from"
            " few pixels and its score on the pseudo-labels says little; train stage 1 longer, --stage1-epochs)"
        )
    return said


class TrimapConfig(StrictModel):
    """Which pixels stage 2 ignores (255)."""

    boundary_px: int = Field(0, ge=0)  # also ignore this many px either side of the pseudo-mask boundary
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)  # also ignore pixels whose top probability is lower
    keep_manual: bool = True  # manual labels are trusted: never turned into 255


class SelfTrainDataConfig(StrictModel):
    """Augmentation and sampling (the folders are managed by self-training)."""

    crop_size: int = Field(256, ge=32, le=4096)  # as crop train's data.crop_size (its bound too)
    scale_min: float = Field(0.35, gt=0, le=1)
    scale_max: float = Field(1.0, gt=0, le=4)
    augment: Literal["none", "mild", "strong"] = "strong"
    cache: bool = True


class SelfTrainEvalConfig(StrictModel):
    """True labels used only to score finished models."""

    images: str
    labels: str
    stems: str | None = None  # a stem list file; None = every image with a label
    label_mode: Literal["binary", "index", "colormap"] = "binary"
    colormap: dict[str, int] = {}
    boundary_ratio: float = Field(0.02, gt=0, le=1)

    @model_validator(mode="after")
    def _colormap_read(self) -> SelfTrainEvalConfig:
        if self.colormap and self.label_mode != "colormap":  # it would be ignored
            raise ValueError(f"colormap is read with label_mode colormap only (not {self.label_mode})")
        return self


class SelfTrainConfig(StrictModel):
    """A whole ``agriseg crop selftrain`` run."""

    name: str = Field("selftrain", min_length=1)
    output_dir: str = Field("runs/crop/selftrain", min_length=1)
    images: str  # folder of photos (the unlabelled pool)
    exclude_list: str | None = None  # stems never used for training (e.g. a held-out evaluation split)
    select_fraction: float = Field(0.1, gt=0.0, lt=0.5)  # share of the pool held out for model selection
    keep: str | None = None  # screening export (accepted.json): only these photos are trained on
    manual_labels: str | None = None  # optional manual label folder (matched by stem), used in both stages
    manual_label_mode: Literal["binary", "index", "colormap"] = "binary"
    manual_colormap: dict[str, int] = {}
    pseudo: PseudoLabelConfig = PseudoLabelConfig()  # how the pool is pseudo-labelled
    model: ModelConfig = ModelConfig()
    data: SelfTrainDataConfig = SelfTrainDataConfig()
    train: TrainConfig = TrainConfig()
    stage1_epochs: int = Field(8, ge=1)
    stage2_epochs: int = Field(8, ge=0)  # 0 = stop after stage 1
    stage2_init: Stage2Init = "stage1"
    init_model: str | None = None  # start stage 1 from this agriseg model (e.g. "default" when adapting)
    trimap: TrimapConfig = TrimapConfig()
    evaluate: SelfTrainEvalConfig | None = None

    @model_validator(mode="after")
    def _stage_keys(self) -> SelfTrainConfig:
        """``train.epochs`` and ``train.init_weights`` are decided per stage here: refused, not ignored."""
        instead = {"epochs": "stage1_epochs and stage2_epochs", "init_weights": "init_model (and stage2_init)"}
        # by value, not by fields set: with_updates() re-validates a dump, where every field is set
        default = TrainConfig()
        given = [k for k in instead if getattr(self.train, k) != getattr(default, k)]
        if given:
            raise ValueError("; ".join(f"train.{k} is not used by selftrain: set {instead[k]} instead" for k in given))
        return self

    @model_validator(mode="after")
    def _one_name_per_class(self) -> SelfTrainConfig:
        """As ``crop train``'s config: said when read, not after the photos were pseudo-labelled."""
        from agriseg.crop.config import check_class_names, check_rgb_model

        check_class_names(self.model)
        check_rgb_model(self.model)
        return self

    @model_validator(mode="after")
    def _keys_read(self) -> SelfTrainConfig:
        """Settings that this run would not read are refused, not ignored (compared by value, as above)."""
        # (a config's stage-2 settings with --stage2-epochs 0 are kept: a quick first stage of a whole recipe)
        fields = type(self).model_fields
        if self.manual_labels is None:
            unread = [
                k for k in ("manual_label_mode", "manual_colormap") if getattr(self, k) != fields[k].get_default()
            ]
            if unread:
                raise ValueError(f"{' and '.join(unread)}: read with manual_labels only")
        elif self.manual_colormap and self.manual_label_mode != "colormap":
            raise ValueError(
                f"manual_colormap is read with manual_label_mode colormap only (not {self.manual_label_mode})"
            )
        return self


def load_selftrain_config(path: str | Path, overrides: Sequence[str] = ()) -> SelfTrainConfig:
    """Load and validate a self-training YAML (paths relative to the working directory, like ``train``), with
    ``key.sub=value`` overrides (``--set``)."""
    from agriseg.config import load_config

    return load_config(path, SelfTrainConfig, overrides)


def _write_index_png(arr: np.ndarray, path: Path) -> None:
    from agriseg.data.io import cv_write

    with atomic_write(path) as tmp:
        cv_write(tmp, arr.astype(np.uint8))


def _write_json(obj: object, path: Path) -> None:
    write_json(path, obj)


def make_trimap(
    pseudo: np.ndarray, probs: np.ndarray, spec: TrimapConfig | None = None, depth_ok: np.ndarray | None = None
) -> np.ndarray:
    """Stage-2 label: the pseudo-label where the stage-1 prediction agrees, 255 elsewhere.

    Args:
        pseudo: ``(H, W)`` uint8 class ids (255 = already ignored).
        probs: ``(K, H, W)`` stage-1 class probabilities.
        spec: extra ignore rules (boundary band, minimum confidence).
        depth_ok: optional ``(H, W)`` bool; pixels where it is False are ignored too (depth-guided).

    Returns:
        ``(H, W)`` uint8 trimap.
    """
    import cv2

    spec = spec or TrimapConfig()
    pred = probs.argmax(0).astype(np.uint8)  # (H, W)
    tri = np.where(pred == pseudo, pseudo, 255).astype(np.uint8)
    if spec.min_confidence > 0:
        tri[probs.max(0) < spec.min_confidence] = 255
    if spec.boundary_px > 0:
        fg = (pseudo == 1).astype(np.uint8)
        k = np.ones((2 * spec.boundary_px + 1,) * 2, np.uint8)
        band = cv2.dilate(fg, k) != cv2.erode(fg, k)
        tri[band] = 255
    if depth_ok is not None:
        tri[~depth_ok] = 255
    return tri


def score_model(
    model_path: str | Path,
    spec: SelfTrainEvalConfig,
    long_side: int | None = None,
    progress: bool = True,
    argmax_too: bool = False,
) -> dict:
    """mIoU / bIoU of a model against true labels (``spec``), with the model's inference size.

    Masks come from the crop commands' one inference rule (:meth:`Predictor.classes`). With ``argmax_too`` the
    same probabilities are also scored as the plain argmax (``miou_argmax`` / ``biou_argmax``): how much of a
    difference comes from the model and how much from the rule.
    """
    from agriseg.batch import progress_bar
    from agriseg.crop.dataset import match_pairs, read_stem_list
    from agriseg.crop.labels import LabelMisfit, read_label
    from agriseg.crop.predictor import Predictor, class_map
    from agriseg.data.io import ImageReadError, read_rgb
    from agriseg.metrics import SegmentationMetrics
    from agriseg.models.io import load_model

    model, cfg = load_model(model_path)
    pred = Predictor(model, cfg.num_classes, cfg.infer_long_side if long_side is None else long_side)
    pairs = match_pairs(spec.images, spec.labels)
    stems = read_stem_list(spec.stems) if spec.stems else list(pairs)
    missing = [s for s in stems if s not in pairs]
    if missing:
        from agriseg.batch import counted

        raise ValueError(f"{spec.stems}: {counted(len(missing), 'stem', 'has/have')} no image+label: {missing[:3]}")
    m = SegmentationMetrics(cfg.num_classes, spec.boundary_ratio, 255, cfg.class_names)
    plain = SegmentationMetrics(cfg.num_classes, spec.boundary_ratio, 255, cfg.class_names) if argmax_too else None
    unreadable = []
    for s in progress_bar(stems, desc="score", unit="img", disable=not progress):
        ip, lp = pairs[s]
        try:  # an unreadable photo or label is left out, as crop evaluate does (it stopped the run after stage 1)
            rgb, truth = read_rgb(ip), read_label(lp, spec.label_mode, spec.colormap or None, "evaluate.label_mode")
        except (ImageReadError, LabelMisfit) as err:  # a label of no colour of the colormap: left out too
            unreadable.append(str(err))
            continue
        probs = pred.probabilities([rgb])[0]  # (K, H, W)
        m.update(pred.classes(probs, rgb), truth)
        if plain is not None:
            plain.update(class_map(probs), truth)
    if len(unreadable) == len(stems):
        raise ValueError(f"{spec.images}: no photo to score could be read ({unreadable[0]})")
    res = m.compute()
    if plain is not None:
        p = plain.compute()
        res["miou_argmax"], res["biou_argmax"] = p["miou"], p["biou"]
    res["model"] = str(model_path)
    res["unreadable"] = unreadable
    return res


class SelfTrainer:
    """Runs the stages of a :class:`SelfTrainConfig`; each step's outputs land under ``output_dir``.

    Layout: ``pseudo/`` (pseudolabel outputs), ``labels/stage1`` (pseudo + manual labels), ``stage1/``
    (train_crop run), ``labels/stage2`` (trimaps), ``labels/stage2_trimap_stats.json``, ``stage2/``,
    ``train_stems.txt`` / ``select_stems.txt``, ``model.safetensors`` (final), ``selftrain_report.json``.
    """

    def __init__(self, cfg: SelfTrainConfig, progress: bool = True, fingerprint: dict | None = None) -> None:
        """``fingerprint``: the run's inputs and options (JSON-ready); a stage an interrupted run with the same
        one finished is kept (None: every stage trains)."""
        self.cfg, self.progress, self.fingerprint = cfg, progress, fingerprint
        self.out = Path(cfg.output_dir)
        self.report: dict = {"name": cfg.name, "config": cfg.model_dump()}

    # --- pool and pseudo-labels -------------------------------------------------------------------
    def pool(self) -> list[Path]:
        """Photos used for training: the image folder minus ``exclude_list``, restricted to ``keep``."""
        from agriseg.crop.dataset import read_stem_list
        from agriseg.crop.pseudolabel.pipeline import kept_files, photos_only, read_keep
        from agriseg.data.io import NoInputError, list_images

        try:
            files = photos_only(list_images([self.cfg.images]))[0]
        except (FileNotFoundError, NoInputError) as err:  # the config's key named, as crop train names data.images
            raise type(err)(f"{err} (images)") from None
        found = len(files)
        if self.cfg.keep:  # by the names the screening page showed: those of the whole folder
            files = kept_files(files, read_keep(self.cfg.keep), self.cfg.keep)
        accepted = len(files)
        if self.cfg.exclude_list:
            ex = set(read_stem_list(self.cfg.exclude_list))
            files = [f for f in files if f.stem not in ex]
        if len(files) < 2:
            n = f"{len(files)} photo{'s' if len(files) != 1 else ''}"
            kept = f"; --keep {self.cfg.keep} accepts {accepted} of its {found}" if self.cfg.keep else ""
            raise OptionError(f"{self.cfg.images}: only {n} to train on (at least 2 are needed{kept})")
        from agriseg.crop.dataset import images_by_stem

        # training pairs the folder's photos and labels by name: two photos of one name (kept or not) said before
        # any photo is pseudo-labelled, as training would say it after
        images_by_stem(Path(self.cfg.images), photos=True)
        return files

    def pseudolabel(self, files: list[Path]) -> dict[str, Path]:
        """Pseudo-label the pool (resumable); returns stem -> mask path of the successful ones."""
        from agriseg.crop.pseudolabel.pipeline import pseudolabel_files

        # its own folder: a photo edited since its pseudo-label was made is labelled again (selftrain had
        # trained without it, then called the model of all the photos "unchanged")
        recs = pseudolabel_files(files, self.out / "pseudo", self.cfg.pseudo, progress=self.progress, work_folder=True)
        kept = [r for r in recs if r["status"] == "kept"]  # made with other settings (a run stopped, then changed)
        if kept:  # one line, not one per photo; never a training set of masks of two settings
            from agriseg.config import OptionError

            first = kept[0]["error"]
            what = first[first.find("(") : first.find(")") + 1] if "(" in first else ""
            raise OptionError(
                f"{self.out / 'pseudo'}: the pseudo-labels of {len(kept)} photo{'s' if len(kept) > 1 else ''} there "
                f"were made with other settings {what}; --overwrite makes them again"
            )
        bad = [r for r in recs if r["status"] == "error"]
        made = [r for r in recs if r["status"] in ("ok", "skipped")]
        grey = [r for r in made if r.get("quality") == "greyscale"]  # a colour index's mask of one is noise
        self.report["pseudolabel"] = {
            "ok": len(recs) - len(bad),
            "errors": [r["error"] for r in bad],
            "left_out": [f"{r['image']}: a greyscale photo: left out of training" for r in grey],
            "full_coverage": sum(bool(r.get("full_coverage")) for r in recs),
        }
        # by the photo's own name, which training pairs it by: not the mask's, which keeps a name given while
        # another photo shared it (0001_jpg beside 0001_png, one of them since removed)
        masks = {
            Path(r["image"]).stem: self.out / "pseudo" / r["mask"] for r in made if r.get("quality") != "greyscale"
        }
        if len(masks) < 2:  # nothing to train on: the photos are the problem, said with their names
            from agriseg.config import OptionError

            why = [r["error"] for r in bad] + self.report["pseudolabel"]["left_out"]
            shown = "; ".join(why[:5]) + (f"; and {len(why) - 5} more" if len(why) > 5 else "")
            raise OptionError(
                f"only {len(masks)} of {len(recs)} photos could be pseudo-labelled (training needs 2): {shown}"
            )
        return masks

    def stage1_labels(self, masks: dict[str, Path]) -> Path:
        """Write stage-1 labels (pseudo masks, manual labels where given) as index PNGs."""
        from agriseg.crop.labels import read_label
        from agriseg.data.io import IMAGE_SUFFIXES

        d = self.out / "labels" / "stage1"
        d.mkdir(parents=True, exist_ok=True)
        manual: dict[str, Path] = {}
        if self.cfg.manual_labels:
            md = Path(self.cfg.manual_labels)
            if not md.is_dir():
                raise FileNotFoundError(f"{md}: manual label folder not found")
            manual = {q.stem: q for q in md.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES}
        for stem, mp in masks.items():
            dst = d / f"{stem}.png"
            if stem in manual:
                lab = read_label(
                    manual[stem], self.cfg.manual_label_mode, self.cfg.manual_colormap or None, "manual_label_mode"
                )
                _write_index_png(lab, dst)
            else:  # pseudo-masks are 0/255 (or 0/1 from older runs): stage-1 labels are class ids
                _write_index_png(read_label(mp, "binary"), dst)
        for old in d.glob("*.png"):  # an earlier run's labels of photos this run leaves out (--keep, exclude_list)
            if old.stem not in masks:
                old.unlink()
        self.manual_stems = sorted(set(manual) & set(masks))
        return d

    def split(self, stems: list[str]) -> tuple[Path, Path]:
        """Seeded train / selection split of the pool, written as stem lists."""
        stems = sorted(stems)
        rng = random.Random(self.cfg.train.seed)
        sel = sorted(rng.sample(stems, max(1, round(len(stems) * self.cfg.select_fraction))))
        train = [s for s in stems if s not in set(sel)]
        tl, sl = self.out / "train_stems.txt", self.out / "select_stems.txt"
        write_text(tl, "\n".join(train) + "\n")  # atomically; names of any encoding kept
        write_text(sl, "\n".join(sel) + "\n")
        return tl, sl

    # --- stages -----------------------------------------------------------------------------------
    def stage_config(self, stage: int, labels: Path, train_list: Path, select_list: Path):  # noqa: ANN201
        """The :class:`CropTrainConfig` of one stage."""
        from agriseg.crop.config import CropTrainConfig

        d = self.cfg.data
        return CropTrainConfig(
            name=f"{self.cfg.name}-stage{stage}",
            output_dir=str(self.out / f"stage{stage}"),
            model=self.cfg.model,
            data=DataConfig(
                images=self.cfg.images,
                labels=str(labels),
                train_list=str(train_list),
                val_list=str(select_list),
                label_mode="index",
                crop_size=d.crop_size,
                scale_min=d.scale_min,
                scale_max=d.scale_max,
                augment=d.augment,
                cache=d.cache,
            ),
            train=self.cfg.train,
        )

    def _stage_wanted(self, epochs: int, init: str | None, after: str | None) -> dict | None:
        """What a finished stage must have been trained from to be kept: this run's fingerprint, the stage's
        epochs and start model, and the content of the model its labels came from (``after``: stage 2's trimaps
        are stage 1's predictions, and stage 1 may have trained again)."""
        if self.fingerprint is None:
            return None
        from agriseg.data.download import sha256_of

        return json.loads(json.dumps({"fingerprint": self.fingerprint, "epochs": epochs, "init": init,
                                      "after": sha256_of(after) if after else None}))  # fmt: skip

    def train_stage(
        self, stage: int, labels: Path, tl: Path, sl: Path, epochs: int, init: str | None, after: str | None = None
    ) -> dict:
        """Train one stage into ``stage<N>/`` (kept instead when an interrupted run with the same fingerprint
        finished it: :meth:`_stage_wanted`); its report."""
        from agriseg.crop.train import train_crop

        record = self.out / f"stage{stage}" / STAGE_RECORD
        wanted = self._stage_wanted(epochs, init, after)
        found = _finished_stage(record, wanted)
        ev = self.cfg.evaluate
        scoring = _scoring(ev) if ev is not None else None
        if found is not None:  # an interrupted run of the same inputs and options had trained it: not again
            kept, scored_with = found
            if ev is None:  # true-label scores of other settings, or none asked for: not this run's
                kept.pop("evaluate", None)
            elif scored_with != scoring:  # scored by the earlier run with other labels or settings: again
                kept["evaluate"] = score_model(kept["model"], ev, progress=self.progress)
                _write_json({**(wanted or {}), "info": kept, "scored_with": scoring}, record)
            self.report[f"stage{stage}"] = {**kept, "kept": True}
            _write_json(self.report, self.out / "selftrain_report.json")
            return kept
        record.unlink(missing_ok=True)  # the stage trains again: its earlier record would vouch for this model
        cfg = self.stage_config(stage, labels, tl, sl)
        cfg.train = cfg.train.model_copy(update={"init_weights": init})
        res = train_crop(cfg, max_epochs=epochs, progress=self.progress, check_labels=False, resumable=False,
                         label=f"stage {stage} of 2" if self.cfg.stage2_epochs else "")  # fmt: skip  # 0: one stage
        info = {
            "model": res["model"],
            "select_on_pseudo": {k: float(v) for k, v in res["val"].items()},
            "epochs": epochs,
            "init": init or cfg.model.encoder_weights,
        }
        if self.cfg.evaluate is not None:
            info["evaluate"] = score_model(res["model"], self.cfg.evaluate, progress=self.progress)
        self.report[f"stage{stage}"] = info
        _write_json(self.report, self.out / "selftrain_report.json")
        if wanted is not None:
            _write_json({**wanted, "info": info, "scored_with": scoring}, record)
        return info

    def trimaps(self, model_path: str, labels1: Path, stems: list[str]) -> Path:
        """Stage-1 predictions vs stage-1 labels -> trimaps in ``labels/stage2``; stats per image."""
        from agriseg.batch import progress_bar
        from agriseg.crop.labels import read_label
        from agriseg.crop.predictor import Predictor
        from agriseg.data.io import list_images, read_rgb
        from agriseg.models.io import load_model

        model, mcfg = load_model(model_path)
        pred = Predictor(model, mcfg.num_classes, mcfg.infer_long_side)
        images = {f.stem: f for f in list_images([self.cfg.images])}
        d = self.out / "labels" / "stage2"
        d.mkdir(parents=True, exist_ok=True)
        stats: dict[str, float] = {}
        manual = set(getattr(self, "manual_stems", []))
        for s in progress_bar(stems, desc="trimaps", unit="img", disable=not self.progress):
            lab = read_label(labels1 / f"{s}.png", "index")
            if s in manual and self.cfg.trimap.keep_manual:
                tri = lab
            else:
                probs = pred.probabilities([read_rgb(images[s])])[0]  # (K, H, W)
                tri = make_trimap(lab, probs, self.cfg.trimap)
            _write_index_png(tri, d / f"{s}.png")
            stats[s] = round(float((tri == 255).mean()), 6)
        vals = np.array(list(stats.values()))
        summary = {
            "mean_ignored": float(vals.mean()),
            "median_ignored": float(np.median(vals)),
            "max_ignored": float(vals.max()),
            "per_image": stats,
        }
        _write_json(summary, self.out / "labels" / "stage2_trimap_stats.json")
        self.report["trimap"] = {k: v for k, v in summary.items() if k != "per_image"}
        return d

    def run(self, labels1: Path | None = None) -> dict:
        """Pseudo-label (unless ``labels1`` is given), train stage 1, build trimaps, train stage 2."""
        from agriseg.crop.dataset import read_stem_list
        from agriseg.data.files import ensure_outdir

        ensure_outdir(self.out)  # a file in the way is a usage error naming it
        if self.cfg.evaluate is not None:  # said now, not after stage 1 has trained
            ev = self.cfg.evaluate
            for folder in (ev.images, ev.labels):
                if not Path(folder).is_dir():
                    raise FileNotFoundError(f"{folder}: folder not found (evaluate in the config)")
            if ev.stems:
                read_stem_list(ev.stems)
        if labels1 is None:
            masks = self.pseudolabel(self.pool())
            labels1 = self.stage1_labels(masks)
        stems = sorted(p.stem for p in labels1.glob("*.png"))
        tl, sl = self.split(stems)
        s1 = self.train_stage(1, labels1, tl, sl, self.cfg.stage1_epochs, self.cfg.init_model)
        final = s1["model"]
        if self.cfg.stage2_epochs == 0:  # an earlier run's stage 2 would sit beside this run's model as if its own
            for stale in ("stage2", "labels/stage2", "labels/stage2_trimap_stats.json"):  # (WORK_FILES: ours)
                if (p := self.out / stale).is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        if self.cfg.stage2_epochs > 0:
            labels2 = self.trimaps(s1["model"], labels1, stems)
            init = s1["model"] if self.cfg.stage2_init == "stage1" else None
            final = self.train_stage(2, labels2, tl, sl, self.cfg.stage2_epochs, init, after=s1["model"])["model"]
        dst = self.out / "model.safetensors"
        with atomic_write(dst) as tmp:
            shutil.copyfile(final, tmp)
        self.report["model"] = str(dst)
        _write_json(self.report, self.out / "selftrain_report.json")
        return self.report


STAGE_RECORD = "agriseg_stage.json"  # what a finished stage was trained from, beside its model


def _scoring(ev: SelfTrainEvalConfig) -> dict[str, Any]:
    """What a stage's true-label scores were made from: the ``evaluate`` settings and the photos' and labels'
    names, sizes and times (labels edited since an interrupted run kept its stage's old scores: session 106's
    review)."""
    files: dict[str, list[Any]] = {}
    for folder in (ev.images, ev.labels):
        try:
            files[folder] = sorted((f.name, (st := f.stat()).st_size, st.st_mtime_ns) for f in Path(folder).iterdir()
                                   if f.is_file())  # fmt: skip
        except OSError:
            files[folder] = []
    if ev.stems and Path(ev.stems).is_file():
        files[ev.stems] = [Path(ev.stems).read_text(encoding="utf-8", errors="replace")]
    return json.loads(json.dumps({"settings": ev.model_dump(mode="json"), "files": files}))


def _finished_stage(record: Path, wanted: dict | None) -> tuple[dict, Any] | None:
    """The report of a stage an earlier (interrupted) run finished from ``wanted``, if its record says so and
    its model is there, with the ``evaluate`` settings its true-label scores were made with (None: none, or a
    record of before they were kept; ``evaluate`` is no setting of the model, so it may differ: session 106's
    sweep found a kept stage's scores of another colormap reported as this run's); None otherwise (the stage
    trains)."""
    if wanted is None or not record.is_file():
        return None
    try:
        said = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    info = said.pop("info", None) if isinstance(said, dict) else None
    scored_with = said.pop("scored_with", None) if isinstance(said, dict) else None
    if said != wanted or not isinstance(info, dict) or not Path(str(info.get("model"))).is_file():
        return None
    return info, scored_with


# what a self-training run writes in its folder beside model.safetensors (which the batch runner guards);
# pseudo/ guards itself (crop pseudolabel refuses files it did not write)
WORK_FILES = (
    "train_stems.txt",
    "select_stems.txt",
    "selftrain_report.json",
    "labels/stage1",
    "labels/stage2",
    "labels/stage2_trimap_stats.json",
    "stage1",
    "stage2",
)


def refuse_users_files(folder: Path, owned: bool, overwrite: bool, what: str) -> None:
    """Refuse, before any work, a folder that holds a file of :data:`WORK_FILES` no agriseg run wrote there.

    Args:
        folder: the self-training folder.
        owned: whether an agriseg run has worked in it (its manifest records one), so the files are its.
        overwrite: ``--overwrite``: they are replaced.
        what: how the user names the folder (``output_dir``, ``--workdir``), for the message.

    Raises:
        OptionError: ``<file>: exists and was not written by agriseg (kept; ...)``.
    """
    if overwrite or owned or not folder.is_dir():
        return
    theirs = [folder / n for n in WORK_FILES if (folder / n).exists()]
    if theirs:
        raise OptionError(
            f"{theirs[0]}: exists and was not written by agriseg (kept; --overwrite replaces it, or choose another "
            f"{what})"
        )
    # anything else of the user's (notes.txt): the run would put its model and work files among them, and a
    # later training run take the folder for its own
    from agriseg.batch import listed
    from agriseg.data.files import SYSTEM_FILES, is_temporary

    ours = {*(Path(n).parts[0] for n in WORK_FILES), "pseudo", "images", "model.safetensors"}
    other = sorted(c.name for c in folder.iterdir() if c.name not in SYSTEM_FILES | ours and not c.name.startswith(".")
                   and not is_temporary(c.name))  # fmt: skip
    if other:
        raise OptionError(
            f"{what} {folder}: exists and was not written by agriseg (it holds {listed(other, 3)}); choose another, "
            "or --overwrite to work among those files"
        )


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config values as ``{"train.lr": 0.001, ...}`` (a change is then named by its key)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _once(item: Item, recipe: Recipe, work: Callable[[Item], dict], overwrite: bool) -> dict:
    """Make the one output of ``item`` through the batch runner, which records its fingerprint.

    The same inputs and options as the recorded ones: nothing runs, and the record is ``{"model": <the
    output>, "skipped": True}``. Others: refused with ``ValueError`` naming what changed, or made again with
    ``overwrite``; a file in the way that this command did not write is kept (refused) unless ``overwrite``.
    An error of ``work`` is raised as it is (a usage error stays one).
    """
    from agriseg.batch import BatchOptions, run_batch

    result = run_batch(
        [item],
        work,
        # the one output the user named (-o, output_dir): a file of theirs in its way is a usage error (exit 2)
        options=BatchOptions(overwrite, strict=True, progress=False, named_output=True),
        recipe=recipe,
        resume=lambda it: {"model": str(it.outputs[0]), "skipped": True},
        expected=(),
    )
    return result[0]


def _selftrain_inputs(cfg: SelfTrainConfig, pool: Sequence[Path]) -> list[Path]:
    """The files a self-training run reads: its photos, keep / exclude lists, manual labels, depth files."""
    files = list(pool)
    files += [Path(f) for f in (cfg.keep, cfg.exclude_list) if f]
    for folder in (cfg.manual_labels, cfg.pseudo.depth_dir):
        if folder and Path(folder).is_dir():
            files += sorted(p for p in Path(folder).iterdir() if p.is_file())
    return files


# self-training options that change nothing in the model: its name and folder, where the scores come from,
# what pseudo-labelling shows, and how many processes load the data
SELFTRAIN_NOT_OUTPUT: dict[str, Any] = {
    "name": True,
    "output_dir": True,
    "evaluate": True,
    "pseudo": {"device", "plot", "overlays", "overlay_long_side", "overwrite"},
    "train": {"num_workers"},
}


def selftrain(cfg: SelfTrainConfig, progress: bool = True, overwrite: bool = False) -> dict:
    """``agriseg crop selftrain``: two-stage self-training into ``output_dir/model.safetensors``.

    The finished model records its fingerprint (the photos and the files it read, the start model's content
    hash, every option that changes the model) in ``output_dir``'s manifest (:mod:`agriseg.manifest`): a
    re-run with the same ones changes nothing and returns ``{"model": ..., "skipped": True}``; one with other
    ones is refused naming them (``ValueError``), or, with ``overwrite``, trains again (the pseudo-labels
    too).

    Returns:
        The report (also in ``output_dir/selftrain_report.json``).
    """
    from agriseg.batch import Item
    from agriseg.fingerprint import Recipe
    from agriseg.manifest import recorded_by
    from agriseg.training.trainer import check_accelerator, check_model_builds

    check_accelerator(cfg.train.accelerator, cfg.train.precision)  # before pseudo-labels and lists are written
    check_model_builds(cfg.model)  # an unknown encoder: before minutes of pseudo-labels, not after
    if overwrite:
        cfg = with_updates(cfg, {"pseudo": {**cfg.pseudo.model_dump(), "overwrite": True}})
    out = Path(cfg.output_dir)
    refuse_users_files(out, recorded_by(out, "crop selftrain"), overwrite, "output_dir")
    trainer = SelfTrainer(cfg, progress)
    dst = trainer.out / "model.safetensors"
    init = cfg.init_model

    def start_model() -> str:  # resolved (and hashed) only when the store compares fingerprints
        from agriseg.models.io import resolve

        return str(resolve(str(init)))

    options = _flat(cfg.model_dump(exclude=SELFTRAIN_NOT_OUTPUT))
    recipe = Recipe(
        "crop selftrain",
        ALGORITHM["crop selftrain"],
        options,
        start_model if init else None,
        ignore=frozenset(),
        config_keys=True,
    )
    item = Item(dst.name, dst, (dst,), tuple(_selftrain_inputs(cfg, trainer.pool())))
    if not overwrite:  # a stage an interrupted run of these inputs and options finished is kept
        trainer.fingerprint = json.loads(json.dumps(recipe.fingerprint(item, with_hash=True).to_dict()))
    return _once(item, recipe, lambda _: trainer.run(), overwrite)


def combine_with_model(
    pseudo: np.ndarray, probs: np.ndarray, how: Combine = "agree", confidence: float = 0.9
) -> np.ndarray:
    """Merge an index/depth pseudo-label with a model's probabilities ``(K, H, W)``.

    ``none``: the pseudo-label. ``agree``: the pseudo-label where the model's prediction agrees, 255
    elsewhere. ``confident``: the model's class where its top probability >= ``confidence``, else the
    pseudo-label.
    """
    if how == "none":
        return pseudo
    pred = probs.argmax(0).astype(np.uint8)
    if how == "agree":
        return np.where(pred == pseudo, pseudo, 255).astype(np.uint8)
    if how == "confident":
        return np.where(probs.max(0) >= confidence, pred, pseudo).astype(np.uint8)
    raise ValueError(f"unknown combine mode {how!r}; valid: none, agree, confident")


def link_photos(photos: Sequence[Path], img_dir: Path) -> dict[str, Path]:
    """Link (or copy) the photos into ``img_dir`` under distinct stems; returns stem -> photo. The links an
    earlier run left there to other photos go: a re-run with other photos of the same names trained on the old
    ones, and one with other names on both."""
    import filecmp

    from agriseg.config import OptionError

    names: dict[str, Path] = {}
    given: dict[str, Path] = {}  # link name -> the photo as given
    links: dict[str, Path] = {}
    for f in photos:
        stem = f.stem if f.stem not in names else f"{f.stem}_{len(names)}"
        names[stem] = given[f"{stem}{f.suffix.lower()}"] = f
        links[f"{stem}{f.suffix.lower()}"] = f.resolve()
    for old in img_dir.iterdir():  # (only agriseg's links: a file there may be the user's)
        if old.is_symlink() and (old.name not in links or Path(os.readlink(old)) != links[old.name]):
            old.unlink()
    import json

    record = img_dir / COPIES  # the photos agriseg copied here where links cannot be made
    try:
        copies = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        copies = {}
    for name, target in links.items():
        link = img_dir / name
        if link.is_symlink():  # agriseg's link to this photo (those to other photos went above)
            continue
        if link.is_file() and name in copies:  # an earlier run's copy: of this photo as it is now
            if filecmp.cmp(link, target, shallow=False):
                continue
            link.unlink()
        if not link.exists():
            try:
                os.symlink(target, link)
            except OSError:
                shutil.copyfile(target, link)
                copies[name] = str(target)
                write_json(record, copies)
        elif not (link.is_file() and filecmp.cmp(link, target, shallow=False)):  # a copy of the photo is as good
            # a file agriseg did not put there: it would be read in place of the photo (and the photo blamed)
            raise OptionError(
                f"{link}: a file agriseg did not write, where it puts a link to {given[name]}; move it, or choose "
                "another work folder"
            )
    return names


COPIES = ".agriseg-copies.json"  # in a work folder's images/: the photos copied there (no links on that disk)


def adapt_workdir(output: Path, workdir: str | Path | None) -> Path:
    """The folder ``crop adapt`` trains in: ``workdir``, else ``<output stem>_adapt`` beside the output."""
    return Path(workdir) if workdir else output.with_name(f"{output.stem}_adapt")


def check_vegetation_model(model: ModelConfig, name: str) -> None:
    """Refuse to adapt a model of other classes than background and vegetation: the pseudo-labels are vegetation
    masks, so a crop-weed model's every plant was trained as crop and the weed class lost (crop IoU 84 -> 7, exit 0,
    in session 106's sweep), while the adapted file still named three classes.

    Raises:
        OptionError: naming the model and its classes.
    """
    if model.num_classes != 2:
        raise OptionError(
            f"-m {name}: a model of {model.num_classes} classes ({', '.join(model.class_names)}); crop adapt "
            "trains on vegetation masks (background / vegetation): adapt a 2-class model such as default"
        )


def adapt(
    photos: list[Path],
    output: str | Path,
    base_model: str = "default",
    pseudo: PseudoLabelConfig | None = None,
    combine: Combine = "agree",
    confidence: float = 0.9,
    keep: str | None = None,
    stage1_epochs: int = 4,
    stage2_epochs: int = 4,
    train: TrainConfig | None = None,
    data: SelfTrainDataConfig | None = None,
    workdir: str | Path | None = None,
    evaluate: SelfTrainEvalConfig | None = None,
    progress: bool = True,
    fingerprint: dict | None = None,
) -> dict:
    """Adapt a model to a new field from unlabelled photos and write the adapted model to ``output``.

    Pseudo-labels the photos (index or depth), merges them with the base model's own predictions
    (``combine``), then runs two-stage self-training starting from the base model's weights. ``fingerprint``:
    the run's inputs and options (JSON-ready); a stage an interrupted run with the same one finished is kept
    (:class:`SelfTrainer`).

    Returns:
        The self-training report, with ``base_evaluate`` (the base model's score) when ``evaluate`` is given.
    """
    from agriseg.batch import progress_bar
    from agriseg.config import OptionError
    from agriseg.crop.labels import read_label
    from agriseg.crop.predictor import Predictor
    from agriseg.data.io import read_rgb
    from agriseg.models.io import load_model, resolve

    output = Path(output)
    base_path = str(resolve(base_model))
    model, mcfg = load_model(base_path)
    check_vegetation_model(mcfg, base_model)  # before the work folder: a refused model leaves nothing behind
    work = adapt_workdir(output, workdir)
    made_work = not work.exists()  # removed again when the photos turn out unusable before any work
    img_dir = work / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    names = link_photos(photos, img_dir)
    cfg = SelfTrainConfig(
        name=f"adapt-{output.stem}",
        output_dir=str(work),
        images=str(img_dir),
        keep=keep,
        pseudo=pseudo or PseudoLabelConfig(),
        model=mcfg.model_copy(update={"encoder_weights": None}),
        data=data or SelfTrainDataConfig(),
        train=train or TrainConfig(),
        stage1_epochs=stage1_epochs,
        stage2_epochs=stage2_epochs,
        init_model=base_path,
        evaluate=evaluate,
    )

    def users(msg: str) -> str:  # the user's photos, not their links in the work folder
        for stem, f in names.items():
            msg = msg.replace(str(img_dir / f"{stem}{f.suffix.lower()}"), str(f))
        return msg

    def users_in_log(record: logging.LogRecord) -> bool:  # the pseudo-labeller's warnings too
        record.msg, record.args = users(record.getMessage()), ()
        # a greyscale photo is said once, with the photos left out of training (the report's left_out)
        return "a greyscale photo" not in record.msg

    trainer = SelfTrainer(cfg, progress, fingerprint)
    agriseg_log = logging.getLogger("agriseg")
    agriseg_log.addFilter(users_in_log)
    try:
        masks = trainer.pseudolabel(trainer.pool())
    except OptionError as err:
        if made_work:  # only links to the photos were made: leave nothing behind
            shutil.rmtree(work, ignore_errors=True)
        raise OptionError(users(str(err)).replace(str(img_dir), f"the {len(photos)} photos given")) from None
    finally:
        agriseg_log.removeFilter(users_in_log)
    said = trainer.report["pseudolabel"]
    said["errors"], said["left_out"] = [users(e) for e in said["errors"]], [users(e) for e in said["left_out"]]
    labels1 = trainer.stage1_labels(masks)
    if combine != "none":
        pred = Predictor(model, mcfg.num_classes, mcfg.infer_long_side)
        for stem in progress_bar(sorted(masks), desc=f"combine ({combine})", unit="img", disable=not progress):
            lab = read_label(labels1 / f"{stem}.png", "index")
            probs = pred.probabilities([read_rgb(names.get(stem, img_dir / stem))])[0]
            _write_index_png(combine_with_model(lab, probs, combine, confidence), labels1 / f"{stem}.png")
    if evaluate is not None:
        trainer.report["base_evaluate"] = score_model(base_path, evaluate, progress=progress)
    report = trainer.run(labels1)
    with atomic_write(output) as tmp:
        shutil.copyfile(report["model"], tmp)
    report["adapted_model"] = str(output)
    _write_json(report, work / "selftrain_report.json")
    return report


def depth_guided_postprocess(pred: np.ndarray, depth_mask: np.ndarray, min_support: float = 0.3) -> np.ndarray:
    """DepthCropSeg's optional post-processing: drop predicted plants that the depth map does not support.

    Each connected component of the predicted foreground is kept only if at least ``min_support`` of its
    pixels are foreground in the depth pseudo-mask (raised above the ground); background is unchanged.

    Args:
        pred: ``(H, W)`` predicted class ids (1 = vegetation).
        depth_mask: ``(H, W)`` bool depth pseudo-mask (e.g. GGHT on depth relief).
        min_support: minimum share of a component's pixels that depth must confirm.

    Returns:
        ``(H, W)`` uint8 cleaned prediction.
    """
    import cv2

    fg = (pred == 1).astype(np.uint8)
    n, lab = cv2.connectedComponents(fg, connectivity=8)
    if n <= 1:
        return pred.astype(np.uint8)
    area = np.bincount(lab.ravel(), minlength=n)
    support = np.bincount(lab.ravel(), weights=depth_mask.ravel().astype(np.float64), minlength=n)
    keep = support >= min_support * np.maximum(area, 1)
    keep[0] = False
    out = pred.astype(np.uint8).copy()
    out[(fg > 0) & ~keep[lab]] = 0
    return out


def adapt_photos(
    paths: PathsLike,
    output: str | Path,
    config: AdaptConfig,
    pseudo: PseudoLabelConfig,
    keep: str | None = None,
    workdir: str | Path | None = None,
    overwrite: bool = False,
) -> dict:
    """``agriseg crop adapt``: :func:`adapt` the model to the photos under ``paths``.

    The adapted model records its fingerprint (the photos and ``keep``, the start model's content hash, the
    options that change the model) in its folder's manifest (:mod:`agriseg.manifest`): a re-run with the
    same ones changes nothing and returns ``{"adapted_model": ..., "skipped": True}``; one with other ones
    is refused naming them, or, with ``overwrite``, adapts again (the pseudo-labels too).

    Raises:
        ValueError: ``output`` was made from other photos, model or options, or is a file this command did
            not write (kept unless ``overwrite``).
    """
    from agriseg.batch import Item
    from agriseg.crop.pseudolabel.pipeline import kept_files, photos_only, read_keep
    from agriseg.data.io import list_images_once
    from agriseg.fingerprint import NOT_OUTPUT_OPTIONS, Recipe
    from agriseg.manifest import recorded_by
    from agriseg.models.io import read_model_config, resolve

    output = Path(output)
    if output.suffix != ".safetensors":
        raise OptionError(f"-o {output}: the adapted model is a .safetensors file; name it so")
    folder = adapt_workdir(output, workdir)
    # an adapt run pseudo-labels into its work folder before it writes anything else there
    refuse_users_files(folder, recorded_by(folder / "pseudo", "crop pseudolabel"), overwrite, "--workdir")
    photos = photos_only(list_images_once(paths))[0]
    pool = kept_files(photos, read_keep(keep), keep) if keep else photos  # a bad export: a usage error before any work
    if len(pool) < 2:  # before the output's manifest is written
        given = f"{len(photos)} photo{'s' if len(photos) != 1 else ''} given" + (
            f", {len(pool)} kept by {keep}" if keep else ""
        )
        named = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        where = str(named[0]) if len(named) == 1 else "crop adapt"
        from agriseg.data.io import IMAGE_SUFFIXES, UNREAD_PHOTO_SUFFIXES

        known = (*IMAGE_SUFFIXES, *UNREAD_PHOTO_SUFFIXES)  # (a HEIC is a photo, said so where it is read)
        odd = [f for f in photos if f.suffix.lower() not in known]  # readme.txt named: "1 photo given"
        if odd and len(photos) < 2:  # (not when --keep is what left too few)
            raise OptionError(f"{odd[0]}: not a photo ({', '.join(IMAGE_SUFFIXES)}); crop adapt trains on photos")
        raise OptionError(f"{where}: {given}: at least 2 are needed to train on")
    train = TrainConfig(batch_size=config.batch_size)  # checked before the work too
    data = SelfTrainDataConfig(crop_size=config.crop_size)
    base = str(resolve(config.model_name))
    # a file that is no agriseg model, or one of crop and weed classes: a usage error before a work folder or manifest
    check_vegetation_model(read_model_config(base), config.model_name)
    if overwrite:
        pseudo = with_updates(pseudo, {"overwrite": True})
    shown = {"plot", "overlays", "overlay_long_side", "overwrite"}  # what pseudo-labelling shows, not what it makes
    options = {**config.model_dump(exclude={"model_name"}), **pseudo.model_dump(exclude=shown)}
    ignore = NOT_OUTPUT_OPTIONS - {"batch_size"}  # the training batch size changes the model
    if keep:  # the photos it accepts, not the file's bytes: each Export of one screening stamps its own time
        import hashlib

        accepted = sorted(read_keep(keep))
        digest = hashlib.sha1("\n".join(accepted).encode()).hexdigest()[:12]
        options["keep"] = f"{len(accepted)} accepted photos ({digest})"
    recipe = Recipe("crop adapt", ALGORITHM["crop adapt"], options, base, [], ignore=ignore)

    item = Item(output.name, output, (output,), tuple(photos))
    # a stage an interrupted run of these inputs and options finished is kept, as crop selftrain keeps it
    fingerprint = None if overwrite else json.loads(json.dumps(recipe.fingerprint(item, with_hash=True).to_dict()))

    def work(item: Item) -> dict:
        return adapt(
            photos,
            output,
            base,
            pseudo,
            config.combine,
            config.confidence,
            keep,
            config.stage1_epochs,
            config.stage2_epochs,
            train=train,
            data=data,
            workdir=workdir,
            fingerprint=fingerprint,
        )

    rep = _once(item, recipe, work, overwrite)
    if rep.get("skipped"):  # the photos the run that made it left out or could not read are said again
        earlier = _read_report(folder / "selftrain_report.json")
        if earlier.get("pseudolabel"):
            rep["pseudolabel"] = earlier["pseudolabel"]
    return {"adapted_model": str(output), **rep}


def _read_report(path: Path) -> dict:
    """A run's JSON report, or ``{}`` when it is not there or not readable (a work folder cleaned by hand)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# renamed to the *Config suffix: the old names work for one more release, with a warning
__getattr__ = renamed_names(
    globals(), {"TrimapSpec": "TrimapConfig", "DataSpec": "SelfTrainDataConfig", "EvalSpec": "SelfTrainEvalConfig"}
)
