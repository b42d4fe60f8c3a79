"""The README's disc example: ``crop traits`` measures plants of known area within 5 %.

Fails if the packaged model's edge bias comes back (v3 drew every plant 2-3 px too wide: +11 to +19 %).
v4 with the colour decision of unsure pixels met it on five of the six discs (the dark-green one came out
31 % small); with half-seen plants decided against their own soil it meets it on all six.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from agriseg.cli import main


def test_traits_measure_known_discs(tmp_path: Path) -> None:
    run = CliRunner().invoke
    res = run(main, ["crop", "make-synthetic", "discs", "-o", str(tmp_path / "discs"), "-n", "1"])
    assert res.exit_code == 0, res.output
    res = run(main, ["crop", "traits", str(tmp_path / "discs/images"), "-o", str(tmp_path / "t"), "--split-depth", "0"])
    assert res.exit_code == 0, res.output
    truth = json.loads((tmp_path / "discs/index.json").read_text())["photos"]["discs_00000"]["plants"]
    plants = json.loads((tmp_path / "t/discs_00000_traits.json").read_text())["plants"]
    assert len(plants) == len(truth) == 6
    for t in truth:  # each true disc is matched by the plant whose centroid is nearest
        p = min(plants, key=lambda p: (p["centroid_x"] - t["cx"]) ** 2 + (p["centroid_y"] - t["cy"]) ** 2)
        assert abs(p["area"] / t["area"] - 1) < 0.05, (p["area"], t["area"])
