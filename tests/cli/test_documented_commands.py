"""Every command answers ``--help``; the docs show only commands and options that exist; the smoke suite
runs every command there is."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agriseg.cli import main

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GROUPS = ("crop", "fields", "text")
# `agriseg <group> <command> <rest of the line>`, in a code block or inline code
_INVOCATION = re.compile(r"agriseg\s+(" + "|".join(GROUPS) + r")\s+([a-z][a-z-]*)([^`\n]*)")
_SMOKED = re.compile(r"agriseg\(\s*f?\"(" + "|".join(GROUPS) + r") ([a-z][a-z-]*)")


def _commands() -> list[tuple[str, str, click.Command]]:
    out = []
    for gname in GROUPS:
        group = main.commands[gname]
        assert isinstance(group, click.Group)
        out += [(gname, name, cmd) for name, cmd in sorted(group.commands.items())]
    return out


def _documented() -> list[tuple[str, str, str, list[str]]]:
    """(doc file, group, command, options) for every `agriseg <group> <command> ...` shown in the docs."""
    found = []
    for doc in DOCS:
        text = re.sub(r"\\\n\s*", " ", doc.read_text())  # join shell line continuations
        for m in _INVOCATION.finditer(text):
            rest = m.group(3).split(" #")[0]  # drop a trailing shell comment
            opts = [t.strip("[]").split("=")[0] for t in rest.split() if t.strip("[").startswith("-")]
            found.append((doc.name, m.group(1), m.group(2), [o for o in opts if o not in ("-", "--", "...")]))
    return found


@pytest.mark.parametrize("path", [[]] + [[g] for g in GROUPS] + [[g, n] for g, n, _ in _commands()], ids=" ".join)
def test_help(path: list[str]) -> None:
    res = CliRunner().invoke(main, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output and "--help" in res.output


def test_docs_name_only_existing_commands_and_options() -> None:
    commands = {(g, n): cmd for g, n, cmd in _commands()}
    shown = _documented()
    assert len(shown) > 30, "the docs parser found too few commands"
    problems = []
    for doc, group, name, opts in shown:
        cmd = commands.get((group, name))
        if cmd is None:
            problems.append(f"{doc}: agriseg {group} {name}: no such command")
            continue
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
        problems += [f"{doc}: agriseg {group} {name} {o}: no such option" for o in opts if o not in known]
    assert not problems, "\n".join(problems)


def test_smoke_suite_runs_every_command() -> None:
    smoked = set()
    for f in Path(__file__).parent.glob("test_smoke_*.py"):
        smoked |= set(_SMOKED.findall(f.read_text()))
    missing = sorted(f"{g} {n}" for g, n, _ in _commands() if (g, n) not in smoked)
    assert not missing, f"commands without a smoke test: {missing}"


def test_the_readme_python_example_of_a_photo_runs_as_shown(monkeypatch, capsys):
    """The README's only Python example of the main feature (segment a photo, measure its plants)."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    code = next(b for b in blocks if "load_predictor" in b)
    monkeypatch.chdir(REPO)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the project's own documented example
    out = capsys.readouterr().out
    assert out == "cover 0.034, 11 plants\n", out  # crop traits' count of 0003 (docs/traits.md's worked example)


def test_the_worked_traits_example_measures_what_docs_traits_md_says(tmp_path: Path) -> None:
    """docs/traits.md's table had gone stale (0150: 12 plants, 5 in cell 1, where the command gave 13 and 6)."""
    import csv

    text = (REPO / "docs" / "traits.md").read_text()
    assert "agriseg crop traits src/agriseg/samples/peanut/images -o outputs/traits --grid 2x2" in text
    rows = re.findall(r"^\| (\d{4}) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| ([\d.]+) \| ([\d, ]+) \|$", text, re.M)
    assert len(rows) == 3, rows
    res = CliRunner().invoke(main, ["crop", "traits", str(REPO / "src/agriseg/samples/peanut/images"), "-o",
                                    str(tmp_path), "--grid", "2x2"])  # fmt: skip
    assert res.exit_code == 0 and "3 measured, 0 skipped, 0 failed" in res.output, res.output
    got: dict[tuple[str, str, str], str] = {}
    for r in csv.DictReader((tmp_path / "traits.csv").open()):
        if r["level"] in ("image", "region"):
            got[(Path(r["file"]).stem, r["region"], r["trait"])] = r["value"]
    for photo, green, gai, plants, exg, cells in rows:
        assert f"{float(got[(photo, '', 'green_fraction')]):.4f}" == green, photo
        assert f"{float(got[(photo, '', 'green_area_index')]):.3f}" == gai, photo
        assert got[(photo, "", "plant_count")] == plants, photo
        assert f"{float(got[(photo, '', 'excess_green')]):.3f}" == exg, photo
        per_cell = ", ".join(got[(photo, str(i), "plant_count")] for i in range(1, 5))
        assert per_cell == cells, photo
