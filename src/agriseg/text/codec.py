"""Masks as text: Text4Seg's row-wise run-length encoding (RRLE) and a repairing decoder.

Format (byte-compatible with Text4Seg): every grid cell carries a class word; equal neighbours in a row
form a run written ``label *count``; runs in a row are joined by ``"| "``; rows are joined by ``"\\n "``
(newline then one space) and the block ends with ``"\\n"``; the block is wrapped as ``<seg>...</seg>``,
optionally after one answer sentence and a newline. Example, 2x4 grid::

    <seg>others *2| field *2
     field *4
    </seg>

The decoder never raises on model output. It repairs each row independently (so one bad row cannot shift
the rows after it, unlike Text4Seg's decoder) and returns a :class:`DecodeReport` listing every repair.
This module needs only numpy.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SEG_OPEN = "<seg>"
SEG_CLOSE = "</seg>"
BACKGROUND = "others"
RUN_SEP = "| "
ROW_SEP = "\n "

RepairKind = Literal[
    "missing_open_tag",
    "missing_close_tag",
    "missing_leading_space",
    "bad_count",
    "missing_count",
    "unknown_label",
    "short_row",
    "long_row",
    "missing_row",
    "extra_row",
    "empty_row",
    "blank_line",
    "noncanonical",
    "no_mask",
]


@dataclass(frozen=True)
class Repair:
    """One repair made while decoding.

    Attributes:
        kind: what was wrong.
        row: grid row it applies to (-1 for the whole text).
        detail: human-readable specifics (the offending token, the lengths involved).
    """

    kind: RepairKind
    row: int
    detail: str = ""


@dataclass
class DecodeReport:
    """What :func:`decode_rrle` had to repair.

    Attributes:
        repairs: every repair, in order.
        rows_found: number of mask rows present in the text.
    """

    repairs: list[Repair] = field(default_factory=list)
    rows_found: int = 0

    @property
    def valid(self) -> bool:
        """True when the text decoded without any repair (a well-formed mask of the right shape)."""
        return not self.repairs

    def kinds(self) -> set[str]:
        """The distinct repair kinds made."""
        return {r.kind for r in self.repairs}

    def add(self, kind: RepairKind, row: int, detail: str = "") -> None:
        """Record one repair."""
        self.repairs.append(Repair(kind, row, detail))

    def summary(self) -> str:
        """One line: ``valid`` or the repair kinds with counts."""
        if self.valid:
            return "valid"
        counts: dict[str, int] = {}
        for r in self.repairs:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


MAX_CLASSES = 255  # class ids 0-254 in one-byte masks, 255 their nodata


def check_class_names(class_names: Sequence[str]) -> list[str]:
    """Validate the class words of a grid: index 0 is the background (``others`` in Text4Seg).

    Args:
        class_names: one word (or phrase) per class id.

    Returns:
        The names as a list.

    Raises:
        ValueError: if empty, duplicated, more than :data:`MAX_CLASSES`, blank, or containing ``|``, `` *`` or a
            newline; ``TypeError`` for
            one string instead of a list of words.
    """
    if isinstance(class_names, str):  # "others,field" would be read letter by letter
        raise TypeError(f"class_names is a list of words, not one string: {class_names.split(',')!r}")
    if not isinstance(class_names, Iterable):  # None: "'NoneType' object is not iterable"
        raise TypeError(f"class_names is a list of words, one per class id, not {type(class_names).__name__}")
    names = list(class_names)
    if not names:
        raise ValueError("class_names is empty: give one name per class id, background first (e.g. others)")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names has duplicates: {names}")
    if len(names) > MAX_CLASSES:  # masks are one byte per pixel, 255 their nodata
        raise ValueError(f"{len(names)} classes: at most {MAX_CLASSES} (class ids 0-254; 255 is nodata in masks)")
    for n in names:
        if not isinstance(n, str) or not n.strip() or n != n.strip():
            raise ValueError(f"class name {n!r} must be a non-blank string without surrounding spaces")
        if "|" in n or " *" in n or "\n" in n or "*" in n or "<" in n:
            raise ValueError(f"class name {n!r} must not contain '|', '*', '<' or a newline")
    return names


def split_class_words(classes: str | Sequence[str], option: str = "--classes") -> list[str]:
    """Comma-separated class words (or the words already split), stripped; a trailing empty entry is dropped.

    Raises:
        OptionError: an empty word before another (``others,,field``): class ids follow the order, so it would
            shift every later class by one.
    """
    from agriseg.config import OptionError

    words = [n.strip() for n in (classes.split(",") if isinstance(classes, str) else classes)]
    while words and not words[-1]:
        words.pop()
    if "" in words:
        given = ",".join(words)
        raise OptionError(
            f"{option} {given}: empty word at position {words.index('') + 1} (one word per class id, in order)"
        )
    return words


def parse_class_words(classes: str | Sequence[str], option: str = "--classes") -> list[str]:
    """The class words of a command-line option, checked once before any work starts.

    Args:
        classes: comma-separated words (``others,field,tree``), or the words already split; background first.
        option: the option the words came from, for messages.

    Returns:
        The words as a list (blanks around them and a trailing comma dropped).

    Raises:
        OptionError: fewer than two words, an empty word between others (it would shift the class ids), a word
            given twice (or twice in other cases), or a word the answers cannot hold (``|``,
            ``*``, ``<``), naming ``option`` (on the command line: a usage error, exit status 2).
    """
    from agriseg.config import OptionError

    names = split_class_words(classes, option)
    given = ",".join(names)
    if len(names) < 2:
        raise OptionError(
            f"{option} needs the background word and at least one class, e.g. others,field (got {given or 'none'})"
        )
    twice = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if twice:
        raise OptionError(f"{option} {given}: {', '.join(twice)} given twice (one word per class id, background first)")
    folded = [n.casefold() for n in names]
    if alike := [n for n in names if folded.count(n.casefold()) > 1]:
        raise OptionError(
            f"{option} {given}: {' and '.join(alike[:2])} differ only in case, and a model's answer is read in any "
            "case (give each class a word of its own)"
        )
    try:
        return check_class_names(names)
    except ValueError as err:
        raise OptionError(f"{option} {given}: {err}") from None


def encode_rrle(grid: np.ndarray, class_names: Sequence[str]) -> str:
    """Encode a label grid as Text4Seg RRLE (without the ``<seg>`` wrapper).

    Args:
        grid: (H, W) integer class ids indexing ``class_names``.
        class_names: class words, background first.

    Returns:
        ``"\\n ".join(rows) + "\\n"`` where each row is ``"label *n| label *m"``.

    Raises:
        ValueError: on a non-2-D grid, an empty grid or ids outside ``class_names``.
    """
    names = check_class_names(class_names)
    if grid is None or isinstance(grid, str | bytes):  # np.asarray made a 0-D array: "got shape ()" said little
        raise TypeError(f"grid is a (H, W) array of class ids, not {type(grid).__name__}")
    g = np.asarray(grid)
    if g.ndim != 2 or g.size == 0:
        raise ValueError(f"grid must be a non-empty 2-D array, got shape {g.shape}")
    if g.dtype.kind == "f" and not np.array_equal(g, np.round(g)):  # 0.7 would be written as class 0
        raise ValueError("grid holds fractions, not class ids (argmax or round it first)")
    if g.min() < 0 or g.max() >= len(names):
        raise ValueError(f"grid ids must lie in [0, {len(names) - 1}] (class_names {names}), got {g.min()}..{g.max()}")
    return ROW_SEP.join(_row_text(r, names) for r in g) + "\n"


def _row_text(r: np.ndarray, names: Sequence[str]) -> str:
    """One row (W,) of class ids as ``label *n| label *m`` (runs of one label merged)."""
    change = np.flatnonzero(np.diff(r)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(r)]])
    return RUN_SEP.join(f"{names[int(r[s])]} *{e - s}" for s, e in zip(starts, ends, strict=True))


def wrap_seg(rrle: str, sentence: str = "") -> str:
    """Wrap an RRLE block as an answer: ``sentence + "\\n<seg>" + rrle + "</seg>"``.

    Raises:
        TypeError: ``rrle`` or ``sentence`` that is no ``str`` (a grid: :func:`encode_rrle` it first).
        ValueError: a ``sentence`` holding a ``<seg>`` or ``</seg>`` tag (its own decoder would read it as the
            mask's).
    """
    for name, value in (("rrle", rrle), ("sentence", sentence)):
        if not isinstance(value, str):
            raise TypeError(f"{name} is text (encode_rrle's for the grid), not {type(value).__name__}")
    if SEG_OPEN in sentence or SEG_CLOSE in sentence:
        raise ValueError(f"sentence {sentence!r} holds a {SEG_OPEN} tag: the decoder would read the mask from there")
    head = f"{sentence}\n" if sentence else ""
    return f"{head}{SEG_OPEN}{rrle}{SEG_CLOSE}"


def encode_answer(grid: np.ndarray, class_names: Sequence[str], sentence: str = "") -> str:
    """:func:`encode_rrle` wrapped by :func:`wrap_seg`."""
    return wrap_seg(encode_rrle(grid, class_names), sentence)


_COUNT_RE = re.compile(r"^\s*(\d+)")


def _match_label(word: str, names: list[str], lookup: dict[str, int]) -> int | None:
    """Exact, case-insensitive, then closest-spelling match of a label word; None when nothing is close."""
    if word in lookup:
        return lookup[word]
    low = word.lower()
    for i, n in enumerate(names):
        if n.lower() == low:
            return i
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.75)
    return lookup[close[0]] if close else None


def _parse_count(cnt: str, width: int) -> tuple[int | None, bool]:
    """The run length written in ``cnt``, capped at ``width + 1``; and whether it was well formed.

    The cap keeps the decoder linear in its input: a count of a billion (or of 5,000 digits, which
    ``int`` refuses) means "longer than the row", and a row never holds more than ``width`` cells.
    """
    m = _COUNT_RE.match(cnt)
    if m is None:
        return None, False
    digits = m.group(1).lstrip("0") or "0"
    count = width + 1 if len(digits) > len(str(width + 1)) else min(int(digits), width + 1)
    well_formed = count > 0 and cnt.strip() == m.group(1)
    return (count if count > 0 else None), well_formed


def _parse_row(
    line: str, row: int, width: int, names: list[str], lookup: dict[str, int], report: DecodeReport, fill: int
) -> np.ndarray:
    """Parse one RRLE row into exactly ``width`` class ids, recording repairs.

    Memory and time stay linear in ``len(line)`` and no allocation exceeds ``width`` cells, whatever
    the counts say: parsing stops at the first run that reaches past the row's end.
    """
    runs: list[tuple[int, int | None]] = []
    known = 0
    longest_name = max(len(n) for n in names)
    for chunk in line.split("|"):
        chunk = chunk.strip()
        if not chunk:
            continue
        if "*" in chunk:
            word, _, cnt = chunk.rpartition("*")
            word = word.strip()
            count, well_formed = _parse_count(cnt, width)
            if not well_formed:
                report.add("bad_count", row, repr(chunk[:40]))
        else:
            word, count = chunk, None
            report.add("missing_count", row, repr(chunk[:40]))
        # fuzzy matching is only tried on words of a plausible length (difflib is quadratic)
        label = _match_label(word, names, lookup) if len(word) <= 4 * longest_name + 8 else None
        if label is None or word not in lookup:
            report.add("unknown_label", row, repr(word[:40]))
            if label is None:
                label = runs[-1][0] if runs else fill
        runs.append((label, count))
        known += count or 0
        if known > width:
            break  # the rest of the row cannot fit: it is cut below
    if not runs:
        report.add("empty_row", row)
        return np.full(width, fill, dtype=np.int64)
    # runs without a usable count share what is left of the row (at least 1 cell each)
    unknown = [i for i, (_, c) in enumerate(runs) if c is None]
    if unknown:
        left = max(width - known, len(unknown))
        share, extra = divmod(left, len(unknown))
        for j, i in enumerate(unknown):
            runs[i] = (runs[i][0], share + (1 if j < extra else 0))
    total = sum(int(c or 0) for _, c in runs)
    out = np.empty(min(total, width), dtype=np.int64)  # (min(total, W),)
    pos = 0
    for lab, c in runs:
        n = min(int(c or 0), len(out) - pos)
        out[pos : pos + n] = lab
        pos += n
        if pos >= len(out):
            break
    if total < width:
        report.add("short_row", row, f"{total} < {width}")
        out = np.concatenate([out, np.full(width - total, out[-1], dtype=np.int64)])
    elif total > width:
        report.add("long_row", row, f"more than {width} cells")
    return out


MAX_GRID_SIDE = 4096  # cells a side of a grid decoded from text (Text4Seg's are 16-64): larger is a mistake


def decode_rrle(
    text: str, shape: tuple[int, int], class_names: Sequence[str], fill: int = 0
) -> tuple[np.ndarray, DecodeReport]:
    """Decode RRLE text (with or without ``<seg>`` tags and sentence) into a grid; never raises on text.

    Repairs, row by row: missing tags, missing leading spaces, bad or missing counts (missing counts share
    what the row lacks), unknown labels (closest spelling, else the previous run's label, else ``fill``),
    short rows (padded with their last label), long rows (cut), missing rows (copy of the row above, or
    ``fill``), extra rows (dropped).

    Args:
        text: model output.
        shape: (H, W) of the grid to return.
        class_names: class words, background first.
        fill: class id used where nothing can be inferred.

    Returns:
        ``(grid, report)``: (H, W) int64 class ids and what was repaired.

    Raises:
        ValueError: only for bad arguments (shape, class_names), never for the text; ``TypeError`` for
            text that is no ``str`` (bytes: decode them first) or a shape that is no (rows, cols) pair.
    """
    names = check_class_names(class_names)
    if not isinstance(text, str):  # bytes would be decoded as their repr ("b'<seg>...'") and "repaired"
        raise TypeError(f"text is the model's answer as a str, not {type(text).__name__}")
    if isinstance(shape, int | np.integer) or len(shape) != 2:
        raise TypeError(f"shape is the grid's (rows, cols), e.g. (16, 16); got {shape!r}")
    if any(isinstance(v, bool) or not isinstance(v, int | np.integer) for v in shape):  # 2.5 was cut to 2
        raise TypeError(f"shape is the grid's (rows, cols) in whole cells; got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"shape must be positive, got {shape}")
    if max(h, w) > MAX_GRID_SIDE:  # (100000, 100000) was numpy's "Unable to allocate 74.5 GiB"
        raise ValueError(f"shape {shape}: a text mask's grid has at most {MAX_GRID_SIDE} cells a side")
    if not 0 <= fill < len(names):
        raise ValueError(f"fill {fill} is not a class id of {names}")
    report = DecodeReport()
    lookup = {n: i for i, n in enumerate(names)}
    start = text.find(SEG_OPEN)
    if start < 0:
        report.add("missing_open_tag", -1)
        # no tag: take the text after the last line that has no run marker (an answer sentence)
        body = text
    else:
        body = text[start + len(SEG_OPEN) :]
    end = body.find(SEG_CLOSE)
    if end < 0:
        report.add("missing_close_tag", -1)
    else:
        if body[end + len(SEG_CLOSE) :].strip():  # a second mask, or more words: not one well-formed answer
            report.add("noncanonical", -1, "text after </seg> ignored")
        body = body[:end]
    lines = body.split("\n")
    if lines and lines[-1].strip() == "":
        lines = lines[:-1]  # the block's final newline
    elif end >= 0 and lines:
        report.add("noncanonical", -1, "no newline before </seg>")
    if start < 0:
        # drop leading sentence lines that cannot be mask rows
        while lines and "*" not in lines[0] and _match_label(lines[0].strip(), names, lookup) is None:
            lines = lines[1:]
    blank = [i for i, line in enumerate(lines) if not line.strip()]
    if blank and len(lines) > h:  # more lines than rows: a blank line is a stray newline, not a row
        dropped = set(blank[: len(lines) - h])
        lines = [line for i, line in enumerate(lines) if i not in dropped]
        for i in sorted(dropped):
            report.add("blank_line", -1, f"line {i} dropped")
    report.rows_found = len(lines)
    grid = np.full((h, w), fill, dtype=np.int64)  # (H, W)
    if not lines:
        report.add("no_mask", -1)
        return grid, report
    for r, line in enumerate(lines[:h]):
        if not line.strip():  # a row with no runs: the row above, as for a missing row
            report.add("empty_row", r)
            grid[r] = grid[r - 1] if r > 0 else fill
            continue
        if r > 0 and not line.startswith(" "):
            report.add("missing_leading_space", r)
        before = len(report.repairs)
        grid[r] = _parse_row(line, r, w, names, lookup, report, fill)
        # read as written but not as the encoder writes it ("others*2|field*2", "*02", a CR, a space first):
        # valid would overstate how well a model keeps the format (the GRPO format reward reads it)
        written = line[1:] if r > 0 and line.startswith(" ") else line  # a missing space is said above
        if len(report.repairs) == before and written != _row_text(grid[r], names):
            report.add("noncanonical", r, repr(line[:40]))
    if len(lines) > h:
        report.add("extra_row", -1, f"{len(lines)} > {h}")
    for r in range(len(lines), h):
        report.add("missing_row", r)
        grid[r] = grid[r - 1]
    return grid, report


def is_valid_rrle(text: str, shape: tuple[int, int], class_names: Sequence[str]) -> bool:
    """True when ``text``, a whole answer as :func:`encode_answer` writes it (``<seg>...</seg>``, optionally after
    a sentence), decodes without any repair. The bare rows of :func:`encode_rrle` lack the tags and so are no
    valid answer (:func:`encode_answer` wraps them)."""
    return decode_rrle(text, shape, class_names)[1].valid
