"""``agriseg crop make-synthetic``: generated photos with exact labels (discs, synthetic plants, lab scenes)."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.batch import counted
from agriseg.cli.errors import echo_failures, friendly_errors
from agriseg.cli.options import (
    CROP_SYNTHETIC,
    InputPath,
    option,
    outdir_option,
    overwrite_option,
    seed_option,
    stack,
    stems_option,
    strict_option,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "peanut"


@click.command("make-synthetic")
@click.argument("kind", type=click.Choice(["discs", "plants", "lab", "tray"]), metavar="KIND")
@outdir_option("Output folder (images/, labels/ in the Peanut colours, index.json; tray: series/ too).")
@stack(
    *(
        option(f"--{name}", type=InputPath(exists=True, file_okay=False, path_type=Path),
                     default=SAMPLES / folder, show_default="the bundled samples", help=text)
        for name, folder, text in (
            ("photos", "images", "Labelled field photos that give the soil and the plant cut-outs."),
            ("labels", "labels", "Their labels (Peanut colours: black / green crop / red weed)."),
        )
    )
)  # fmt: skip
@stems_option("Text file of the photo names to use (one per line).", show_default="every labelled photo")
@option("-n", "--count", config=CROP_SYNTHETIC, type=int, show_default=True, help="Photos to generate.")
@seed_option("Seed (photo i uses seed + i).", CROP_SYNTHETIC)
@option(
    "--layouts",
    config=CROP_SYNTHETIC,
    show_default=True,
    help="lab: scene layouts to draw from (pots, tray, side, plate, field = plants on soil).",
)
@option(
    "--uniform-frames",
    config=CROP_SYNTHETIC,
    is_flag=True,
    help="lab: also write a plain white, grey, blue and black frame.",
)
@option(
    "--plant-colours",
    config=CROP_SYNTHETIC,
    type="choice",
    show_default=True,
    help="lab: recolour pasted plants a little (mild) or into dark, pale, yellowish and bluish greens with "
    "flattened leaves and tinted glare (wide).",
)
@option(
    "--distractors",
    config=CROP_SYNTHETIC,
    type=click.IntRange(0, 3),
    show_default=True,
    help="lab: rounds of extra markers, tape, glare and labels drawn in each scene (hard negatives for training).",
)
@overwrite_option()
@strict_option()
@friendly_errors
def make_synthetic(
    kind: str,
    outdir: Path,
    photos: Path,
    labels: Path,
    stems: Path | None,
    count: int,
    seed: int,
    layouts: str,
    uniform_frames: bool,
    plant_colours: str,
    distractors: int,
    overwrite: bool,
    strict: bool,
) -> None:
    """Generate photos of KIND (discs, plants, lab or tray) whose true masks and plant areas are known."""
    from agriseg.config import OptionError
    from agriseg.crop.config import SyntheticPhotosConfig
    from agriseg.crop.scenes.write import earlier_set, sources_unchanged

    if photos.resolve() == labels.resolve():  # the bundled photos as both: "not those of --labels" of themselves
        raise OptionError(f"--labels {labels}: the photos' own folder (--photos); give the folder of the labels")
    given = [f"--{n}" for n, p, f in (("photos", photos, "images"), ("labels", labels, "labels")) if p != SAMPLES / f]
    if len(given) == 1:  # the bundled labels of the user's photos: another photo's outlines, or a crash
        other = "--labels" if given == ["--photos"] else "--photos"
        typed = click.get_current_context().get_parameter_source(other[2:]) == click.core.ParameterSource.COMMANDLINE
        if typed and other == "--labels":  # the bundled folder named by hand: not missing, but not of these photos
            raise OptionError(f"--labels {labels}: the bundled samples' labels, not those of --photos {photos}; give "
                              "the labels of those photos")  # fmt: skip
        if typed:
            raise OptionError(f"--photos {photos}: the bundled samples' photos, not those of --labels {labels}; give "
                              "the photos of those labels")  # fmt: skip
        raise OptionError(f"{given[0]} needs {other} too (the bundled {other[2:]} belong to the bundled samples)")
    from agriseg.data.files import check_output_folder

    check_output_folder(outdir)  # -o . / -o ..: the set's images/ and labels/ would join the working folder's
    out = outdir.resolve()
    for flag, folder in (("--photos", photos), ("--labels", labels)):
        src = folder.resolve()
        written = [out / sub for sub in ("images", "labels", "series")]
        holds = any(src == w or w in src.parents for w in written)
        if src == out or holds or src in out.parents:  # generated photos would join the real ones
            raise OptionError(
                f"-o {outdir}: {'is' if src == out else 'holds' if holds else 'lies in'} the {flag} folder "
                f"{folder}; generated photos go into a folder of their own"
            )
    from agriseg.crop.scenes.write import make_synthetic as run

    cfg = SyntheticPhotosConfig(
        count=count,
        seed=seed,
        layouts=layouts,
        uniform_frames=uniform_frames,
        plant_colours=plant_colours,
        distractors=distractors,
    )
    from agriseg.crop.dataset import read_stem_list

    names = read_stem_list(stems) if stems else None  # read once: a shell's <(...) reads empty a second time
    import json

    done = not overwrite and earlier_set(outdir, kind, cfg, photos, labels, names)
    earlier = json.loads((outdir / "index.json").read_text(encoding="utf-8")) if done else {}
    unread = earlier.get("failed_sources") or []
    # a set made without sources it could not read is made again once they changed (mended), not before: they
    # would fail again, and the set would be rewritten photo for photo on every run
    if done and (not unread or sources_unchanged(earlier, kind, cfg, photos, labels, names)):
        from agriseg.batch import already_there, check_made_files

        check_made_files(outdir, earlier.get("files"))  # a set whose files are gone or changed since is no set
        click.echo(already_there(outdir))
        _left_out(list(unread))  # still left out: said again, exit status 1
        return
    failed: list[str] | None = None if strict else []  # unreadable sources: left out, or the first one raised
    kept = 0 if overwrite else _stopped_photos(outdir)  # a stopped run's photos, which this one goes on from
    index = run(kind, outdir, photos, labels, stems, cfg, names, resume=not overwrite, failed=failed)  # type: ignore[arg-type]
    made = len(json.loads(index.read_text(encoding="utf-8"))["photos"])  # with --uniform-frames' plain frames
    # "wrote 40" of a run that went on from 7 a stopped run had made (session 105's sweep)
    before = f", {kept} kept from the stopped run" if 0 < kept <= made else ""
    click.echo(f"wrote {counted(made - (kept if before else 0), kind + ' photo')} to {outdir} ({index.name}){before}")
    _left_out(failed or [])


def _left_out(failed: list[str]) -> None:
    """Each source photo that could not be read, as a failed item, and exit status 1 (the set holds the others)."""
    if failed:
        echo_failures(failed)
        raise SystemExit(1)


def _stopped_photos(outdir: Path) -> int:
    """How many photos the set in ``outdir`` holds when its run was stopped (its index says not complete), else 0."""
    import json

    try:
        data = json.loads((outdir / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(data, dict) or data.get("complete") is not False or not isinstance(data.get("photos"), dict):
        return 0
    # the photos written, not the index's count (its last record may be of a photo the stop cut short)
    there = {p.stem for p in (outdir / "images").glob("*") if p.is_file()}
    return len(there & set(data["photos"]))
