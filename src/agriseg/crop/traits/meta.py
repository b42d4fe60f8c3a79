"""Metadata from file names: a template such as ``plant_date_camera`` names the parts of each file stem.

Words of the template are field names; everything else (``_``, ``-``, ``.``, ...) must appear literally in
the name. A field called ``date`` (or ending in ``date``) is parsed as a date and written as ISO 8601
(``2024-06-01``, or with the time when it has one); it matches digits and date separators only, and a
template that does not match the whole name is looked for inside it, so ``date`` finds the date of
``tray_2024-06-01``. A field called ``_`` is matched but not kept. Without a template,
:func:`name_date` finds the first valid ``YYYY-MM-DD`` (or ``YYYY_MM_DD``) in a name, else the first valid
``YYYYMMDD``, else the first valid ``DD.MM.YYYY`` (or ``YYYY.MM.DD``), with the time that follows it as
``T0930`` or ``_093000``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

# what a date field matches: digits and separators; underscores only in the whole forms 2024_06_01(_093000) and
# 20240601_093000, so the 12 of 20240601_12 (a plot) stays out of the date; at least 8 characters, as the
# shortest date (2024-6-1), so the 10 of site_10_A1_20240601 is none
DATE_PART = r"(?:\d{4}_\d{2}_\d{2}(?:_\d{6})?|\d{8}_\d{6}|\d[\d.\-T:]{6,}\d)"
_DASHED = re.compile(r"(?<!\d)(\d{4}([-_])\d{2}\2\d{2})(?!\d)")  # 2024-06-01, 2024_06_01
_EIGHT_DIGITS = re.compile(r"(?<!\d)(\d{8})(?!\d)")
# 15.06.2024 (day first, as dotted dates are written) and 2024.06.15; not inside a longer dotted number
_DOTTED = re.compile(r"(?<![\d.])(\d{2}\.\d{2}\.\d{4}|\d{4}\.\d{2}\.\d{2})(?![\d.]*\d)")
# a time after a date in a name: T0930, T09-30, T093000, T09-30-00, or _093000 (six digits: a plot id 0930 is not one)
_TIME = re.compile(
    r"(?:T(\d{2})[-:]?(\d{2})(?:[-:]?(\d{2}))?|[_-](\d{2})(\d{2})(\d{2}))(?!\d)"
)  # T10:00 too (macOS, Linux)
DATE_FORMS = "2024-06-01, 2024_06_01, 20240601 or 01.06.2024; rename others, e.g. 01-06-2024 to 2024-06-01"
"""The date forms read in names (with ``--meta`` too), as the warnings say them: ``--meta`` says where a name's
date is, not another way to write it."""
YEARS = (1900, 2199)  # an eight-digit run outside these years is a number (a barcode, a plant id), not a date
DATE_FORMATS = (
    "%Y-%m-%d", "%Y%m%d", "%Y.%m.%d", "%d.%m.%Y", "%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y-%m-%dT%H%M%S", "%Y-%m-%dT%H%M",
    "%Y-%m-%d-%H%M%S",
    "%Y-%m-%dT%H-%M", "%Y-%m-%dT%H-%M-%S",  # times with dashes: colons are not allowed in Windows file names
    "%Y-%m-%d-%H-%M", "%Y-%m-%d-%H-%M-%S",  # (ISO 8601 would read 2026-05-03-10-00 as 10:00 at UTC-00)
    "%Y_%m_%d", "%Y%m%d_%H%M%S", "%Y%m%dT%H%M", "%Y%m%dT%H%M%S", "%Y-%m-%d_%H%M%S", "%Y_%m_%d_%H%M%S",
)  # fmt: skip


def _fits(fmt: str, text: str, d: datetime) -> bool:
    """Whether fields written without separators have their full widths in ``text``: a compact date reads
    back the same; a compact time has 6 (``%H%M%S``) or 4 (``%H%M``) digits. Dates with separators may leave
    out leading zeros (``2024-6-1``)."""
    if fmt.startswith("%Y%m%d"):
        return d.strftime(fmt) == text
    for tail, digits in (("%H%M%S", 6), ("%H%M", 4)):
        if fmt.endswith(tail):
            m = re.search(r"\d+$", text)
            return m is not None and len(m.group()) == digits
    return True


def parse_date(text: str) -> str:
    """A date in one of :data:`DATE_FORMATS` (or ISO 8601) -> ISO 8601 text.

    Raises:
        ValueError: when no format matches.
    """
    for fmt in DATE_FORMATS:
        try:
            d = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if not _fits(fmt, text, d):
            continue  # strptime reads fields of no fixed width: T1030 as %H%M%S is 10:03:00, not 10:30
        return d.date().isoformat() if d.time() == datetime.min.time() else d.isoformat()
    try:
        # a photo's clock time as written: an offset would date it apart from the series' other photos (and a
        # date with an offset cannot be subtracted from one without)
        return datetime.fromisoformat(text).replace(tzinfo=None).isoformat()
    except ValueError as err:
        raise ValueError(
            f"{text!r} is not a date (a real day written as 2024-06-01, 20240601, 2024_06_01 or 01.06.2024, a time "
            "after it or not)"
        ) from err


def compile_template(template: str) -> tuple[re.Pattern[str], list[str]]:
    """A template -> (regular expression matching whole stems, field names)."""
    parts, names, pos = [], [], 0
    for m in re.finditer(r"[A-Za-z0-9]+", template):
        parts.append(re.escape(template[pos : m.start()]))
        name = m.group()
        if not name[0].isalpha():
            raise ValueError(f"template {template!r}: field names start with a letter, got {name!r}")
        if name in names:
            raise ValueError(f"template {template!r}: field {name!r} appears twice")
        names.append(name)
        parts.append(f"(?P<{name}>{DATE_PART if name.lower().endswith('date') else '.+?'})")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    if not names:
        raise ValueError(f"template {template!r} names no fields")
    return re.compile("".join(parts) + r"\Z", re.DOTALL), names


def check_template(template: str | None, dated: bool = False, reserved: Sequence[str] = ()) -> None:
    """A bad ``--meta`` template is a usage error (exit 2), said once before any file is read.

    Args:
        dated: the template is read for its date only (``crop plots``), so it needs a date field.
        reserved: the columns of the table its fields join (``traits.csv``): a field of one of their names would
            write two columns of one name, and a reader takes the wrong one.
    """
    if template:
        from agriseg.config import OptionError

        suffix = Path(template).suffix.lower()
        if suffix in (".csv", ".txt", ".xlsx", ".xls", ".json", ".jpg", ".jpeg", ".png",
                                                  ".tif", ".tiff"):  # fmt: skip
            raise OptionError(
                f"--meta {template}: a template of the photos' names (e.g. plot_date_camera), not a file; each "
                "photo's name is read by it, without its extension"
            )
        try:
            _, names = compile_template(template)
        except ValueError as err:
            raise OptionError(f"--meta: {err}") from None
        if dated and not any(n.lower().endswith("date") for n in names):
            raise OptionError(f"--meta {template}: no date field (e.g. tray_date); it is read for the dates only")
        taken = [n for n in names if n.lower() in {r.lower() for r in reserved}]
        if taken:
            raise OptionError(
                f"--meta {template}: field {taken[0]!r} is a column of the table already ({', '.join(reserved)}); "
                f"name it otherwise (e.g. plot{'' if taken[0].lower() != 'plot' else '_id'})"
            )


def parse_name(path: str | Path, template: str, stem: str | None = None) -> dict[str, str]:
    """The metadata of one file name.

    Args:
        path: the file (named in errors).
        template: e.g. ``plant_date_camera``.
        stem: the name to parse (default: the file's stem).

    Raises:
        ValueError: starting with the path, when the stem does not match the template or a date does not parse.
    """
    path = Path(path)
    stem = path.stem if stem is None else stem
    rx, names = compile_template(template)
    m = rx.match(stem)
    dated = [n for n in names if n.lower().endswith("date")]
    if m is None and dated:  # e.g. "date" inside "tray_2024-06-01": the first place whose dates all parse
        # a field of another kind at an end of the template runs to that end of the name: "date_camera" on
        # A1_20240601_cam1 read camera "c" (its shortest match)
        words = [i for i in range(len(stem)) if i == 0 or not stem[i - 1].isalnum()]  # where a name's parts start
        starts = [*words, *sorted(set(range(len(stem))) - set(words))]
        tail = r"\Z" if not names[-1].lower().endswith("date") else ""
        inner = re.compile(rx.pattern.removesuffix(r"\Z") + tail, re.DOTALL)
        # every start (a match may overlap the one before: the 12 of T12_R3_20240601_cam1 is no date, its
        # 20240601 is), the first whose dates all parse
        found = [f for f in (inner.match(stem, i) for i in starts) if f is not None]
        m = next((f for f in found if all(_is_date(f.group(n)) for n in dated)), found[0] if found else None)
    if m is None:
        # the date forms only where the name holds no date read (tray_2024-06-01 against tray_date_x: a field missing)
        forms = f" (dates are read when written as {DATE_FORMS})" if dated and name_date(stem) is None else ""
        raise ValueError(f"{path}: file name {stem!r} does not match the template {template!r}{forms}")
    out = {}
    for n in names:
        v = m.group(n)
        if n.lower().endswith("date"):
            try:
                v = parse_date(v)
            except ValueError as err:
                raise ValueError(f"{path}: field {n!r}: {err}") from err
        out[n] = v
    return out


def _is_date(text: str) -> bool:
    """Whether ``text`` is a date with a year within :data:`YEARS` (a barcode ``10000123`` is not)."""
    try:
        iso = parse_date(text)
    except ValueError:
        return False
    return YEARS[0] <= int(iso[:4]) <= YEARS[1]


def meta_date(meta: dict[str, str]) -> str | None:
    """The date of a photo from its ``--meta`` fields: the field named ``date``, else the first whose name ends
    in ``date`` (``plant_sowdate_date``: ``date``, not the sowing date), else None."""
    exact = [v for k, v in meta.items() if k.lower() == "date"]
    return next(iter(exact or [v for k, v in meta.items() if k.lower().endswith("date")]), None)


EXIF_DATES = (36867, 36868, 306)  # DateTimeOriginal, DateTimeDigitized (Exif IFD), DateTime (IFD0)


def exif_date(path: Path) -> str | None:
    """When a camera says a photo was taken (its EXIF ``DateTimeOriginal``, else ``DateTimeDigitized``, else
    ``DateTime``: ``2026:05:03 10:00:00``), ISO 8601, or None (no such tag, not a date, or no photo)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's "Corrupt EXIF data": no date then, and the photo is read as ever
            with Image.open(path) as im:
                exif = im.getexif()
                tags = {**exif, **exif.get_ifd(0x8769)}
    except Exception:  # noqa: BLE001 - a photo that cannot be read fails as its own item when it is read
        return None
    for tag in EXIF_DATES:
        text = tags.get(tag)
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        for form in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):  # the standard's, and some software's
            try:
                d = datetime.strptime(str(text).strip().rstrip("\x00"), form)
            except ValueError:
                continue  # missing, or "0000:00:00 00:00:00" from a camera whose clock was never set
            if YEARS[0] <= d.year <= YEARS[1]:
                return d.isoformat()
    return None


