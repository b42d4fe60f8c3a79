"""The option vocabulary, checked on the whole click tree (see :mod:`agriseg.cli.options`).

Fails on a shared option defined locally, on a second help text of a shared option in one pipeline, on
``-o`` / ``-c`` / ``-m`` used for anything else, on a default that the command's config also holds, on a
per-item command outside the batch runner, and on a loop over inputs in ``src/agriseg/cli/``.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import agriseg.batch
from agriseg.cli import main
from agriseg.cli.options import SHARED, TRAIN_OVERWRITE_HELP, ConfigOption, config_class, config_default

CLI = Path(agriseg.__file__).parent / "cli"
SHORT = {"-o": ("--output", "--outdir"), "-c": ("--config",), "-m": ("--model",)}


def _commands(group: click.Group = main, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*path, name))
        else:
            out.append((" ".join((*path, name)), cmd))
    return out


COMMANDS = _commands()


def _options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option)]


def _listed(kind: str) -> set[str]:
    """The commands that :mod:`agriseg.batch`'s docstring lists as going through the runner, or outside."""
    doc = agriseg.batch.__doc__ or ""
    block = re.search(rf"- {kind}[^:]*:(.*?)(?=\n- |\n\n)", doc, re.S)
    assert block, f"agriseg.batch docstring has no '- {kind}' list"
    found: set[str] = set()
    for group, names in re.findall(r"``(crop|fields|text) ([^`]+)``", block.group(1)):
        found |= {f"{group} {n.strip()}" for n in names.split("|")}
    return found


def test_shared_options_come_from_their_factories() -> None:
    problems = []
    for name, cmd in COMMANDS:
        for opt in _options(cmd):
            flags = set(opt.opts) | set(opt.secondary_opts)
            for flag in flags & set(SHARED):
                if not isinstance(opt, ConfigOption) or opt.shared != flag:
                    problems.append(f"{name} {flag}: defined locally, not by agriseg.cli.options")
    assert not problems, "\n".join(problems)


def test_one_help_text_per_pipeline() -> None:
    helps: dict[tuple[str, str], set[str]] = {}
    for name, cmd in COMMANDS:
        pipeline = name.split()[0]
        for opt in _options(cmd):
            shared = getattr(opt, "shared", None)
            if shared and shared not in ("--output", "--outdir"):  # those say what each command writes
                if shared == "--overwrite" and str(opt.help).startswith(TRAIN_OVERWRITE_HELP):
                    continue  # a training run's: its model in output_dir, no batch (one text, checked below)
                helps.setdefault((pipeline, shared), set()).add(str(opt.help))
    # where the option means another thing, its help says that thing alone (a help naming other commands misled):
    # crop adapt's --batch-size is a training step, pseudolabel's --device the depth model's, and text dataset's
    # --overlap that of its grid tiles (no blended vote), and crop screen's --overwrite (its page is rewritten on
    # every run: the flag is for a page edited since)
    means_other = {("crop", "--batch-size"), ("crop", "--device"), ("text", "--overlap"), ("crop", "--overwrite")}
    many = {k: v for k, v in helps.items() if len(v) > (2 if k in means_other else 1)}
    assert not many, many
    every = helps[("crop", "--overwrite")] | helps[("fields", "--overwrite")] | helps[("text", "--overwrite")]
    assert len({h for h in every if "screen.html" not in h}) == 1
    trains = {str(o.help) for n, c in COMMANDS for o in _options(c) if str(o.help).startswith(TRAIN_OVERWRITE_HELP)}
    assert trains and all("batch" not in h for h in trains)  # sft's help spoke of a batch that resumes (session 105)


def test_short_flags_mean_one_thing() -> None:
    problems = []
    for name, cmd in COMMANDS:
        for opt in _options(cmd):
            for short, longs in SHORT.items():
                if short in opt.opts and not any(lg in opt.opts for lg in longs):
                    problems.append(f"{name} {short}: is {opt.opts}, not one of {longs}")
            if "--output" in opt.opts:
                assert isinstance(opt.type, click.Path) and not opt.type.dir_okay, f"{name} --output: not a file"
            if "--outdir" in opt.opts:
                assert isinstance(opt.type, click.Path) and not opt.type.file_okay, f"{name} --outdir: not a folder"
        for old, new in getattr(cmd, "renamed", {}).items():  # a deprecated spelling is rewritten before parsing
            if old in SHORT and new not in SHORT[old]:
                problems.append(f"{name} {old}: rewritten to {new}, not one of {SHORT[old]}")
    assert not problems, "\n".join(problems)


