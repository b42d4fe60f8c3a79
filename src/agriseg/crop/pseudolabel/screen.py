"""The screening page: a static HTML gallery for accepting / rejecting pseudo-masks quickly.

``agriseg crop screen OUTDIR`` reads ``OUTDIR/pseudolabels.json`` (written by ``pseudolabel``) and writes
``OUTDIR/screen.html``: one card per image (photo + mask overlay, fit quality, threshold, full-coverage
flag), sortable by fit quality. Keys: ``a`` accept, ``r`` reject, ``u`` unmark, ``j``/``k`` (or arrows)
next/previous, ``A`` accept every unmarked card. Clicking a card's buttons does the same. Decisions persist
in the browser's localStorage; ``Export`` downloads ``accepted.json`` (``{"accepted": [...], "rejected":
[...], ...}``), which ``pseudolabel --keep`` and ``selftrain`` (``keep:``) read.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from agriseg.data.files import write_text

_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>agriseg screening: __TITLE__</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#1e1e1e;color:#eee}
header{position:sticky;top:0;background:#2b2b2b;padding:8px 12px;display:flex;gap:14px;
  align-items:center;z-index:2;flex-wrap:wrap}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px;padding:12px}
.card{background:#333;border:3px solid #333;border-radius:6px;padding:4px;cursor:pointer}
.card img{width:100%;display:block;border-radius:3px}
.card.focus{border-color:#4aa3ff}
.card.accepted{background:#1f4d2b}.card.rejected{background:#5a1f1f;opacity:.6}
.meta{font-size:12px;display:flex;justify-content:space-between;gap:4px;padding:3px 2px}
.card button{font-size:12px}
.full{color:#ffcc00}.state{font-weight:bold;align-self:center}
#export{width:100%;height:80px;display:none}
kbd{background:#444;padding:1px 4px;border-radius:3px}
</style></head><body>
<header>
 <b>__TITLE__</b>
 <label>sort <select id="sort">
  <option value="quality-asc">fit quality, worst first</option>
  <option value="quality-desc">fit quality, best first</option>
  <option value="name">name</option></select></label>
 <span id="counts"></span>
 <button id="accept-rest">accept unmarked (A)</button>
 <button id="export-btn">Export accepted.json</button>
 <span><kbd>a</kbd> accept <kbd>r</kbd> reject <kbd>u</kbd> unmark <kbd>j</kbd>/<kbd>k</kbd> next/prev</span>
</header>
<textarea id="export" readonly></textarea>
<div id="grid"></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const ITEMS = JSON.parse(document.getElementById("data").textContent);
// decisions are kept by each card's key (its photo and a digest of its mask), in one store for every page: a
// folder moved or copied keeps them; FOLDER_KEY is where pages before this one kept them (by the folder's path)
const KEY = "agriseg-screen";
const FOLDER_KEY = "agriseg-screen:" + __KEY__;
function stored(key) { try { return JSON.parse(localStorage.getItem(key) || "{}"); } catch (e) { return {}; } }
let state = Object.assign(stored(FOLDER_KEY), stored(KEY));
let order = [];
let focus = 0;
const grid = document.getElementById("grid");
function save(key) {  // only the card just marked: another page open at the same time keeps its decisions
  const all = stored(KEY);
  if (state[key]) all[key] = state[key]; else delete all[key];
  try { localStorage.setItem(KEY, JSON.stringify(all)); } catch (e) {}
  const old = stored(FOLDER_KEY);  // a decision of the earlier store, changed here, is not read back from it
  if (key in old) {
    delete old[key];
    try { localStorage.setItem(FOLDER_KEY, JSON.stringify(old)); } catch (e) {}
  }
}
function counts() {
  const a = ITEMS.filter(it => state[it.key] === "accepted").length;
  const r = ITEMS.filter(it => state[it.key] === "rejected").length;
  document.getElementById("counts").textContent =
    `${a} accepted, ${r} rejected, ${ITEMS.length - a - r} unmarked of ${ITEMS.length}`;
}
function paint(card) {
  const s = state[card.dataset.key];
  card.classList.toggle("accepted", s === "accepted");
  card.classList.toggle("rejected", s === "rejected");
  // the decision in words too: the card colours alone are hard to tell apart for colour-blind eyes
  const words = {accepted: "\u2713 ACCEPTED", rejected: "\u2717 REJECTED"};
  card.querySelector(".state").textContent = words[s] || "";
}
function setFocus(i) {
  const cards = grid.children;
  if (!cards.length) return;
  focus = Math.max(0, Math.min(cards.length - 1, i));
  for (const c of cards) c.classList.remove("focus");
  cards[focus].classList.add("focus");
  cards[focus].scrollIntoView({block: "nearest"});
}
function mark(i, decision) {
  const card = grid.children[i];
  if (!card) return;
  if (decision) state[card.dataset.key] = decision; else delete state[card.dataset.key];
  paint(card); save(card.dataset.key); counts();
}
function render() {
  const how = document.getElementById("sort").value;
  order = ITEMS.slice();
  const q = (it) => it.quality ?? -1;  // a fit of unknown quality sorts among the worst
  if (how === "quality-asc") order.sort((a, b) => q(a) - q(b) || a.stem.localeCompare(b.stem));
  else if (how === "quality-desc") order.sort(
    (a, b) => q(b) - q(a) || a.stem.localeCompare(b.stem));
  else order.sort((a, b) => a.stem.localeCompare(b.stem));
  grid.innerHTML = "";
  order.forEach((it, i) => {
    const c = document.createElement("div");
    // a decision is kept for the mask it was made on: a photo pseudo-labelled again is unmarked
    c.className = "card"; c.dataset.stem = it.stem; c.dataset.key = it.key; c.dataset.quality = it.quality;
    // names go in as text and the image path as a URL (a photo may be called "plot#1" or "a<b>")
    const img = document.createElement("img");
    img.loading = "lazy"; img.alt = it.stem; img.src = it.src;
    const meta = document.createElement("div");
    meta.className = "meta";
    const shown = (v, f) => (v == null ? "?" : f(v));  // null: not in the record (or not a number there)
    const cells = [["stem", it.stem], ["", `q ${shown(it.quality, (v) => v.toFixed(3))}`],
      ["", `t ${shown(it.threshold, (v) => v.toFixed(3))}`],
      ["", shown(it.fraction, (v) => `${(100 * v).toFixed(1)}%`)]];
    if (it.full_coverage) cells.push(["full", "full"]);
    if (it.edited) cells.push(["full", "mask edited since: not the overlay"]);
    for (const [cls, text] of cells) {
      const span = document.createElement("span");
      if (cls) span.className = cls;
      span.textContent = text; meta.appendChild(span);
    }
    const buttons = document.createElement("div");
    buttons.className = "meta";
    buttons.innerHTML =
      '<button class="acc">accept</button><span class="state"></span><button class="rej">reject</button>';
    c.append(img, meta, buttons);
    c.addEventListener("click", ev => {
      setFocus(i);
      if (ev.target.classList.contains("acc")) mark(i, "accepted");
      else if (ev.target.classList.contains("rej")) mark(i, "rejected");
    });
    grid.appendChild(c); paint(c);
  });
  setFocus(0); counts();
}
function exportJSON() {
  const pick = d => ITEMS.filter(it => state[it.key] === d).map(it => it.stem).sort();
  const out = {accepted: pick("accepted"), rejected: pick("rejected"),
    unmarked: ITEMS.filter(it => !state[it.key]).map(it => it.stem).sort(),
    source: __SOURCE__, exported: new Date().toISOString()};
  const text = JSON.stringify(out, null, 1);
  const ta = document.getElementById("export");
  ta.value = text; ta.style.display = "block";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], {type: "application/json"}));
  a.download = "accepted.json"; document.body.appendChild(a); a.click(); a.remove();
  return out;
}
document.getElementById("sort").addEventListener("change", render);
document.getElementById("export-btn").addEventListener("click", exportJSON);
document.getElementById("accept-rest").addEventListener("click", () => {
  for (let i = 0; i < grid.children.length; i++) {
    if (!state[grid.children[i].dataset.key]) mark(i, "accepted");
  }
});
document.addEventListener("keydown", ev => {
  if (ev.target.tagName === "SELECT" || ev.target.tagName === "TEXTAREA" || ev.ctrlKey || ev.metaKey) return;
  const k = ev.key;
  if (k === "a") { mark(focus, "accepted"); setFocus(focus + 1); }
  else if (k === "r" || k === "x") { mark(focus, "rejected"); setFocus(focus + 1); }
  else if (k === "u") mark(focus, null);
  else if (k === "A") document.getElementById("accept-rest").click();
  else if (k === "j" || k === "ArrowRight" || k === "ArrowDown") setFocus(focus + 1);
  else if (k === "k" || k === "ArrowLeft" || k === "ArrowUp") setFocus(focus - 1);
  else if (k === "e") exportJSON();
  else return;
  ev.preventDefault();
});
render();
</script></body></html>
"""


