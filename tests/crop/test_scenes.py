"""Generated photos with exact labels (agriseg.crop.scenes) and ``agriseg crop make-synthetic``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from agriseg.cli import main
from agriseg.crop.scenes.lab import BACKGROUNDS, LabSettings, lab_scene, uniform_frame
from agriseg.crop.scenes.shapes import ShapeSettings, disc_photo, plant_photo
from agriseg.crop.scenes.sources import plant_cutouts, read_pair, soil_canvas


def _soil(samples_dir: Path) -> tuple[np.ndarray, list]:
    rgb, lab = read_pair(samples_dir / "peanut/images", samples_dir / "peanut/labels", "0399")
    soil = soil_canvas(rgb, lab)
    assert soil is not None and soil.shape == rgb.shape
    return soil, plant_cutouts(rgb, lab, "0399")


def test_discs_have_the_area_of_their_radius(samples_dir: Path) -> None:
    soil, _ = _soil(samples_dir)
    rgb, truth, plants = disc_photo(soil, n=6, radius=30, seed=1)
    assert rgb.shape == (720, 960, 3) and len(plants) == 6
    for p in plants:
        assert abs(p.area / (math.pi * 30**2) - 1) < 0.02
    assert abs(truth.sum() - sum(p.area for p in plants)) < 1e-6  # apart: no overlap


def test_plant_photos_are_seeded(samples_dir: Path) -> None:
    soil, _ = _soil(samples_dir)
    a = plant_photo(soil, np.random.default_rng(5), ShapeSettings(touching=0.0))
    b = plant_photo(soil, np.random.default_rng(5), ShapeSettings(touching=0.0))
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    assert 1 <= len(a[2]) <= 5 and not a[3]
    assert a[1].sum() > 0


def test_lab_scenes_label_only_pasted_plants(samples_dir: Path) -> None:
    soil, cuts = _soil(samples_dir)
    assert cuts, "the sample photo has whole plants to cut out"
    rng = np.random.default_rng(0)
    for _ in range(6):
        rgb, label, info = lab_scene(rng, cuts, [soil])
        assert rgb.shape[:2] == label.shape and set(np.unique(label)) <= {0, 1, 2}
        assert (label > 0).any() == (info["plants"] > 0)
    for colour in BACKGROUNDS:
        assert uniform_frame(colour).shape == (480, 640, 3)


def test_wide_plant_colours_change_the_plants_and_mild_is_the_default(samples_dir: Path) -> None:
    soil, cuts = _soil(samples_dir)
    default = lab_scene(np.random.default_rng(3), cuts, [soil])
    mild = lab_scene(np.random.default_rng(3), cuts, [soil], LabSettings(plant_colours="mild"))
    assert (default[0] == mild[0]).all()  # mild draws exactly what the default drew
    rng = np.random.default_rng(3)
    wide = [lab_scene(rng, cuts, [soil], LabSettings(plant_colours="wide")) for _ in range(4)]
    rng = np.random.default_rng(3)
    milds = [lab_scene(rng, cuts, [soil], LabSettings()) for _ in range(4)]
    assert any(w[0].shape != m[0].shape or (w[0] != m[0]).any() for w, m in zip(wide, milds, strict=True))
    for rgb, label, info in wide:  # the truth still marks exactly the pasted plants
        assert rgb.shape[:2] == label.shape and (label > 0).any() == (info["plants"] > 0)


def test_distractors_are_drawn_beside_the_plants_and_never_labelled(samples_dir: Path) -> None:
    """``distractors`` adds markers, tape, glare and labels; none of it is vegetation in the truth."""
    from agriseg.crop.scenes.lab import DISTRACTOR_COLOURS, _distractors

    soil, cuts = _soil(samples_dir)
    plain = lab_scene(np.random.default_rng(4), cuts, [soil], LabSettings(distractors=0))
    assert (plain[0] == lab_scene(np.random.default_rng(4), cuts, [soil])[0]).all()  # 0 is the default
    for seed in range(3):  # frames without plants: whatever was drawn, the label is empty
        rgb, label, info = lab_scene(np.random.default_rng(seed), cuts, [soil], LabSettings(negatives=1, distractors=3))
        assert info["plants"] == 0 and not label.any()
    img = np.full((120, 160, 3), 128.0, np.float32)
    _distractors(img, np.random.default_rng(0), 2)
    changed = (np.abs(img - 128) > 20).any(-1)
    assert changed.mean() > 0.01
    assert not any(g > max(r, b) for r, g, b in DISTRACTOR_COLOURS)  # no green marker: it could be a leaf


def test_make_synthetic_writes_a_set_and_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "discs"
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "2"])
    assert res.exit_code == 0, res.output
    index = json.loads((out / "index.json").read_text())
    assert sorted(index["photos"]) == ["discs_00000", "discs_00001"]
    label = np.asarray(Image.open(out / "labels/discs_00000.png").convert("RGB"))
    assert (label[..., 1] == 255).sum() == round(sum(p["area"] for p in index["photos"]["discs_00000"]["plants"]))
    before = (out / "images/discs_00000.jpg").stat().st_mtime_ns
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "2"])
    assert res.exit_code == 0 and "already there" in res.output
    assert (out / "images/discs_00000.jpg").stat().st_mtime_ns == before
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "3", "--seed", "5"])
    assert res.exit_code == 2 and "holds a set made with other options (count 2, now 3; seed 0, now 5)" in res.output
    assert (out / "images/discs_00000.jpg").stat().st_mtime_ns == before and index["options"]["count"] == 2
    bad = CliRunner().invoke(main, ["crop", "make-synthetic", "lab", "-o", str(tmp_path / "x"), "--layouts", "moon"])
    assert bad.exit_code == 2 and "--layouts: unknown layout moon; valid: pots, tray" in bad.output
    empty = CliRunner().invoke(main, ["crop", "make-synthetic", "lab", "-o", str(tmp_path / "x"), "--layouts", ","])
    assert empty.exit_code == 2 and "--layouts ',': names no layout" in empty.output


def test_an_interrupted_set_is_made_again_and_never_mixed_with_another(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C after some photos, then a run with another seed: the first run's photos stayed among the new set's
    (index.json did not list them, `images/` did), with a killed run's temporary (session 69's sweep)."""
    import agriseg.crop.scenes.write as write

    out = tmp_path / "discs"
    real, calls = write._save, []

    def stopped(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        real(*args, **kwargs)

    monkeypatch.setattr(write, "_save", stopped)
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "4"])
    assert res.exit_code != 0 and sorted(p.name for p in (out / "images").iterdir()) == [
        "discs_00000.jpg", "discs_00001.jpg"
    ]  # fmt: skip
    monkeypatch.setattr(write, "_save", real)
    (out / "images" / ".discs_00002.jpg.agriseg-tmp-999999999.jpg").write_bytes(b"half")  # of a dead process
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "2", "--seed", "7"])
    assert res.exit_code == 2 and "holds an unfinished set made with other options" in res.output, res.output
    res = CliRunner().invoke(main, [*["crop", "make-synthetic", "discs", "-o", str(out)], "-n", "2", "--seed", "7",
                                    "--overwrite"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "images").iterdir()) == ["discs_00007.jpg", "discs_00008.jpg"]
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "2", "--seed", "7"])
    assert res.exit_code == 0 and "already there" in res.output