def test_defaults_live_in_the_configs() -> None:
    """A config option shows its config's default; no other option of the command sets one of its fields."""
    problems = []
    ctx = click.Context(main)
    for name, cmd in COMMANDS:
        configs = {o.config_ref for o in _options(cmd) if isinstance(o, ConfigOption) and o.config_ref}
        fields = {f: str(ref) for ref in configs for f in config_class(str(ref)).model_fields}
        for opt in _options(cmd):
            if isinstance(opt, ConfigOption) and opt.config_ref:
                want = config_default(opt.config_ref, str(opt.config_field))
                got = opt.get_default(ctx, call=False)
                if isinstance(want, tuple) and not opt.multiple:
                    want = ",".join(map(str, want))
                if got != want and not (opt.multiple and not got and not want):
                    problems.append(f"{name} {opt.opts[-1]}: default {got!r}, its config says {want!r}")
            elif opt.name in fields:
                shared = isinstance(opt, ConfigOption) and opt.shared  # e.g. --overwrite: one default everywhere
                if not shared or opt.get_default(ctx, call=False) != config_default(fields[opt.name], opt.name):
                    problems.append(f"{name} {opt.opts[-1]}: sets config field {opt.name} with a default of its own")
    assert not problems, "\n".join(problems)


def test_help_shows_a_config_default() -> None:
    text = " ".join(CliRunner().invoke(main, ["text", "predict", "--help"]).output.split())
    assert "--blend [count|center]" in text and "[default: center]" in text
    text = " ".join(CliRunner().invoke(main, ["crop", "predict", "--help"]).output.split())
    assert re.search(r"--optimize \[none\|jit\|onnxruntime\] How the model runs", text)
    assert "[default: onnxruntime]" in text


def test_per_item_commands_run_through_the_batch_runner() -> None:
    per_item, outside = _listed("through the runner"), _listed("outside")
    names = {n for n, _ in COMMANDS}
    assert per_item <= names and outside <= names, (per_item | outside) - names
    batch = {n for n, cmd in COMMANDS if getattr(cmd.callback, "agriseg_batch", False)}
    assert batch == per_item, f"marked as batch commands: {sorted(batch ^ per_item)}"
    many_inputs = {n for n, cmd in COMMANDS if any(p.nargs == -1 for p in cmd.params if isinstance(p, click.Argument))}
    strict = {n for n, cmd in COMMANDS for o in _options(cmd) if "--strict" in o.opts}
    stray = (many_inputs | strict) - per_item - outside
    assert not stray, f"per-item commands outside the batch runner: {sorted(stray)}"
    # a data set built from the images it could use, scores of the pairs it could read (the docstring)
    assert strict <= per_item | {"text dataset", "crop make-synthetic", "crop evaluate", "text evaluate"}


def test_renamed_flags_point_at_existing_ones() -> None:
    for name, cmd in COMMANDS:
        known = {f for o in _options(cmd) for f in (*o.opts, *o.secondary_opts)}
        for old, new in getattr(cmd, "renamed", {}).items():
            assert new in known and old not in known, f"{name}: {old} -> {new}"


def _input_params(fn: ast.FunctionDef) -> set[str]:
    """Parameters of a command that hold several inputs (its variadic click arguments)."""
    names = set()
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "argument":
            if any(k.arg == "nargs" and getattr(k.value, "operand", k.value) for k in dec.keywords):
                names.add(str(ast.literal_eval(dec.args[0])))
    return names


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_cli_holds_no_loop_over_inputs(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        inputs = _input_params(fn)
        for node in ast.walk(fn):
            if isinstance(node, ast.For | ast.comprehension):
                it = node.iter
                names = {n.id for n in ast.walk(it) if isinstance(n, ast.Name)}
                assert not names & inputs, f"{path.name}:{node.lineno}: a loop over {names & inputs}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "list_images",
                "pair_inputs",
            ):
                raise AssertionError(f"{path.name}:{node.lineno}: lists inputs (the pipeline's job)")


