"""Scenes made in parallel chunks on the GPU machine must be the files one ``make-synthetic lab`` run writes."""

import importlib
import sys
from pathlib import Path

import pytest

from agriseg.crop.scenes.write import write_set

REPO = Path(__file__).resolve().parents[2]


def _load(monkeypatch):
    # imported by name: the chunks run in worker processes, which look the module up again
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    return importlib.import_module("gpu_scenes")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*"))}


@pytest.mark.slow  # 11 s: the default run keeps under 15 minutes (the GPU retrain's scene chunks)
@pytest.mark.parametrize("flags,kw", [(":uniform", {"uniform_frames": True}), (":distractors=1", {"distractors": 1})])
def test_chunks_write_the_files_of_one_run(tmp_path, monkeypatch, samples_dir, flags, kw):
    gpu_scenes = _load(monkeypatch)
    photos, labels = samples_dir / "peanut/images", samples_dir / "peanut/labels"
    stems = sorted(p.stem for p in photos.iterdir())
    (tmp_path / "stems.txt").write_text("\n".join(stems) + "\n")
    one = tmp_path / "one"
    write_set("lab", one, photos, labels, stems, n=5, seed=7, layouts=gpu_scenes.LAYOUTS, **kw)
    chunked = tmp_path / "chunked"
    argv = ["gpu_scenes.py", f"{chunked}:7:5{flags}", "--chunks", "2", "--workers", "2"]
    argv += ["--photos", str(photos), "--labels", str(labels), "--stems", str(tmp_path / "stems.txt")]
    monkeypatch.setattr(sys, "argv", argv)
    gpu_scenes.main()
    want, got = _files(one), _files(chunked)
    # images and labels (+ 4 plain frames) and index.json; nothing of the chunks' own folders is left
    assert len(want) == (2 * (5 + 4) if "uniform" in flags else 2 * 5) + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunked", "one", "stems.txt"]
    assert got.keys() == want.keys()
    assert all(got[k] == want[k] for k in want), [k for k in want if got[k] != want[k]]