def test_overwrite_removes_only_photos_of_an_agriseg_set(tmp_path: Path) -> None:
    """--overwrite removed files named in any index.json of the folder (session 69's review): only the photos
    of a set this command made, by the names it gives them, are removed."""
    out = tmp_path / "discs"
    (out / "images").mkdir(parents=True)
    mine = out / "images" / "holiday.jpg"
    mine.write_bytes(b"a user's photo")
    (out / "index.json").write_text(
        json.dumps({"kind": "discs", "photos": {"holiday": {}}, "planned": ["../x"]}), encoding="utf-8"
    )
    args = ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "1", "--overwrite"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert mine.read_bytes() == b"a user's photo"


def test_a_users_file_under_a_photo_name_of_the_set_is_never_replaced(tmp_path: Path) -> None:
    """Session 85's sweep: a photo of the user's at set/images/discs_00000.jpg (no index.json) was replaced by
    the generated one, exit 0, --overwrite or not."""
    out = tmp_path / "discs"
    (out / "images").mkdir(parents=True)
    mine = out / "images" / "discs_00000.jpg"
    mine.write_bytes(b"a user's photo")
    for extra in ([], ["--overwrite"]):
        res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "1", *extra])
        assert res.exit_code == 2 and "discs_00000.jpg: a file agriseg did not write" in res.output, res.output
        assert mine.read_bytes() == b"a user's photo" and not (out / "index.json").exists()