def test_a_renamed_flag_still_works_and_warns_once(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["text", "suggest-sizes", "--tile", "32", "--resolution", "0.5"])
    assert res.exit_code == 0, res.output
    assert res.output.count("--tile is deprecated") == 1 and "dataset / predict: --tile 32" in res.output


def test_a_bad_config_value_is_a_usage_error_naming_the_flag(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["crop", "predict", str(tmp_path), "-o", str(tmp_path / "o"), "--batch-size", "0"])
    assert res.exit_code == 2 and "--batch-size" in res.output and "Traceback" not in res.output


# option defaults that a config field of the same name does not hold: (command, flag) -> why
NOT_A_CONFIG_FIELD = {
    ("crop make-synthetic", "--photos"): "the packaged sample photos the scenes are cut from",
    ("crop make-synthetic", "--labels"): "the labels of those sample photos",
    ("fields export", "--size"): "the ONNX example input side, not a chip size",
    ("fields run", "--name"): "the outputs' file stem, not a model or loss name",
    ("text make-synthetic", "--seed"): "the seed of the landscapes, not of a training run",
    ("text tiny-model", "--seed"): "the seed of the random weights, not of a training run",
    ("text tiny-model", "--classes"): "the class words of the new model, not watershed classes",
}


def _pipeline_config_fields(pipeline: str) -> dict[str, set[str]]:
    """Field name -> the config classes (``module.Class``) of ``pipeline`` that hold it."""
    from agriseg.config import StrictModel

    package = CLI.parent / pipeline
    for path in sorted(package.rglob("*.py")):
        if "StrictModel" in path.read_text() or "Config)" in path.read_text():
            module = ".".join(path.relative_to(CLI.parent.parent).with_suffix("").parts)
            try:
                importlib.import_module(module)
            except ImportError:  # a module of an extra that is not installed: its configs are not checked
                continue
    found: dict[str, set[str]] = {}
    todo = list(StrictModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith(f"agriseg.{pipeline}."):
            for name in cls.model_fields:
                found.setdefault(name, set()).add(f"{cls.__module__}.{cls.__name__}")
    return found


def _literal_default(opt: click.Option, ctx: click.Context) -> object:
    """The default an option writes itself (None when it has none, or reads it from a config)."""
    if isinstance(opt, ConfigOption) and (opt.config_ref or opt.shared):
        return None  # read from a config, or one shared default everywhere
    value = opt.get_default(ctx, call=False)
    if value is None or value == () or repr(value) == "Sentinel.UNSET" or (opt.is_flag and value is False):
        return None
    return value


def test_no_cli_default_that_the_pipelines_config_holds() -> None:
    """An option default written in ``src/agriseg/cli/`` while a config of the command's pipeline has the
    field it sets fails: the option must read it from that config (``option(..., config=...)``)."""
    ctx = click.Context(main)
    fields = {p: _pipeline_config_fields(p) for p in ("crop", "fields", "text")}
    problems = []
    for name, cmd in COMMANDS:
        held = fields[name.split()[0]]
        for opt in _options(cmd):
            default = _literal_default(opt, ctx)
            if default is None or opt.name not in held or (name, opt.opts[-1]) in NOT_A_CONFIG_FIELD:
                continue
            where = ", ".join(sorted(held[str(opt.name)]))
            problems.append(f"{name} {opt.opts[-1]}: default {default!r} written in the CLI; {where} holds it")
    assert not problems, "\n".join(problems)


def test_help_from_the_config_fields_description() -> None:
    from agriseg.cli.options import TEXT_EVALUATE, field_help

    cmd = dict(COMMANDS)["text evaluate"]
    opt = next(o for o in _options(cmd) if o.name == "ignore_value")
    described = config_class(TEXT_EVALUATE).model_fields["ignore_value"].description
    assert described and opt.help == described[0].upper() + described[1:] + "."
    assert field_help(TEXT_EVALUATE, "ignore_value") == opt.help
    text = " ".join(CliRunner().invoke(main, ["fields", "run", "--help"]).output.split())
    assert (
        "--resize FLOAT Tile resize factor before the model. [default: 2 for ftw checkpoints, else 1; 0.25<=x<=4]"
        in text
    )


def test_help_shows_the_limits_the_config_checks() -> None:
    """Session 91's CLI sweep: a value the config refuses (--overlap 0.95) had no limit in --help."""
    from agriseg.cli.options import FIELDS_PREDICT, field_range

    assert field_range(FIELDS_PREDICT, "overlap") == "0<=x<=0.9"
    assert field_range(FIELDS_PREDICT, "batch_size") == "x>=1"
    assert field_range(FIELDS_PREDICT, "blend") is None
    text = " ".join(CliRunner().invoke(main, ["fields", "predict", "--help"]).output.split())
    assert "--overlap FLOAT Fraction of a tile shared with its neighbour (blended). [default: 0.25; 0<=x<=0.9]" in text


@pytest.mark.parametrize("value", ["inf", "nan"])
def test_positive_number_options_refuse_inf_and_nan(value: str) -> None:
    res = CliRunner().invoke(main, ["text", "suggest-sizes", "--size", "512", "--resolution", value])
    assert res.exit_code == 2 and f"'{value}' is not a finite number" in res.output, res.output


@pytest.mark.parametrize(
    "args",
    [
        ["crop", "evaluate", "--images", ".", "--masks", "."],
        ["text", "evaluate", "p.png", "--masks", ".", "--classes", "others,field"],
        ["fields", "evaluate", "-m", "m.ckpt", "--root", "."],
        ["fields", "robustness", "-m", "m.ckpt", "--root", "."],
    ],
)
def test_a_json_report_named_otherwise_is_a_usage_error(args: list[str]) -> None:
    """``-o report.txt`` wrote JSON into a file its name called text; the name must say JSON (session 101)."""
    res = CliRunner().invoke(main, [*args, "-o", "report.txt"])
    assert res.exit_code == 2 and "report.txt: written as JSON; name it .json" in res.output, res.output
    assert "Traceback" not in res.output


def test_every_output_option_refuses_an_empty_path() -> None:
    """``-o ""`` once wrote a command's outputs into the working folder; every output option refuses it."""
    from agriseg.cli.options import OutputPath

    checked = []
    for name, cmd in COMMANDS:
        for opt in _options(cmd):
            if {"--output", "--outdir", "--polygons", "--workdir"} & set(opt.opts):  # every option that writes
                assert isinstance(opt.type, OutputPath), f"{name} {opt.opts}: not an OutputPath"
                checked.append(name)
    assert len(checked) >= 10
    res = CliRunner().invoke(main, ["crop", "predict", "photo.jpg", "-o", " "])
    assert res.exit_code == 2 and "an empty path" in res.output, res.output
    # `fields change --polygons ""` wrote no polygons and said nothing (CLI review, session 81)
    res = CliRunner().invoke(main, ["fields", "change", "a.tif", "b.tif", "-o", "c.tif", "--polygons", ""])
    assert res.exit_code == 2 and "'--polygons': an empty path" in res.output, res.output


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["text", "dataset", "imgs", "--masks", "masks", "-o", "ds"], "'--classes'"),
        (["fields", "change", "a.tif", "b.tif"], "'-o' / '--output'"),
        (["crop", "adapt", "photos"], "'-o' / '--output'"),
        (["fields", "download", "--bbox", "1,2,3,4"], "'-o' / '--output'"),
        (["crop", "plots", "m.tif", "-o", "out"], "'--plots'"),
    ],
)
def test_a_required_option_left_out_is_a_usage_error(args: list[str], missing: str) -> None:
    """click 8.3 takes an explicit ``default=None`` as a value given: ``--classes`` and ``-o`` of these commands
    were not required at all, and the commands died with a TypeError traceback."""
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and f"Missing option {missing}" in res.output, res.output