def name_date(stem: str) -> str | None:
    """The date in a file name, ISO 8601, or None: the first ``YYYY-MM-DD`` that is a date, else the first
    ``YYYYMMDD``, else the first ``DD.MM.YYYY`` or ``YYYY.MM.DD`` that is one (a year within :data:`YEARS`),
    so ``P_10000123_2024-06-01`` is dated 2024-06-01, ``tray_2024-02-30_2024-03-01`` 2024-03-01 and
    ``tray_15.06.2024`` 2024-06-15, as ``--meta date`` reads them."""
    return _first_date(stem, (_DASHED, _EIGHT_DIGITS, _DOTTED))


# digits in groups a date could be written in that name_date does not read (06-01-2024, 1.6.24, 240601)
_DATE_LIKE = re.compile(r"(?<!\d)(\d{1,4}[-_.]\d{1,2}[-_.]\d{2,4}|\d{6})(?!\d)")


def file_date(path: Path, stem: str | None = None) -> str | None:
    """The date of a photo or mosaic without ``--meta``, ISO 8601, or None: :func:`name_date` of its name
    (``stem``, default the file's), else of its folder, else of the folder above (``2024-06-01/IMG_0001.jpg``;
    ODM's ``2024-06-01/odm_orthophoto/odm_orthophoto.tif``). ``crop traits`` and ``crop plots`` date files by it."""
    stem = path.stem if stem is None else stem
    return name_date(stem) or name_date(path.parent.name) or name_date(path.parent.parent.name)