def test_a_users_photos_beside_the_set_are_warned_of_and_kept(tmp_path: Path) -> None:
    """Session 103's list: photos of the user's in set/images/ were kept but joined the set's without a word (a
    training run on that folder then took them for part of it)."""
    out = tmp_path / "discs"
    (out / "images").mkdir(parents=True)
    mine = out / "images" / "field_01.jpg"
    mine.write_bytes(b"a user's photo")
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "1"])
    assert res.exit_code == 0, res.output
    assert "1 other file stays beside the set's photos (field_01.jpg), not part of it" in res.output, res.output
    assert mine.read_bytes() == b"a user's photo"


@pytest.mark.parametrize(
    # not JSON: --overwrite advised and replaced it (session 103's sweep)
    "index",
    ["[]", '{"options": [1, 2]}', '{"project": "field trial 2024", "plots": 12}', "my notes, not json"],
)
def test_a_folder_whose_index_is_no_sets_is_refused_in_one_line(tmp_path: Path, index: str) -> None:
    """An index.json that is JSON but no object was an AttributeError traceback (session 75's review); a user's
    own index.json was "a set made with other options (kind None, now 'discs')", --overwrite advised, and
    --overwrite replaced it (session 96's sweep)."""
    out = tmp_path / "discs"
    out.mkdir()
    (out / "index.json").write_text(index, encoding="utf-8")
    for extra in ([], ["--overwrite"]):
        res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", str(out), "-n", "1", *extra])
        assert res.exit_code == 2 and "is not the index of a generated set; it is kept" in res.output, res.output
        assert (out / "index.json").read_text(encoding="utf-8") == index


