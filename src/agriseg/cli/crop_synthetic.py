"""``agriseg crop make-synthetic``: generated photos with exact labels (discs, synthetic plants, lab scenes)."""

from __future__ import annotations

from pathlib import Path

import click

from agriseg.cli.errors import friendly_errors
from agriseg.cli.options import outdir_option, overwrite_option

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "peanut"


@click.command("make-synthetic")
@click.argument("kind", type=click.Choice(["discs", "plants", "lab", "tray"]))
@outdir_option("Output folder (images/, labels/ in the Peanut colours, index.json).")
@click.option(
    "--photos",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SAMPLES / "images",
    show_default=False,
    help="Labelled field photos that give the soil and the plant cut-outs. [default: the bundled samples]",
)
@click.option(
    "--labels",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SAMPLES / "labels",
    show_default=False,
    help="Their labels (Peanut colours: black / green crop / red weed). [default: the bundled samples]",
)
@click.option(
    "--stems",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Text file of the photo names to use (one per line). [default: every labelled photo]",
)
@click.option("-n", "--count", type=click.IntRange(1), default=20, show_default=True, help="Photos to generate.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed (photo i uses seed + i).")
@click.option(
    "--layouts",
    default="pots,tray,side,plate",
    show_default=True,
    help="lab: scene layouts to draw from (pots, tray, side, plate, field = plants on soil).",
)
@click.option("--uniform-frames", is_flag=True, help="lab: also write a plain white, grey, blue and black frame.")
@click.option(
    "--plant-colours",
    type=click.Choice(["mild", "wide"]),
    default="mild",
    show_default=True,
    help="lab: recolour pasted plants a little (mild) or into dark, pale, yellowish and bluish greens with "
    "flattened leaves and tinted glare (wide).",
)
@overwrite_option()
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
    overwrite: bool,
) -> None:
    """Generate photos of KIND (discs, plants, lab or tray) whose true masks and plant areas are known."""
    from agriseg.crop.scenes.write import make_synthetic as run

    if (outdir / "index.json").exists() and not overwrite:
        click.echo(f"{outdir}: a generated set is already there (--overwrite to generate again)")
        return
    index = run(kind, outdir, photos, labels, stems, count, seed, uniform_frames, layouts, plant_colours)  # type: ignore[arg-type]
    click.echo(f"wrote {count} {kind} photos to {outdir} ({index.name})")