def screen_items(outdir: str | Path, missing: list[str] | None = None) -> list[dict]:
    """The cards of the page: every ``ok`` record of ``OUTDIR/pseudolabels.json`` that has an overlay, then those
    of earlier runs into the folder (``OUTDIR/records``) that it does not list.

    Each card's ``key`` is its photo's name and a digest of its overlay (which shows its mask): a decision saved in
    the browser is for that mask, and a photo pseudo-labelled again since is unmarked. ``missing`` collects the
    photos whose overlay or mask file is gone (left off the page).

    Raises:
        FileNotFoundError: if ``pseudolabels.json`` is missing and so is every record (run ``pseudolabel`` first).
        OptionError: if it is not valid JSON or not a summary of records, or its masks were made without
            overlays (usage errors).
        ValueError: if it has no usable record.
    """
    from agriseg.config import OptionError

    out = Path(outdir)
    summary = out / "pseudolabels.json"
    if not summary.is_file() and not any((out / "records").glob("*.json")):
        raise FileNotFoundError(f"{summary}: not found (run `agriseg crop pseudolabel ... -o {out}` first)")
    try:  # no table but records: a run stopped (Ctrl-C) before writing it; its finished photos are screened
        data = json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else {"records": []}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise OptionError(f"{summary}: not valid JSON ({err})") from None
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise OptionError(f"{summary}: not the pseudolabels.json of `agriseg crop pseudolabel` (no list of records)")
    from agriseg.manifest import edited_since_written

    items = []
    for i, r in enumerate([*map(_as_made, records, [out] * len(records)), *_earlier_records(out, records)], 1):
        # kept: made with other settings by an earlier run, refused by this one; its mask is in the folder too
        if r.get("status") not in ("ok", "skipped", "kept") or not r.get("overlay"):
            continue
        if not isinstance(r.get("stem"), str) or not isinstance(r["overlay"], str):
            raise OptionError(f"{summary}: record {i} has no photo name (stem) or overlay file name; not as written")
        mask = r.get("mask")  # the mask a decision is for: gone, the card could be accepted for no file
        if not (out / r["overlay"]).is_file() or (isinstance(mask, str) and not (out / mask).is_file()):
            if missing is not None:
                missing.append(r["stem"])
            continue
        # a mask edited by hand since: its overlay shows the mask as made, and a decision made on that is not for
        # this one (the card kept its key and its decision; session 107's sweep): said on the card, a key of its own
        edited = isinstance(mask, str) and edited_since_written(out / mask)
        key = f"{r['stem']}@{_digest(out / r['overlay'])}"
        if edited and isinstance(mask, str):
            key += f"+{_digest(out / mask)}"
        items.append(
            {
                "stem": r["stem"],
                "key": key,
                "edited": bool(edited),
                "overlay": r["overlay"],
                # its URL, percent-encoded from the name's bytes: a name that is not UTF-8 (raw bytes from an old
                # camera) made the page's encodeURIComponent throw, and every card after it vanished
                "src": urllib.parse.quote(os.fsencode(r["overlay"]), safe="/"),
                "quality": _number(r.get("fit_quality")),
                "threshold": _number(r.get("threshold")),
                "fraction": _number(r.get("foreground_fraction")),
                "full_coverage": bool(r.get("full_coverage", False)),
                "made_with": str(r.get("index") or r.get("source") or ""),  # cive, exg, depth...: said if mixed
            }
        )
    if not items:
        if not summary.is_file():  # a stopped run's records: read whole here (the cards' reader skips those
            records = [r for _, r in _record_files(out)]  # without an overlay)
        where = summary if summary.is_file() else out / "records"
        if any(r.get("status") in ("ok", "skipped") and not r.get("overlay") for r in records):
            raise OptionError(  # a usage error: the folder was made without what screening shows
                f"{where}: its masks were made without overlays (--no-overlay); run `agriseg crop pseudolabel` "
                "again without --no-overlay to screen them"
            )
        raise ValueError(f"{where}: no pseudo-labelled image with an overlay to screen")
    return items