def test_a_set_of_the_working_folder_or_of_changed_sources_is_not_taken_as_made(
    tmp_path: Path, samples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-o .`` wrote images/ and labels/ into the working folder; a photo added to --photos (or edited) since
    the set was made was not noticed: "already there" (session 96's sweep)."""
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", ".", "-n", "1"])
    assert res.exit_code == 2 and ".: is the working folder" in res.output and not (tmp_path / "images").exists()
    photos, labels = tmp_path / "src" / "images", tmp_path / "src" / "labels"
    photos.mkdir(parents=True)
    labels.mkdir()
    shutil.copy(samples_dir / "peanut/images/0399.jpg", photos)
    shutil.copy(samples_dir / "peanut/labels/0399.png", labels)
    args = ["crop", "make-synthetic", "discs", "-o", "set", "-n", "1", "--photos", str(photos), "--labels", str(labels)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert "already there" in CliRunner().invoke(main, args).output
    shutil.copy(samples_dir / "peanut/images/0003.jpg", photos)
    shutil.copy(samples_dir / "peanut/labels/0003.png", labels)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "the source photos or labels changed since" in res.output, res.output


def test_tray_scenes_have_per_pot_truth_and_grow(samples_dir: Path) -> None:
    from agriseg.crop.scenes.tray import TraySettings, tray_scene

    _, cuts = _soil(samples_dir)
    s = TraySettings(3, 6, (720, 420), "blue", 2)
    rgb, label, truth = tray_scene(7, cuts, [], s)
    assert rgb.shape == (420, 720, 3) and label.shape == (420, 720)
    pots = truth["pots"]
    assert len(pots) == 18 and [p["id"] for p in pots] == [str(i) for i in range(1, 19)]
    assert sum(p["plant_count"] == 0 for p in pots) == 2 and all(
        p["area_px"] == 0 for p in pots if not p["plant_count"]
    )
    assert not pots[5]["in_frame"] and (label[:, -1] > 0).any()  # the top-right plant is cut by the edge
    assert (label[:, :6] > 0).any()  # the strip along the left edge is vegetation, in no pot
    inside = sum(p["area_px"] for p in pots)
    assert inside < (label > 0).sum()  # the strip's pixels belong to no pot
    _, _, later = tray_scene(7, cuts, [], TraySettings(3, 6, (720, 420), "blue", 2, grow=1.4))
    assert [p["plant_count"] for p in later["pots"]] == [p["plant_count"] for p in pots]  # the same tray
    assert sum(p["area_px"] for p in later["pots"]) > 1.3 * inside  # its plants grew


def test_photos_without_their_labels_are_refused_and_a_label_of_another_size_named(
    tmp_path: Path, samples_dir: Path
) -> None:
    """``--photos`` alone paired the user's photos with the bundled labels (a traceback, exit 1), and a label of
    another size failed with numpy's broadcast error naming no file (session 80)."""
    photos, labels = tmp_path / "images", tmp_path / "labels"
    photos.mkdir(), labels.mkdir()
    Image.open(samples_dir / "peanut/images/0399.jpg").resize((160, 120)).save(photos / "0399.jpg")
    Image.open(samples_dir / "peanut/labels/0399.png").convert("RGB").resize((150, 120)).save(labels / "0399.png")
    args = ["crop", "make-synthetic", "lab", "-o", str(tmp_path / "a"), "--photos", str(photos)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "--photos needs --labels too" in res.output and "Traceback" not in res.output
    bundled = samples_dir / "peanut/labels"  # typed by hand: not missing, said as not these photos' labels
    res = CliRunner().invoke(main, [*args, "--labels", str(bundled)])
    assert res.exit_code == 2 and f"--labels {bundled}: the bundled samples' labels, not those of --photos" in (
        res.output
    ), res.output
    with pytest.raises(ValueError, match=r"0399.png: label is 150x120 px, its photo .*0399.jpg 160x120"):
        read_pair(photos, labels, "0399")


def test_a_photo_is_found_by_its_name_not_a_pattern(tmp_path: Path, samples_dir: Path) -> None:
    """``read_pair`` globbed ``<stem>.*``: ``IMG[1]`` (a pattern) found nothing and raised StopIteration, and a
    QGIS ``side.aux.xml`` beside ``side.jpg`` was read as the photo (session 88)."""
    photos, labels = tmp_path / "images", tmp_path / "labels"
    photos.mkdir(), labels.mkdir()
    for stem in ("IMG[1]", "side"):
        Image.open(samples_dir / "peanut/images/0399.jpg").resize((160, 120)).save(photos / f"{stem}.jpg")
        Image.open(samples_dir / "peanut/labels/0399.png").resize((160, 120), Image.NEAREST).save(
            labels / f"{stem}.png"
        )
    (photos / "side.aux.xml").write_text("<PAMDataset/>")
    for stem in ("IMG[1]", "side"):
        rgb, lab = read_pair(photos, labels, stem, refine_band=0)
        assert rgb.shape == (120, 160, 3) and lab.shape == (120, 160)
    with pytest.raises(ValueError, match="no photo named nothing"):
        read_pair(photos, labels, "nothing")


def test_a_rerun_from_other_photos_or_layouts_spelt_otherwise(tmp_path: Path, samples_dir: Path) -> None:
    """A re-run with other ``--photos`` / ``--stems`` said the earlier set was the one asked for (exit 0), and
    ``--layouts 'pots, tray'`` was refused beside ``pots,tray`` though it makes the same set (session 88)."""
    photos, labels = tmp_path / "images", tmp_path / "labels"
    shutil.copytree(samples_dir / "peanut/images", photos)
    shutil.copytree(samples_dir / "peanut/labels", labels)
    (tmp_path / "one.txt").write_text("0399\n")
    out = str(tmp_path / "d")
    first = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", out, "-n", "1"])
    assert first.exit_code == 0, first.output
    other = ["--photos", str(photos), "--labels", str(labels), "--stems", str(tmp_path / "one.txt")]
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", out, "-n", "1", *other])
    assert res.exit_code == 2 and "stems 'all', now ['0399']" in res.output and "photos_dir" in res.output
    same = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", out, "-n", "1"])
    assert same.exit_code == 0 and "already there" in same.output
    assert "the source photos or labels changed" not in res.output  # other --stems only (session 105's sweep)
    # the same photos and labels in another folder (the bundled ones after agriseg moved, session 105's sweep)
    copied = ["--photos", str(photos), "--labels", str(labels)]
    moved = CliRunner().invoke(main, ["crop", "make-synthetic", "discs", "-o", out, "-n", "1", *copied])
    assert moved.exit_code == 0 and "already there" in moved.output, moved.output
    lab = ["crop", "make-synthetic", "lab", "-o", str(tmp_path / "l"), "-n", "1"]
    assert CliRunner().invoke(main, [*lab, "--layouts", "pots,tray"]).exit_code == 0
    spelt = CliRunner().invoke(main, [*lab, "--layouts", " pots, Tray"])
    assert spelt.exit_code == 0 and "already there" in spelt.output, spelt.output


def test_a_trays_layout_follows_its_seed_not_its_place_in_the_run(tmp_path: Path) -> None:
    """--help says photo i uses seed + i: tray_00006 of --seed 5 -n 2 and of --seed 6 -n 1 were a 4 x 6 tray on
    black and a 3 x 6 tray on blue (session 108's sweep)."""
    for seed, n in (("5", "2"), ("6", "1")):
        args = ["crop", "make-synthetic", "tray", "-o", str(tmp_path / seed), "-n", n, "--seed", seed]
        assert CliRunner().invoke(main, args).exit_code == 0
    a, b = (tmp_path / s / "images" / "tray_00006.jpg" for s in ("5", "6"))
    assert a.read_bytes() == b.read_bytes()


def test_a_tray_set_replaced_by_another_kind_leaves_no_series(tmp_path: Path) -> None:
    """``--overwrite`` of a tray set by a lab set removed the series' photos but kept its index.json and pots.csv,
    which described photos no longer there (session 100's sweep); a file of yours in series/ stays."""
    out = tmp_path / "t"
    assert CliRunner().invoke(main, ["crop", "make-synthetic", "tray", "-o", str(out), "-n", "1"]).exit_code == 0
    (out / "series" / "notes.txt").write_text("mine")
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "lab", "-o", str(out), "-n", "1", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert sorted(p.relative_to(out).as_posix() for p in (out / "series").rglob("*")) == ["series/notes.txt"]


@pytest.mark.slow  # 9 s: the default run keeps the test run under 15 minutes
def test_a_stopped_set_goes_on_from_where_it_stopped(tmp_path: Path, monkeypatch) -> None:
    """Session 88's sweep: a make-synthetic stopped after some photos made every photo again on its re-run with the
    same options. The photos it finished are kept (the same files), the others made, and the set is the one an
    uninterrupted run makes; --overwrite makes them all again."""
    import agriseg.crop.scenes.write as write

    whole = tmp_path / "whole"
    args = ["crop", "make-synthetic", "discs", "-n", "4"]
    assert CliRunner().invoke(main, [*args, "-o", str(whole)]).exit_code == 0
    out = tmp_path / "discs"
    real, calls = write._save, []

    def stopped(*a, **k):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(a[1])
        real(*a, **k)

    monkeypatch.setattr(write, "_save", stopped)
    assert CliRunner().invoke(main, [*args, "-o", str(out)]).exit_code != 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    assert sorted(before) == ["discs_00000.jpg", "discs_00001.jpg"]
    made = []
    monkeypatch.setattr(write, "_save", lambda *a, **k: (made.append(a[1]), real(*a, **k)))
    res = CliRunner().invoke(main, [*args, "-o", str(out)])
    # "wrote 4" of a run that made 2 (session 105's sweep)
    assert res.exit_code == 0 and "wrote 2 discs photos" in res.output and "2 kept from the stopped run" in res.output
    assert made == ["discs_00002", "discs_00003"]  # only the photos it had not made
    assert {p: (out / "images" / p).stat().st_mtime_ns for p in before} == before
    assert json.loads((out / "index.json").read_text()) == json.loads((whole / "index.json").read_text())
    for f in sorted((whole / "labels").iterdir()):
        assert np.array_equal(np.asarray(Image.open(f)), np.asarray(Image.open(out / "labels" / f.name)))
    made.clear()
    assert CliRunner().invoke(main, [*args, "-o", str(out), "--overwrite"]).exit_code == 0
    assert len(made) == 4


def test_the_summary_counts_the_uniform_frames(tmp_path: Path) -> None:
    """Session 88's sweep: `--uniform-frames` wrote 4 more photos than the summary said."""
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "lab", "-o", str(tmp_path / "lab"), "-n", "1",
                                    "--uniform-frames"])  # fmt: skip
    assert res.exit_code == 0 and f"wrote {1 + len(BACKGROUNDS)} lab photos" in res.output, res.output


def test_a_sets_unfinished_index_is_not_rewritten_after_every_photo(tmp_path: Path, monkeypatch) -> None:
    """Session 89's review: the unfinished index.json was rewritten whole after every photo (a 10,000-photo set
    spent a second a photo on it at the end). It is rewritten every few seconds, and when the run stops."""
    import agriseg.crop.scenes.write as write

    writes = []
    monkeypatch.setattr(write, "write_json", lambda path, data: writes.append(len(data["photos"])) or path)
    index: dict = {"photos": {}}
    with write._recording(tmp_path, index, ["a"]) as made:
        for i in range(500):
            index["photos"][f"p{i}"] = {}
            made()
    assert writes == []  # under RECORD_EVERY_S: nothing written while it runs (the finished index is the caller's)
    with pytest.raises(KeyboardInterrupt), write._recording(tmp_path, index, ["a"]) as made:
        index["photos"]["last"] = {}
        made()
        raise KeyboardInterrupt
    assert writes == [501]  # stopped: what was made is recorded at once


def test_trays_are_planted_with_green_plants_only() -> None:
    """Session 90's tray sweep: the bundled samples' labels mark dry, brown leaves as plants, and `make-synthetic
    tray` planted them in pots with a truth no green-measuring tool gives (several pots measured 0)."""
    import numpy as np

    from agriseg.crop.scenes.sources import Cutout, is_green

    alpha = np.ones((4, 4), np.float32)
    classes = np.ones((4, 4), np.uint8)
    green = Cutout(np.full((4, 4, 3), (60, 140, 50), np.uint8), alpha, classes, "g")
    brown = Cutout(np.full((4, 4, 3), (150, 120, 90), np.uint8), alpha, classes, "b")
    assert is_green(green) and not is_green(brown)
    assert not is_green(Cutout(green.rgb, np.zeros_like(alpha), classes, "none"))  # no pixel of it


def test_photos_without_a_label_are_said(tmp_path, caplog) -> None:
    """`crop make-synthetic --photos P --labels L` left a photo without its label out without a word, and
    crop train said "1 images without label" (session 95's sweep)."""
    import numpy as np
    from PIL import Image

    from agriseg.crop.dataset import warn_unpaired

    (tmp_path / "img").mkdir()
    (tmp_path / "lab").mkdir()
    for stem in ("a", "b"):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "img" / f"{stem}.jpg")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "lab" / "a.png")
    with caplog.at_level("WARNING"):
        warn_unpaired(tmp_path / "img", tmp_path / "lab")  # crop make-synthetic's
        warn_unpaired(tmp_path / "img", tmp_path / "lab", "left out of training")  # crop train's
    assert f"{tmp_path / 'img'}: 1 photo without a label left out (b.jpg)" in caplog.text
    assert f"{tmp_path / 'img'}: 1 photo without a label left out of training (b.jpg)" in caplog.text