def impossible_date(stem: str) -> str | None:
    """A date written in a form :func:`name_date` reads that is no day of the calendar (``2024-02-30``,
    ``2024-13-01``), for the warning to name it rather than say the name holds no date; None when there is none
    (or the name has a real date, which is read)."""
    if name_date(stem) is not None:
        return None
    for rx in (_DASHED, _DOTTED):  # eight digits that are no date are a number (a barcode), not a typo...
        for m in rx.finditer(stem):
            return m.group(1)
    for m in _EIGHT_DIGITS.finditer(stem):  # ... unless they read as a year, a month and a day of at most 31
        if _DATE_SHAPED.fullmatch(m.group(1)):  # (e_20240230: a typo of February)
            return m.group(1)
    return None


# eight digits in a date's shape: 19xx or 20xx, a month 01-12, a day 01-31 (20240230 is one, 12345678 not)
_DATE_SHAPED = re.compile(r"(19|20)\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")


def looks_dated(stem: str) -> bool:
    """Whether a file name seems to hold a date, read or not (for the warning that no growth tables were made:
    ``tray_06-01-2024`` does, ``0003`` or ``plot_12`` does not)."""
    return name_date(stem) is not None or _DATE_LIKE.search(stem) is not None


def dotted_date(stem: str) -> bool:
    """Whether :func:`name_date` dates ``stem`` by a dotted date (``15.06.2024``) alone, which earlier versions
    read as no date: a fingerprint rule, so their undated outputs are not resumed as this run's."""
    return name_date(stem) is not None and _first_date(stem, (_DASHED, _EIGHT_DIGITS)) is None


def _first_date(stem: str, patterns: tuple[re.Pattern[str], ...]) -> str | None:
    """:func:`name_date` with these patterns, in this order."""
    for rx in patterns:
        for m in rx.finditer(stem):
            if _is_date(m.group(1)):
                day = parse_date(m.group(1).replace("_", "-"))
                t = _TIME.match(stem, m.end())
                hms = [int(g or 0) for g in (t.groups()[:3] if t and t.group(1) else t.groups()[3:] if t else ())]
                if hms and hms[0] < 24 and hms[1] < 60 and hms[2] < 60:
                    return datetime.fromisoformat(day).replace(hour=hms[0], minute=hms[1], second=hms[2]).isoformat()
                return day
    return None