def _record_files(out: Path) -> list[tuple[Path, dict]]:
    """Every readable record of ``OUTDIR/records`` with its file (one that cannot be read is left out)."""
    found = []
    for f in sorted((out / "records").glob("*.json")):
        try:
            r = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(r, dict):
            found.append((f, r))
    return found


def _as_made(r: dict, out: Path) -> dict:
    """A record of ``pseudolabels.json``, or for a photo the run refused because its earlier outputs stand (a
    mask edited by hand, made from another file or with other settings), the record of those outputs in
    ``OUTDIR/records``: the card stays (it vanished from the page without a word; session 107's sweep)."""
    from agriseg.batch import outputs_stand

    stem = r.get("stem")  # (one refused for other settings is "kept": on the page already)
    if r.get("status") != "error" or not isinstance(stem, str) or not outputs_stand(str(r.get("error") or "")):
        return r
    try:
        made = json.loads((out / "records" / f"{stem}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return r
    return made if isinstance(made, dict) and made.get("stem") == stem else r


def _earlier_records(out: Path, listed: list[dict]) -> list[dict]:
    """The records in ``OUTDIR/records`` of photos ``pseudolabels.json`` does not list: an earlier run's, kept
    when a later run pseudo-labelled other photos into the folder (its table lists that run's photos only; the
    page had lost the earlier cards). By name; a record that cannot be read is left out."""
    named = {r.get("stem") for r in listed}
    # (one without an overlay has no card: not said as a bad record of the table)
    return [r for f, r in _record_files(out) if f.stem not in named and r.get("stem") == f.stem
            and isinstance(r.get("overlay"), str)]  # fmt: skip


def _number(value: object) -> float | None:
    """A record's finite number, else None (shown as ``?``): a null or NaN fit (a hand-edited record) crashed
    the page's writing, or put a bare ``NaN`` in its JSON, which no browser parses."""
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _digest(path: Path) -> str:
    """A short digest of a file's bytes."""
    import hashlib

    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def write_screen_page(
    outdir: str | Path, title: str | None = None, overwrite: bool = False, notes: list[str] | None = None
) -> Path:
    """Write ``OUTDIR/screen.html`` (atomic) and return its path.

    The page is rewritten by every run, like a batch's table: a ``screen.html`` someone changed since agriseg
    wrote it is refused unless ``overwrite``; one agriseg did not stamp (a user's own, or one of agriseg before
    stamps) is first kept as ``screen.earlier.html``, and ``notes`` gets the line that says so.

    Raises:
        FileExistsError: ``screen.html`` was changed since agriseg wrote it and not ``overwrite``.
        agriseg.config.OptionError: ``outdir`` is not writable.
    """
    from agriseg.batch import counted, keep_unstamped_table, listed
    from agriseg.data.files import check_writable
    from agriseg.manifest import seal_tables, table_edited

    out = Path(outdir)
    check_writable([out])  # a usage error (exit 2) as every command's output folder, before the page is built
    gone: list[str] = []
    items = screen_items(out, gone)
    kinds = sorted({it["made_with"] for it in items if it["made_with"]})
    if len(kinds) > 1 and notes is not None:  # kept from runs of other settings: one page, masks of different rules
        notes.append(f"warning: the page's masks were made with different settings ({', '.join(kinds)}): photos "
                     "kept from earlier runs of other settings are on it too; screen one at a time")  # fmt: skip
    if not (out / "pseudolabels.json").is_file() and notes is not None:  # a run stopped (Ctrl-C) before its table
        notes.append(f"warning: {out / 'pseudolabels.json'} not found (a run stopped before writing it?): the page "
                     f"shows the {counted(len(items), 'photo')} of {out / 'records'}; the same `agriseg crop "
                     "pseudolabel` command finishes the run")  # fmt: skip
    if (edited := [it["stem"] for it in items if it["edited"]]) and notes is not None:
        one = len(edited) == 1
        notes.append(
            f"warning: {counted(len(edited), 'mask')} edited since pseudolabel wrote {'it' if one else 'them'} "
            f"({listed(edited, 5)}): {'its card shows' if one else 'their cards show'} the overlay of the mask as "
            'made, marked "mask edited since"; a decision made before the edit is not kept'
        )
    if gone and notes is not None:
        notes.append(f"warning: {len(gone)} pseudo-labelled photo{'s' if len(gone) > 1 else ''} left off the page: "
                     f"{'their overlays or masks are' if len(gone) > 1 else 'its overlay or mask is'} gone "
                     f"({listed(gone, 5)}); run "
                     "`agriseg crop pseudolabel` again to make them")  # fmt: skip
    path = out / "screen.html"
    if not overwrite and table_edited(path):
        raise FileExistsError(
            f"{path}: changed since agriseg wrote it (kept; move or rename it to keep your edits, or --overwrite "
            "replaces it)"
        )
    kept = keep_unstamped_table(path, overwrite)
    if kept and notes is not None:
        notes.append(kept)

    def script(value: Any) -> str:  # JSON that cannot end (or, with "<!--<script", hide the end of) its <script>
        return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    fill = {
        "__TITLE__": html.escape(title or out.resolve().name),
        "__KEY__": script(str(out.resolve())),
        "__SOURCE__": script(str((out / "pseudolabels.json").resolve())),
        "__DATA__": script(items),
    }
    # one pass: a title or folder named like a placeholder is never filled in again
    page = re.sub("|".join(fill), lambda m: fill[m.group(0)], _TEMPLATE)
    write_text(path, page)
    seal_tables([path])
    return path