def test_labels_in_another_colour_code_are_named(tmp_path: Path, samples_dir: Path) -> None:
    """0/255 masks as labels: their plants read as "ignore" and the run said "none of the 1 photos has enough
    bare soil for a canvas" (session 96's sweep)."""
    photos, labels = tmp_path / "images", tmp_path / "labels"
    photos.mkdir()
    labels.mkdir()
    shutil.copy(samples_dir / "peanut/images/0399.jpg", photos)
    peanut = np.asarray(Image.open(samples_dir / "peanut/labels/0399.png").convert("RGB"))
    Image.fromarray((peanut.any(-1) * 255).astype(np.uint8)).save(labels / "0399.png")
    with pytest.raises(ValueError, match=r"0399\.png: \d+% of its pixels are colours outside the Peanut colour code"):
        read_pair(photos, labels, "0399")


def test_labels_with_soft_edges_pass_and_a_turned_label_is_named_not_crashed(tmp_path: Path, samples_dir: Path) -> None:
    """The colour-code check refused Peanut labels halved with a smooth filter (their edges between colours,
    about 5 % of the pixels), and a 0/255 label stored turned (EXIF) crashed naming its colours (the review)."""
    photos, labels = tmp_path / "images", tmp_path / "labels"
    photos.mkdir()
    labels.mkdir()
    with Image.open(samples_dir / "peanut/images/0399.jpg") as im:
        im.resize((im.width // 2, im.height // 2)).save(photos / "0399.jpg")
    with Image.open(samples_dir / "peanut/labels/0399.png") as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2), Image.BILINEAR).save(labels / "0399.png")
    rgb, lab = read_pair(photos, labels, "0399")
    assert ((lab == 1) | (lab == 2)).any()
    mask = np.zeros((100, 200), np.uint8)  # stored 200 wide, shown 100 wide (orientation 6: turned 90)
    mask[20:60, 30:90] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.full((100, 200, 3), 90, np.uint8)).save(photos / "t.jpg", exif=exif)
    Image.fromarray(mask).save(labels / "t.png", exif=exif)
    with pytest.raises(ValueError, match=r"t\.png: \d+% of its pixels are colours outside the Peanut colour code"):
        read_pair(photos, labels, "t")


