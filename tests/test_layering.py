"""The package layering, read from the import statements of every module under ``src/agriseg``.

Dependencies point down: ``cli`` -> pipelines (``crop``, ``fields``, ``text``) -> shared foundations
(everything else: ``models``, ``tiling``, ``runtime``, ``raster``, ``vector``, ``data``, ``metrics``,
``config``, ``batch``, ``fingerprint``, ``manifest``, the training base, ...). Imports inside functions count
too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agriseg

PACKAGE = Path(agriseg.__file__).parent
PIPELINES = {"crop", "fields", "text"}
# the command line and ``python -m agriseg`` sit above the pipelines
TOP = {"cli", "__main__"}


def _layer(module: str) -> str:
    """The top-level part of ``agriseg.<part>...`` a dotted module name belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every ``agriseg`` import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from agriseg import crop`` imports the pipeline package itself
            if module == "agriseg":
                found += [(node.lineno, f"agriseg.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return [(line, name) for line, name in found if name == "agriseg" or name.startswith("agriseg.")]


def _edges() -> list[tuple[str, int, str, str]]:
    """``(file, line, importer layer, imported layer)`` for every cross-layer import."""
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _layer(_module_name(path)) if path.parent != PACKAGE else path.stem
        for line, name in _imports(path):
            target = _layer(name)
            if target and target != source:
                edges.append((str(path.relative_to(PACKAGE.parent)), line, source, target))
    return edges


def _violations(allowed) -> list[str]:  # noqa: ANN001 - a predicate (source, target) -> bool
    return [f"{file}:{line}: {src} imports {dst}" for file, line, src, dst in _edges() if not allowed(src, dst)]


def test_the_walker_sees_the_pipelines() -> None:
    # guards the test itself: with no edges found every contract below would pass vacuously
    edges = {(src, dst) for _, _, src, dst in _edges()}
    assert {("cli", "crop"), ("cli", "fields"), ("cli", "text")} <= edges
    assert any(src in PIPELINES and dst not in PIPELINES | TOP for src, dst in edges)


def test_foundations_never_import_a_pipeline_or_the_cli() -> None:
    bad = _violations(lambda src, dst: src in PIPELINES | TOP or dst not in PIPELINES | TOP)
    assert not bad, "shared modules import a pipeline or the CLI:\n" + "\n".join(bad)


def test_pipelines_never_import_each_other() -> None:
    bad = _violations(lambda src, dst: not (src in PIPELINES and dst in PIPELINES))
    assert not bad, "a pipeline imports another pipeline:\n" + "\n".join(bad)


def test_pipelines_never_import_the_cli() -> None:
    bad = _violations(lambda src, dst: not (src in PIPELINES and dst in TOP))
    assert not bad, "a pipeline imports the command line:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from agriseg.crop import predict\n", ["agriseg.crop"]),
        ("from agriseg import fields\n", ["agriseg.fields"]),
        ("def f():\n    import agriseg.text.codec\n", ["agriseg.text.codec"]),
        ("from ..crop.predict import Predictor\n", ["agriseg.crop.predict"]),
    ],
)
def test_imports_are_resolved(source: str, expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # a file placed at agriseg/models/probe.py: relative imports resolve against agriseg.models
    fake = PACKAGE / "models" / "_layering_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    assert [name for _, name in _imports(fake)] == expected


@pytest.mark.parametrize("package", ["crop", "fields", "text", "vector"])
def test_lazily_exported_names_are_typed_for_type_checkers(package: str) -> None:
    """The names a package imports on first use are imported under ``TYPE_CHECKING`` too, each from the module
    its ``_EXPORTS`` names, and the package ships ``py.typed``: mypy saw ``Any`` for every one (session 103's API
    sweep)."""
    import importlib

    module = importlib.import_module(f"agriseg.{package}")
    typed: dict[str, str] = {}
    for node in ast.walk(ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            typed |= {a.name: i.module for i in node.body if isinstance(i, ast.ImportFrom) for a in i.names}
    exported = {k: v for k, v in module._EXPORTS.items() if k not in ("PreprocessSpec",)}  # a deprecated alias
    assert typed == exported
    assert (PACKAGE / "py.typed").is_file()