@pytest.mark.parametrize(("name", "cmd"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_default_is_shown_one_way(name: str, cmd: click.Command) -> None:
    """Defaults were shown three ways: click's ``[default: 256]``, ``[default: (the model's)]`` for one said in
    words, and ``[default: ...]`` or ``(default: ...)`` typed into the help text; a number option had none."""
    ctx = click.Context(main, info_name="agriseg", **main.context_settings)  # as `agriseg ... --help` makes them
    group: click.Command = main
    for word in name.split():
        assert isinstance(group, click.Group)
        group = group.commands[word]
        ctx = click.Context(group, parent=ctx, info_name=word, **group.context_settings)
    for opt in _options(cmd):
        record = opt.get_help_record(ctx)
        if opt.hidden or record is None:
            continue
        text = " ".join(record[1].split())
        assert "[default: (" not in text and "(default:" not in text, f"{name} {opt.opts[-1]}: {text}"
        assert text.count("[default:") <= 1, f"{name} {opt.opts[-1]}: {text}"
        default = opt.get_default(ctx, call=False)
        shown = default is not None and repr(default) != "Sentinel.UNSET" and default not in ((), [], "")
        if shown and not opt.is_flag and opt.show_default is not False and "[default:" not in text:
            pytest.fail(f"{name} {opt.opts[-1]}: a default of {default!r} that --help does not show")


def test_every_path_given_refuses_an_empty_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``crop predict ""`` segmented the photos of the working folder (``Path("")`` is ``.``), ``-c ""`` said
    "./: config file not found" and ``--regions ""`` was taken as not given (session 97's CLI sweep)."""
    from agriseg.cli.options import InputPath

    for name, cmd in COMMANDS:  # every path a command reads is an InputPath (OutputPath is one too)
        for p in cmd.params:
            if isinstance(p.type, click.Path):
                assert isinstance(p.type, InputPath), f"{name} {p.name}: a click.Path that takes an empty value"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.jpg").write_bytes(b"")
    for args in (["crop", "predict", "", "-o", "out"], ["crop", "train", "-c", ""], ["fields", "polygonize", "", "-o",
                 "x.gpkg"], ["crop", "traits", "photo.jpg", "-o", "t", "--regions", ""]):  # fmt: skip
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "an empty path (name a file or folder" in res.output, (args, res.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


def test_a_flag_without_its_value_names_the_commands_help_in_one_line() -> None:
    """``crop predict x.jpg -o`` pointed to ``agriseg --help`` (click's parser raises it without the command), and
    a missing choice argument listed its values on five lines (session 97's CLI sweep)."""
    res = CliRunner().invoke(main, ["crop", "predict", "x.jpg", "-o"])
    assert res.output == "Error: Option '-o' requires an argument (see main crop predict --help)\n", res.output
    res = CliRunner().invoke(main, ["fields", "models", "show", "--bogus=1"])
    assert res.exit_code == 2 and "(see main fields models show --help)" in res.output, res.output
    res = CliRunner().invoke(main, ["crop", "predict", "x.jpg", "-o", "out", "--overlay=yes"])
    assert res.output.endswith("does not take a value (see main crop predict --help)\n"), res.output
    res = CliRunner().invoke(main, ["crop", "make-synthetic", "-o", "x"])
    assert res.exit_code == 2 and res.output == (
        "Error: Missing argument 'KIND'. Choose from: discs, plants, lab, tray (see main crop make-synthetic --help)\n"
    )


def test_options_of_a_model_and_of_random_tiles_are_refused_where_none_is_read(tmp_path: Path) -> None:
    """``crop evaluate --pred-masks --device cuda`` and ``text dataset --mode grid --seed 3`` ran, the seed then
    blocking the re-run as a changed setting (session 97's CLI sweep)."""
    args = ["crop", "evaluate", "--images", str(tmp_path), "--masks", str(tmp_path), "--pred-masks", str(tmp_path)]
    res = CliRunner().invoke(main, [*args, "--device", "cuda"])
    assert res.exit_code == 2 and "--device: not read with --pred-masks (no model runs)" in res.output, res.output
    args = ["text", "dataset", str(tmp_path), "--masks", str(tmp_path), "-o", str(tmp_path / "d"), "--classes", "a,b"]
    res = CliRunner().invoke(main, [*args, "--mode", "grid", "--seed", "3"])
    assert res.exit_code == 2 and "--seed: read with --mode random only" in res.output, res.output


def test_an_empty_model_name_is_refused_as_an_empty_path_is() -> None:
    """``text predict --model ""`` read the working folder as the model, ``fields models trust ""`` said
    ".: model file not found" (session 97's review)."""
    for args in (["text", "predict", "x.png", "-o", "o", "--model", ""], ["fields", "models", "trust", " "],
                 ["crop", "predict", "x.jpg", "-o", "o", "-m", ""]):  # fmt: skip
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "empty: give a model name or path" in res.output, (args, res.output)


def test_text_predict_names_three_images_with_repaired_tiles_then_counts(capsys: pytest.CaptureFixture) -> None:
    """Every image with a repaired tile took a line of its own (32 lines for 16 images), and `-q` printed them
    too (session 101's sweep)."""
    import agriseg
    from agriseg.cli.text_predict import say_repairs

    rows = [{"file": f"t{i}.png", "status": "ok", "patches": 4, "valid_patches": i % 2} for i in range(8)]
    rows.append({"file": "e.png", "status": "ok", "patches": 4, "valid_patches": 0, "repairs_said": True})
    say_repairs(rows)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "t0.png: none of its 4 tiles well-formed (all repaired; see its .json)"
    assert err[1] == "t1.png: 1 of 4 tiles well-formed (3 repaired; see its .json)"
    assert err[3:] == ["... and 5 more images with repaired tiles (see their .json)"]
    agriseg.quiet(True)
    try:
        say_repairs(rows)
    finally:
        agriseg.quiet(False)
    assert capsys.readouterr().err == ""


def test_a_short_flag_that_meant_another_option_says_so() -> None:
    """Session 105's sweep: `text dataset -m masks/` (once `--masks`) ended "Missing option '--masks'" and `text
    evaluate -c ...` (once `--classes`) "No such option '-c'", neither saying the flag's meaning had changed."""
    runner = CliRunner()
    for args, said in (
        (["text", "dataset", "imgs", "-m", "masks", "-o", "o", "--classes", "a,b"],
         "Missing option '--masks'; -m no longer means --masks: spell that out"),
        (["text", "evaluate", "p", "-c", "a,b"], "No such option '-c'; -c no longer means --classes: spell that out"),
        (["text", "predict", "p", "-c", "a,b", "-o", "o"], "-c no longer means --classes"),
    ):  # fmt: skip
        res = runner.invoke(main, args)
        assert res.exit_code == 2 and said in res.output, res.output
    res = runner.invoke(main, ["text", "evaluate", "p", "--nosuch"])  # no retired flag typed: click's words alone
    assert res.exit_code == 2 and "no longer means" not in res.output
    res = runner.invoke(main, ["text", "dataset", "i", "-o", "o", "-m", "m", "--masks", "i", "--grid", "abc"])
    assert res.exit_code == 2 and "no longer means" not in res.output  # -m typed right; the error is --grid's


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["crop", "predict", "{photo}", "-o", "--overwrite"], "got the option --overwrite, not a name"),
        (["crop", "traits", "{photo}", "-o", "-q"], "got the option -q, not a name"),
        (["crop", "evaluate", "--images", "{tmp}", "--masks", "{tmp}", "-o", "{long}.json"], "a 257-byte name"),
        (["fields", "predict", "{photo}", "-m", "x.ckpt", "-o", "{long}.tif"], "a 256-byte name, over the 255"),
    ],
)
def test_an_output_no_file_can_be_named_is_a_usage_error(tmp_path: Path, args: list[str], says: str) -> None:
    """``-o --overwrite`` wrote into a folder named ``--overwrite`` (the flag not applied), and a 256-byte name
    was a traceback (fields predict) or exit 1 after the checks (session 108's sweep): one line, exit 2, nothing
    made."""
    (tmp_path / "p.jpg").write_bytes(b"")
    given = [a.format(photo=tmp_path / "p.jpg", tmp=tmp_path, long="y" * 252) for a in args]
    res = CliRunner().invoke(main, given)
    assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg"]