def test_a_set_of_an_earlier_version_resumes_and_one_with_failed_sources_is_made_again(
    tmp_path: Path, samples_dir: Path
) -> None:
    """With the sources' digest recorded (session 96), an unfinished set an earlier version left (no digest) was
    made again from scratch, and a set made without an unreadable source was refused once that source was
    mended (the review): it is made again, as before."""
    from agriseg.crop.config import SyntheticPhotosConfig
    from agriseg.crop.scenes.write import _begin_set, earlier_set, set_options

    photos, labels = samples_dir / "peanut/images", samples_dir / "peanut/labels"
    cfg = SyntheticPhotosConfig(count=2)
    options = set_options("discs", cfg, photos, labels)
    old = {k: v for k, v in options.items() if k != "source_files"}
    out = tmp_path / "set"
    for sub, ext in (("images", "jpg"), ("labels", "png")):
        (out / sub).mkdir(parents=True)
        (out / sub / f"discs_00000.{ext}").write_bytes(b"made")
    index = {"kind": "discs", "seed": 0, "sources": [], "options": old, "photos": {"discs_00000": {}},
             "planned": ["discs_00000", "discs_00001"], "complete": False}  # fmt: skip
    (out / "index.json").write_text(json.dumps(index), encoding="utf-8")
    kept = _begin_set(out, {"kind": "discs", "options": options}, ["discs_00000", "discs_00001"])
    assert list(kept) == ["discs_00000"]  # resumed, not made again
    done = {**index, "options": {**options, "source_files": "0" * 16}, "complete": True, "failed_sources": ["x"]}
    (out / "index.json").write_text(json.dumps(done), encoding="utf-8")
    assert earlier_set(out, "discs", cfg, photos, labels) is True  # not refused: the CLI makes it again


