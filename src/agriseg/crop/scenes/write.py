"""Write generated sets to folders: ``images/`` (JPEG), ``labels/`` (PNG in the Peanut colours) and a JSON index.

Labels use the Peanut colour code (black background, green crop, red weed), so ``agriseg crop evaluate
--peanut`` and the training configs read them like the Peanut labels. Synthetic plants are green (vegetation).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from agriseg.batch import counted, progress_bar
from agriseg.crop.config import SyntheticPhotosConfig
from agriseg.crop.scenes.lab import BACKGROUNDS, LabSettings, lab_scene, uniform_frame
from agriseg.crop.scenes.shapes import ShapeSettings, disc_photo, plant_photo, plant_records
from agriseg.crop.scenes.sources import is_green, plant_cutouts, read_pair, soil_canvas
from agriseg.crop.scenes.tray import TraySettings, tray_scene
from agriseg.data.files import atomic_write, write_json, write_text

SetKind = Literal["discs", "plants", "lab", "tray"]
PEANUT_RGB = np.array([[0, 0, 0], [0, 255, 0], [255, 0, 0]], np.uint8)  # class id -> colour


def _save(outdir: Path, name: str, rgb: np.ndarray, classes: np.ndarray) -> None:
    for sub, im, suffix, kw in (
        ("images", Image.fromarray(rgb), ".jpg", {"quality": 92}),
        ("labels", Image.fromarray(PEANUT_RGB[np.minimum(classes, 2)]), ".png", {}),
    ):
        path = outdir / sub / f"{name}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            im.save(tmp, format="JPEG" if suffix == ".jpg" else "PNG", **kw)


def load_sources(
    images: Path,
    labels: Path,
    stems: Iterable[str],
    refine_band: int = 3,
    cutouts: bool = True,
    failed: list[str] | None = None,
    unread: list[str] | None = None,
) -> tuple[list, list[np.ndarray]]:
    """Plant cut-outs (boundary-refined labels) and soil canvases of the given labelled photos.

    ``failed``: a photo or label that cannot be read is left out and its one-line error appended here (None:
    raised, as ``--strict`` asks); its name goes into ``unread``."""
    cuts: list = []
    soils: list[np.ndarray] = []
    for stem in progress_bar(list(stems), desc="sources", unit="photo", leave=False):
        try:
            rgb, lab = read_pair(images, labels, stem, refine_band)
        except (ValueError, OSError) as err:
            if failed is None:
                raise
            failed.append(str(err))
            if unread is not None:
                unread.append(stem)
            continue
        canvas = soil_canvas(rgb, lab)
        if canvas is not None:
            soils.append(canvas)
        if cutouts:
            cuts += plant_cutouts(rgb, lab, stem)
    return cuts, soils


def write_set(
    kind: SetKind,
    outdir: str | Path,
    images: str | Path,
    labels: str | Path,
    stems: list[str],
    n: int = 20,
    seed: int = 0,
    uniform_frames: bool = False,
    layouts: tuple[str, ...] | None = None,
    plant_colours: str = "mild",
    distractors: int = 0,
    options: dict | None = None,
    resume: bool = True,
    failed: list[str] | None = None,
) -> Path:
    """Generate ``n`` photos of one kind from the labelled photos ``stems`` and write them to ``outdir``.

    Args:
        kind: ``discs`` (six discs of radius 30 px on soil), ``plants`` (synthetic plants of known area on
            soil, :mod:`~agriseg.crop.scenes.shapes`) or ``lab`` (cut-out plants on lab scenes,
            :mod:`~agriseg.crop.scenes.lab`) or ``tray`` (trays with per-pot truth,
            :mod:`~agriseg.crop.scenes.tray`, and ``series/``: one tray on three dates).
        outdir: output folder (``images/``, ``labels/``, ``index.json``).
        images: folder of the source photos.
        labels: folder of their Peanut-coloured labels.
        stems: which source photos to use.
        n: number of photos.
        seed: seed of the generator (photo ``i`` uses ``seed + i``).
        uniform_frames: ``lab`` only: also write one plain frame of each background colour.
        layouts: ``lab`` only: scene layouts to draw from (default: the four lab layouts; ``field`` adds
            plants scattered on soil).
        plant_colours: ``lab`` only: ``mild`` or ``wide`` recolouring of the pasted plants
            (:class:`~agriseg.crop.scenes.lab.LabSettings`).
        distractors: ``lab`` only: extra markers, glare and labels per scene (0 = none; 1-3).
        options: what the set was made with, kept in ``index.json`` (a re-run with other options is refused).
        resume: keep the photos a stopped run with the same ``options`` finished, and make only the others
            (False: every photo is made again, as ``--overwrite`` asks).
        failed: source photos that cannot be read are left out, their errors appended here and kept in the
            index (``failed_sources``); None: the first one is raised.

    Returns:
        The ``index.json`` path (per photo: what it holds; for ``plants``, every plant's true area).

    Raises:
        ValueError: when the source photos give no soil canvas (all too green) or, for ``lab``, no plant.
    """
    outdir, images, labels = Path(outdir), Path(images), Path(labels)
    unread: list[str] = []
    cuts, soils = load_sources(images, labels, stems, cutouts=kind in ("lab", "tray"), failed=failed, unread=unread)
    if kind == "tray":  # seedlings in pots: green ones only (a dry leaf's truth is no green area)
        cuts = [c for c in cuts if is_green(c)]
    if kind in ("lab", "tray"):
        lacking = None if cuts else "a whole green plant to cut out" if kind == "tray" else "a whole plant to cut out"
    else:  # the soil canvas: plants and anything else green, grown by 4 px, cover at most 8 % of a photo
        lacking = None if soils else "enough bare soil for a canvas (at most 8 % of it plants or other green)"
    if lacking:
        read = len(stems) - len(failed or [])
        first = f"{failed[0]}{f'; and {len(failed) - 1} more' if len(failed) > 1 else ''}" if failed else ""
        if failed and not read:  # none could be read: that is the reason, not the soil
            from agriseg.config import OptionError

            # every one a photo given as a label: --photos and --labels swapped, a usage error (exit 2 as crop
            # evaluate's; it was exit 1 with "... swapped and more", session 106's sweep)
            swapped = all("photos and labels are not swapped" in f for f in failed)
            raise (OptionError if swapped else ValueError)(
                f"{images}: none of the {len(stems)} photos could be read ({first})"
            )
        unread_said = f" ({len(failed)} more could not be read: {first})" if failed else ""
        which = f"the {'readable ' if failed else ''}photo" if read == 1 else f"none of the {read} photos"
        raise ValueError(f"{images}: {which} {'lacks' if read == 1 else 'has'} {lacking}{unread_said}")
    index: dict = {"kind": kind, "seed": seed, "sources": sorted(stems), "photos": {}}
    if options is not None:
        index["options"] = options
    if failed:
        index["failed_sources"] = list(failed)
        # the sources read: a re-run once the unread ones are mended makes the set again, one after any of these
        # was edited is refused (earlier_set)
        index["unread_sources"] = sorted(unread)
        index["read_files"] = _sources_digest(images, labels, sorted(set(stems) - set(unread)))
    planned = _planned(kind, n, seed, kind == "lab" and uniform_frames)
    # photo i depends only on the sources and seed + i: those a stopped run finished are kept as they are
    index["photos"] = _begin_set(outdir, index, planned, (images, labels), resume)
    if kind == "tray":
        return _write_trays(outdir, index, cuts, soils, n, seed, planned)
    with _recording(outdir, index, planned) as made:
        _write_photos(kind, outdir, index, cuts, soils, n, seed, made, layouts, plant_colours, distractors)
    if kind == "lab" and uniform_frames:
        for j, colour in enumerate(BACKGROUNDS):
            rgb = uniform_frame(colour, seed=seed + n + j)
            name = f"uniform_{colour}"
            _save(outdir, name, rgb, np.zeros(rgb.shape[:2], np.uint8))
            index["photos"][name] = {"background": colour, "layout": "uniform", "plants": 0}
    return write_json(outdir / "index.json", {**index, "files": set_files(outdir, index)})


_KINDS = (("images", ".jpg"), ("labels", ".png"))  # a photo's two files: the photo and its label


def set_files(outdir: Path, index: dict, more: Iterable[Path] = ()) -> dict[str, list]:
    """Size and hash of every file of a finished set, for a re-run to tell a set still whole from one whose
    files were removed or changed since (:func:`agriseg.batch.check_made_files`)."""
    from agriseg.batch import file_digests

    files = [outdir / d / f"{name}{e}" for name in index["photos"] for d, e in _KINDS]
    return file_digests(outdir, [*files, *more])


def _write_photos(
    kind: SetKind,
    outdir: Path,
    index: dict,
    cuts: list,
    soils: list[np.ndarray],
    n: int,
    seed: int,
    made: Callable[[], None],
    layouts: tuple[str, ...] | None,
    plant_colours: str,
    distractors: int,
) -> None:
    """The ``n`` photos of a ``discs``, ``plants`` or ``lab`` set not yet in ``index`` (``made``: called after
    each, see :func:`_recording`)."""
    for i in progress_bar(range(n), desc=f"{kind} photos", unit="photo"):
        name = f"{kind}_{seed + i:05d}"
        if name in index["photos"]:
            continue
        rng = np.random.default_rng(seed + i)
        soil = soils[int(rng.integers(len(soils)))] if soils else None
        if kind == "discs":
            assert soil is not None
            rgb, truth, plants = disc_photo(soil, seed=seed + i, size=(960, 720))
            index["photos"][name] = {"plants": plant_records(plants), "touching": False}
        elif kind == "plants":
            assert soil is not None
            rgb, truth, plants, touching = plant_photo(soil, rng, ShapeSettings())
            index["photos"][name] = {"plants": plant_records(plants), "touching": touching}
        else:
            settings = LabSettings(plant_colours=plant_colours, distractors=distractors)  # type: ignore[arg-type]
            if layouts:
                settings.layouts = tuple(layouts)  # type: ignore[arg-type]  # checked by make_synthetic
            rgb, truth, info = lab_scene(rng, cuts, soils, settings)
            index["photos"][name] = info
        _save(outdir, name, rgb, truth)
        made()


RECORD_EVERY_S = 10.0  # the unfinished index is rewritten at most this often (and when the run is stopped)


@contextlib.contextmanager
def _recording(outdir: Path, index: dict, planned: list[str]) -> Iterator[Callable[[], None]]:
    """A function to call after each photo made: it records the photos made so far in the unfinished
    ``index.json`` (so a stopped run's re-run keeps them) every :data:`RECORD_EVERY_S` seconds, or every 20
    times as long as one rewrite took, and at once when the run stops with an error or Ctrl-C. (Rewriting the
    whole index after every photo made a 10,000-photo set quadratic: a second a photo at the end.)"""
    import time

    state = {"last": time.monotonic(), "cost": 0.0, "pending": False}

    def flush() -> None:
        if state["pending"]:
            t0 = time.monotonic()
            write_json(outdir / "index.json", {**index, "planned": planned, "complete": False})
            state.update(last=time.monotonic(), cost=time.monotonic() - t0, pending=False)

    def made() -> None:
        state["pending"] = True
        if time.monotonic() - state["last"] >= max(RECORD_EVERY_S, 20 * state["cost"]):
            flush()

    try:
        yield made
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk stopped it: its own error is the one to see
            flush()
        raise


# the trays of a ``tray`` set, drawn in turn: rows, columns, photo size, mat, empty pots
TRAYS: tuple[TraySettings, ...] = (
    TraySettings(3, 6, (720, 420), "blue", 2),
    TraySettings(4, 6, (800, 560), "black", 3),
    TraySettings(2, 4, (640, 380), "grey", 1),
    TraySettings(3, 5, (720, 470), "white", 2),
    TraySettings(8, 12, (1400, 960), "blue", 8),
)
SERIES = {"2024-06-01": 0.6, "2024-06-08": 0.8, "2024-06-15": 1.0}  # the dated series: date -> plant size


def _write_trays(
    outdir: Path, index: dict, cuts: list, soils: list[np.ndarray], n: int, seed: int, planned: list[str]
) -> Path:
    """``n`` trays (:data:`TRAYS` in turn) and ``series/``: the first tray on the three dates of :data:`SERIES`,
    with ``pots.csv`` (its pots as a regions CSV). Trays already in ``index`` (a stopped run's) are kept."""
    with _recording(outdir, index, planned) as made:
        for i in progress_bar(range(n), desc="tray photos", unit="photo"):
            name = f"tray_{seed + i:05d}"
            if name in index["photos"]:
                continue
            # the layout of photo seed + i too (it was its place in the run: tray_00006 of --seed 5 and of --seed
            # 6 were other trays, session 108's sweep); every committed set's seed is a multiple of 5: unchanged
            rgb, truth, info = tray_scene(seed + i, cuts, soils, TRAYS[(seed + i) % len(TRAYS)])
            _save(outdir, name, rgb, truth)
            index["photos"][name] = info
            made()
    series: dict = {"kind": "tray series", "seed": seed, "sources": index["sources"], "photos": {}}
    for date, grow in SERIES.items():
        s = TRAYS[seed % len(TRAYS)]  # the first tray's layout (tray_<seed>'s), on the three dates
        rgb, truth, info = tray_scene(seed, cuts, soils, TraySettings(s.rows, s.cols, s.size, s.mat, s.empty, grow))
        _save(outdir / "series", f"tray_{date}", rgb, truth)
        series["photos"][f"tray_{date}"] = info
    pots = "".join(f"{p['id']},{','.join(map(str, p['box']))}\n" for p in info["pots"])
    write_text(outdir / "series" / "pots.csv", "id,x,y,width,height\n" + pots)  # the pots, for --regions / --plots
    write_json(outdir / "series" / "index.json", series)
    series_files = [outdir / "series" / n for n in ("pots.csv", "index.json")]
    series_files += [outdir / "series" / d / f"{name}{e}" for name in series["photos"] for d, e in _KINDS]
    return write_json(outdir / "index.json", {**index, "files": set_files(outdir, index, series_files)})


def _planned(kind: str, n: int, seed: int, uniform_frames: bool) -> list[str]:
    """The names of the photos a set will hold (``series/`` of a tray set apart)."""
    names = [f"{kind}_{seed + i:05d}" for i in range(n)]
    return names + ([f"uniform_{colour}" for colour in BACKGROUNDS] if uniform_frames else [])


_SET_NAME = re.compile(r"(discs|plants|lab|tray|uniform)_[A-Za-z0-9-]+")  # the names of a set's photos


def _begin_set(
    outdir: Path, index: dict, planned: list[str], sources_dirs: Iterable[Path] = (), resume: bool = True
) -> dict[str, Any]:
    """Remove the photos of the set that was in ``outdir`` (the one its ``index.json`` lists, or was to hold
    when a run was stopped) and the temporaries of a killed run, then write an index marked unfinished: an
    interrupted run with other options left its photos among the new set's.

    With ``resume``, the photos a stopped run with the same options finished (in its index, both files there)
    are kept, not removed. Returns them: name -> what the index says of the photo.
    """
    from agriseg.data.files import clean_stale_temporaries

    earlier: Any = {}
    with contextlib.suppress(OSError, ValueError):
        earlier = json.loads((outdir / "index.json").read_text(encoding="utf-8"))
    if not isinstance(earlier, dict) or earlier.get("kind") not in ("discs", "plants", "lab", "tray"):
        earlier = {}  # not the index of a set agriseg made: nothing of it is removed
    kept: dict[str, Any] = {}
    before_opts = earlier.get("options")
    if isinstance(before_opts, dict) and "source_files" not in before_opts and "options" in index:
        before_opts = {**before_opts, "source_files": index["options"].get("source_files")}  # an earlier version's
    same = "options" in index and before_opts == index["options"] and earlier.get("complete") is False
    if resume and same and isinstance(earlier.get("photos"), dict):
        kept = {
            name: info
            for name, info in earlier["photos"].items()
            if name in planned
            and (outdir / "images" / f"{name}.jpg").is_file()
            and (outdir / "labels" / f"{name}.png").is_file()
        }
    sources = {Path(sources_dir).resolve() for sources_dir in sources_dirs}
    for folder, names in ((outdir, [*earlier.get("photos", {}), *earlier.get("planned", [])]),
                          (outdir / "series", list(SERIES) if earlier.get("kind") == "tray" else [])):  # fmt: skip
        names = [f"tray_{n}" for n in names] if folder.name == "series" else names
        for name in names:
            if not isinstance(name, str) or not _SET_NAME.fullmatch(name) or (folder == outdir and name in kept):
                continue  # only names this module gives its photos, and not those kept
            for path in (folder / "images" / f"{name}.jpg", folder / "labels" / f"{name}.png"):
                if path.parent.resolve() not in sources:  # never a photo the set is made from
                    path.unlink(missing_ok=True)
    if earlier.get("kind") == "tray":  # its series' record and pots, as it wrote them (one edited since stays, but
        # a tray set made again writes its pots.csv anew)
        from agriseg.data.download import sha256_of

        recorded = earlier.get("files") if isinstance(earlier.get("files"), dict) else {}
        for rel in ("series/index.json", "series/pots.csv"):
            path, was = outdir / rel, recorded.get(rel)
            if was and path.is_file() and [path.stat().st_size, sha256_of(path)] == was:
                path.unlink()
        for sub in ("series/images", "series/labels", "series"):  # left empty: no folder of a set no more there
            with contextlib.suppress(OSError):  # (one holding a file of yours stays)
                (outdir / sub).rmdir()
    for sub in ("images", "labels", "series/images", "series/labels"):
        if (outdir / sub).is_dir():
            clean_stale_temporaries(outdir / sub)
    # what is left under a name of this set's photos is no photo of an agriseg set: the user's, never replaced
    taken = [
        p
        for name in planned
        if name not in kept
        for p in (outdir / "images" / f"{name}.jpg", outdir / "labels" / f"{name}.png")
    ]
    if in_the_way := [p for p in taken if p.exists()]:
        from agriseg.config import OptionError

        raise OptionError(
            f"{in_the_way[0]}: a file agriseg did not write, named as a photo of this set"
            f"{f' (and {len(in_the_way) - 1} more)' if len(in_the_way) > 1 else ''}; move it, or choose another "
            "output folder"
        )
    _warn_foreign(outdir, set(planned))
    write_json(outdir / "index.json", {**index, "photos": kept, "planned": planned, "complete": False})
    return kept


def _warn_foreign(outdir: Path, planned: set[str]) -> None:
    """Warn of files in the set's ``images/`` and ``labels/`` that are no photo of it (a user's own, kept): a
    training run given those folders would take them for part of the set."""
    from agriseg.batch import listed
    from agriseg.data.io import log

    for sub in ("images", "labels"):
        folder = outdir / sub
        others = sorted(
            p.name
            for p in (folder.iterdir() if folder.is_dir() else ())
            if p.is_file() and not p.name.startswith(".") and p.stem not in planned
        )
        if others:
            log.warning("%s: %s beside the set's photos (%s), not part of it; index.json lists the set's",
                        folder, counted(len(others), "other file", "stays/stay"), listed(others, 3))  # fmt: skip


def layout_names(text: str) -> tuple[str, ...]:
    """``--layouts`` as names: ``' pots, Tray'`` -> ``('pots', 'tray')``."""
    return tuple(x.strip().lower() for x in text.split(",") if x.strip())


def set_options(
    kind: str,
    cfg: SyntheticPhotosConfig,
    photos: str | Path | None = None,
    labels: str | Path | None = None,
    names: list[str] | None = None,
) -> dict:
    """The options a generated set is made from, as ``index.json`` keeps them: the source folders and the
    ``--stems`` names too (``names``; None: every labelled photo), since a re-run from other photos was told
    the earlier set was the one asked for; and the layouts as a list (``'pots, tray'`` is ``pots,tray``)."""
    out: dict = {"kind": kind, **cfg.model_dump()}
    out["layouts"] = ",".join(layout_names(cfg.layouts))
    if photos is not None and labels is not None:
        out["photos_dir"], out["labels_dir"] = str(Path(photos).resolve()), str(Path(labels).resolve())
        out["stems"] = sorted(names) if names is not None else "all"
        out["source_files"] = _sources_digest(photos, labels, names)
    return out


def _sources_digest(photos: str | Path, labels: str | Path, names: list[str] | None) -> str | None:
    """A digest of the source photos and labels a set is made from (their names and contents): a photo added to
    the folders, removed or edited makes another set, which a re-run took for the one there (session 96's
    sweep). None where the folders cannot be paired (the run itself says why)."""
    import hashlib

    from agriseg.crop.dataset import match_pairs
    from agriseg.fingerprint import model_identity

    try:
        pairs = match_pairs(photos, labels)
    except (OSError, ValueError):
        return None
    h = hashlib.sha256()
    for stem in sorted(set(names) & set(pairs) if names is not None else pairs):
        for path in pairs[stem]:
            # the fingerprints' content hash, kept per path, size and time: the check before the run and the
            # index the run writes read each file once; an unreadable one gives its path (it fails as a source)
            h.update(f"{stem}/{path.name}:{model_identity(path)};".encode())
    return h.hexdigest()[:16]


def unfinished_set(images: str | Path) -> str | None:
    """What is missing when ``images`` is the ``images/`` folder of a generated set whose run was stopped (its
    ``index.json`` says ``complete: false``): ``"3 of 400 photos"``; None for a finished set or any other folder.
    """
    index = Path(images).parent / "index.json"
    if Path(images).name != "images" or not index.is_file():
        return None
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("complete") is not False or not isinstance(data.get("photos"), dict):
        return None
    planned = data.get("planned")  # (the count is the index's last record: a few more may be there)
    made = len(data["photos"])
    return f"{made} of {len(planned)} photos" if isinstance(planned, list) else f"{made} photos"


def check_set_index(index: Path, data: Any = None) -> None:  # noqa: ANN401 - the file's JSON, as read
    """Refuse an ``index.json`` that no generated set wrote (a user's own file in the output folder): it is never
    replaced, ``--overwrite`` or not. ``data``: the file's JSON when already read. A file that is not JSON is a
    user's too (a set's index is written whole, under a temporary name): ``--overwrite`` replaced one.

    Raises:
        FileExistsError: naming the file.
    """
    if data is None:
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None  # said below, as any other file that is no set's index
    if not isinstance(data, dict) or not ({"options", "kind"} & set(data) and "photos" in data):
        raise FileExistsError(f"{index}: exists but is not the index of a generated set; it is kept (--overwrite "
                              "or not): choose another folder")  # fmt: skip


def earlier_set(
    outdir: str | Path,
    kind: str,
    cfg: SyntheticPhotosConfig,
    photos: str | Path | None = None,
    labels: str | Path | None = None,
    names: list[str] | None = None,
) -> bool:
    """Whether ``outdir`` already holds the set these options make (then nothing needs generating).

    Raises:
        FileExistsError: it holds a set made with other options (named), which is kept.
    """
    index = Path(outdir) / "index.json"
    if not index.is_file():
        return False
    try:
        before = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = None  # not JSON: no set's index (refused below, --overwrite or not)
    check_set_index(index, before)
    # sets made before their options were kept name only their kind and seed
    kept = before.get("options") or {"kind": before.get("kind"), "seed": before.get("seed")}
    now = set_options(kind, cfg, photos, labels, names)
    # the same photos and labels (by content) in another folder are the same sources: a set made from the bundled
    # samples was refused once agriseg was installed elsewhere (session 105's sweep); and other --stems are said
    # as such, not also as sources "added, removed or edited"
    same_sources = bool(kept.get("source_files")) and kept.get("source_files") == now.get("source_files")
    skip = {"photos_dir", "labels_dir"} if same_sources else set()
    if kept.get("stems") != now.get("stems"):
        skip.add("source_files")
    changed = [
        "the source photos or labels changed since (added, removed or edited)"
        if k == "source_files"
        else f"{k} {_short(kept[k])}, now {_short(now[k])}"
        for k in kept
        if k in now
        and k not in skip
        and kept[k] != now[k]
        and not (k == "source_files" and _only_unread_changed(before, photos, labels, names))
    ]  # (a set made without photos it could not read is made again once those are mended)
    unfinished = before.get("complete") is False  # a run stopped before its last photo
    if changed:
        raise FileExistsError(
            f"{outdir}: holds {'an unfinished' if unfinished else 'a'} set made with other options "
            f"({'; '.join(changed)}); it is kept: --overwrite to generate again, or choose another folder"
        )
    return not unfinished


def _only_unread_changed(
    before: dict, photos: str | Path | None, labels: str | Path | None, names: list[str] | None
) -> bool:
    """Whether a set made without sources it could not read saw only those change since (mended, or removed):
    those it read are there as they were (a photo added, or one it read edited or removed, is a change).
    A set of an agriseg before ``read_files``: any change counts as such."""
    if not before.get("failed_sources") or photos is None or labels is None:
        return False
    if "read_files" not in before:
        return True
    from agriseg.crop.dataset import match_pairs

    try:
        now = sorted(names) if names is not None else sorted(match_pairs(photos, labels))
    except (OSError, ValueError):
        return False
    was, unread = set(before.get("sources", [])), set(before.get("unread_sources", []))
    if set(now) - was or was - set(now) - unread:  # a photo added, or one it read removed (an unread one may go)
        return False
    read = sorted(was - unread)
    return _sources_digest(photos, labels, read) == before["read_files"]


def sources_unchanged(
    before: dict, kind: str, cfg: SyntheticPhotosConfig, photos: str | Path, labels: str | Path, names: list[str] | None
) -> bool:
    """Whether the sources of the set an ``index.json`` describes (``before``) are all as they were: a set made
    without sources it could not read is then whole as it is, not made again (they would fail again)."""
    now = set_options(kind, cfg, photos, labels, names).get("source_files")
    return now is not None and (before.get("options") or {}).get("source_files") == now


def _short(value: object) -> str:
    """An option's value in a message: a long list of names by its first few."""
    if isinstance(value, list) and len(value) > 4:
        return f"{value[:3]!r} and {len(value) - 3} more"
    return repr(value)


def make_synthetic(
    kind: SetKind,
    outdir: str | Path,
    photos: str | Path,
    labels: str | Path,
    stems_file: str | Path | None = None,
    config: SyntheticPhotosConfig | None = None,
    stems: list[str] | None = None,
    resume: bool = True,
    failed: list[str] | None = None,
) -> Path:
    """``agriseg crop make-synthetic``: :func:`write_set` from a folder of labelled photos.

    Args:
        stems_file: text file of the photo names to use (default: every labelled photo).
        config: how many photos, the seed, the ``lab`` layouts (default: :class:`SyntheticPhotosConfig`'s).
        stems: the names of ``stems_file`` already read (a file read twice: a shell's ``<(...)`` is empty then).
        resume: keep the photos a stopped run with the same options made (False: ``--overwrite``).
        failed: unreadable source photos are left out, their errors appended here (None: raised).

    Returns:
        The ``index.json`` path.

    Raises:
        ValueError: an unknown layout, or names without a labelled photo.
    """
    from agriseg.config import OptionError
    from agriseg.crop.dataset import match_pairs, read_stem_list, warn_unpaired
    from agriseg.crop.scenes.lab import LAYOUTS
    from agriseg.data.files import ensure_outdir

    cfg = config or SyntheticPhotosConfig()
    lab_only = ("layouts", "uniform_frames", "plant_colours", "distractors")
    changed = [f for f in lab_only if getattr(cfg, f) != SyntheticPhotosConfig.model_fields[f].default]
    if kind != "lab" and changed:  # never read for other kinds: say so rather than ignore them
        flags = ", ".join("--" + f.replace("_", "-") for f in changed)
        raise OptionError(f"{flags}: options of lab scenes; {kind} photos do not use them")
    layouts = cfg.layouts
    chosen = layout_names(layouts)
    unknown = [x for x in dict.fromkeys(chosen) if x not in (*LAYOUTS, "field")]
    valid = ", ".join([*LAYOUTS, "field"])
    if not chosen:
        raise OptionError(f"--layouts {layouts!r}: names no layout; valid: {valid} (comma-separated)")
    if unknown:
        raise OptionError(f"--layouts: unknown layout{'s' * (len(unknown) > 1)} {', '.join(unknown)}; valid: {valid}")
    pairs = match_pairs(photos, labels)
    given = stems if stems is not None else read_stem_list(stems_file) if stems_file else None
    if given is not None:
        given = list(dict.fromkeys(given))  # a name listed twice: its photo was drawn twice as often
    names = given if given is not None else sorted(pairs)
    if given is None:  # a photo without its label (or one the other way) was left out without a word
        warn_unpaired(photos, labels)
    if stems_file and not names:
        raise OptionError(f"--stems {stems_file}: lists no photo names")
    missing = sorted(set(names) - set(pairs))
    if missing:
        raise OptionError(
            f"--stems {stems_file}: {counted(len(missing), 'name', 'has/have')} no photo with a label: {missing[:3]}"
        )
    if (Path(outdir) / "index.json").is_file():  # a user's own index.json: never replaced, --overwrite or not
        check_set_index(Path(outdir) / "index.json")
    made_now = not Path(outdir).exists()
    ensure_outdir(outdir)  # a folder that cannot be written is a usage error, before any photo is made
    try:
        return write_set(
            kind,
            outdir,
            photos,
            labels,
            names,
            cfg.count,
            cfg.seed,
            cfg.uniform_frames,
            chosen,
            cfg.plant_colours,
            cfg.distractors,
            set_options(kind, cfg, photos, labels, given),
            resume,
            failed,
        )
    except BaseException:  # no source usable, one unreadable under --strict, Ctrl-C: no empty folder left behind
        if made_now and Path(outdir).is_dir() and not any(Path(outdir).iterdir()):
            Path(outdir).rmdir()
        raise
