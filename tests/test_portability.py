"""Code rules for users on Windows and macOS, read from the source of every module under ``src/agriseg``.

Text files are read and written as UTF-8 by name: without ``encoding=`` Python uses the locale's encoding
(cp1252 on most Windows machines), so a list of photo names with "é" written there reads back as another
name, and a name outside cp1252 fails to write at all (the portability sweep of session 68).
"""

from __future__ import annotations

import ast
from pathlib import Path

import agriseg

PACKAGE = Path(agriseg.__file__).parent
# ``<receiver>.open(...)`` calls that are not pathlib's text open
NOT_PATHLIB = {"Image", "rasterio", "rio", "Client", "zipfile", "tarfile", "gzip", "fsspec", "webbrowser", "os"}


def _text_mode(call: ast.Call, mode_at: int) -> bool:
    """Whether a call's mode (positional ``mode_at`` or ``mode=``) opens text: no mode, or one without "b"."""
    mode = call.args[mode_at] if len(call.args) > mode_at else None
    mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
    if mode is None:
        return True
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "b" not in mode.value


def _unnamed_encodings(path: Path, root: Path = PACKAGE) -> list[str]:
    """``file:line call`` of every text read or write in ``path`` that does not name its encoding."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("read_text", "write_text"):
            out.append(f"{path.relative_to(root)}:{node.lineno} .{f.attr}")
        elif isinstance(f, ast.Name) and f.id == "open" and _text_mode(node, 1):
            out.append(f"{path.relative_to(root)}:{node.lineno} open")
        elif isinstance(f, ast.Attribute) and f.attr == "open" and _text_mode(node, 0):
            receiver = f.value.id if isinstance(f.value, ast.Name) else ""
            if receiver not in NOT_PATHLIB and all(isinstance(a, ast.Constant) for a in node.args):
                out.append(f"{path.relative_to(root)}:{node.lineno} .open")
    return out


def test_text_files_name_their_encoding() -> None:
    found = [hit for p in sorted(PACKAGE.rglob("*.py")) for hit in _unnamed_encodings(p)]
    assert not found, f"text reads / writes without encoding= (the locale's on Windows): {found}"


def test_the_rule_sees_each_kind_of_call(tmp_path: Path) -> None:
    src = 'p.read_text()\np.write_text("x")\nopen(f, "w")\np.open("a")\nopen(f, "rb")\nImage.open(f)\n'
    (tmp_path / "probe.py").write_text(src, encoding="utf-8")
    hits = [h.split()[-1] for h in _unnamed_encodings(tmp_path / "probe.py", tmp_path)]
    assert sorted(hits) == [".open", ".read_text", ".write_text", "open"]
