"""Helpers shared by the ``agriseg text`` commands."""

from __future__ import annotations


def _class_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from agriseg.text.codec import split_class_words

    names = split_class_words(text)
    return names or None


def _need_text_extra() -> None:
    import importlib.util

    missing = [m for m in ("transformers", "peft", "trl", "datasets") if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(
            f"agriseg text needs the 'text' extra ({', '.join(missing)} missing): pip install 'agriseg[text]'"
        )
