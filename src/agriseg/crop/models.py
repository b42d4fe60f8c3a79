"""The packaged crop models by name (``agriseg crop models list | show``): what each one is and its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def packaged_models() -> list[dict[str, Any]]:
    """One entry per packaged model: ``name``, ``file``, ``classes``, ``long_side``, ``title``, ``card``.

    The first name is the default model of every crop command.
    """
    from agriseg.models.io import PACKAGED, WEIGHTS_DIR, read_model_config

    out = []
    for name, file in PACKAGED.items():
        path = WEIGHTS_DIR / file
        card = path.with_suffix(".md")
        entry: dict[str, Any] = {"name": name, "file": str(path), "card": str(card) if card.is_file() else None}
        if path.is_file():
            cfg = read_model_config(path)
            entry.update(classes=list(cfg.class_names), long_side=cfg.infer_long_side)
        entry["title"] = _title(card) or name
        out.append(entry)
    return out


def _title(card: Path) -> str:
    """The line after a card's heading (what the model segments)."""
    if not card.is_file():
        return ""
    lines = [ln.strip() for ln in card.read_text(encoding="utf-8").splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.startswith("#")]
    first = body[0] if body else ""
    return first.split(". ")[0].split(" (")[0].rstrip(".,")


def model_card(name: str) -> str:
    """The model card of a packaged model (Markdown).

    Raises:
        OptionError: an unknown name, a usage error (the message lists the packaged ones).
    """
    from agriseg.config import OptionError
    from agriseg.models.io import packaged_name

    for entry in packaged_models():
        if entry["name"] == packaged_name(name):
            return Path(entry["card"]).read_text(encoding="utf-8") if entry["card"] else f"{name}: no model card"
    from agriseg.config import did_you_mean
    from agriseg.models.io import packaged_names

    near = did_you_mean(name, [e["name"] for e in packaged_models()], 1)  # as crop predict -m says it
    raise OptionError(f"{name}: no packaged crop model of that name ({near + '; ' if near else ''}{packaged_names()})")