def test_a_label_of_another_image_suffix_is_read(tmp_path: Path, samples_dir: Path) -> None:
    """``0399.PNG`` (or ``.tif``) was paired with its photo, then "label file not found" as ``0399.png``, and a
    stem listed twice drew that photo twice as often (session 103's sweep)."""
    from PIL import Image

    from agriseg.crop.scenes.sources import read_pair

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "0399.jpg").write_bytes((samples_dir / "peanut" / "images" / "0399.jpg").read_bytes())
    Image.open(samples_dir / "peanut" / "labels" / "0399.png").save(tmp_path / "labels" / "0399.tif")
    rgb, lab = read_pair(tmp_path / "images", tmp_path / "labels", "0399", refine_band=0)
    assert lab.shape == rgb.shape[:2] and (lab > 0).any()


def test_photos_and_labels_swapped_are_a_usage_error_counting_the_others(tmp_path: Path) -> None:
    """Session 106's sweep: `make-synthetic lab --photos labels/ --labels images/` exited 1 with "... check that
    photos and labels are not swapped and more"."""
    samples = Path(__file__).resolve().parents[2] / "src" / "agriseg" / "samples" / "peanut"
    args = ["--photos", str(samples / "labels"), "--labels", str(samples / "images"), "-n", "2"]
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "lab", "-o", str(tmp_path / "s"), *args])
    assert res.exit_code == 2, res.output
    assert "check that photos and labels are not swapped; and 2 more)" in res.output, res.output
