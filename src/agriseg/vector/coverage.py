"""Field polygons that form a valid polygon coverage: neighbours share one edge, simplified once.

From a raster of field labels to clean polygons, in three steps that each depend only on the pixels near
where they act, so any window, block or worker process that holds a field computes the same polygon:

1. **Gap split** (:func:`split_gaps`): boundary pixels between fields (the predicted boundary class) go to
   the nearest field pixel within ``max_px`` rows and columns, so fields that touch in the world share an
   edge instead of being kept apart by the boundary line; pixels farther from every field (a gap to
   background) stay empty.
2. **Sub-pixel outlines** (:func:`trace_coverage`): each label's outline is traced along the pixel edges
   (:func:`_trace_rings`). Pixel corners where three or more labels meet (background and the outside of
   the raster count), two meet diagonally, or the raster has a corner are *nodes*; they are kept exactly,
   and they cut every outline into *arcs*, each the boundary between the same two fields. Along an arc, a
   staircase of pixel steps becomes the line through the midpoints of its runs: a corner next to a 1-px
   step (the only steps a digitised straight line has in its minor direction) is replaced by the midpoints
   of its two runs, which lie on the straight line through the pixel centres; a corner between two runs of
   2 px or more stays (a field aligned with the grid keeps its corners), and so do the corners of a 1-px run
   that turns the same way at both ends (the end of something 1 px wide: a digitised line's steps turn one
   way, then the other). An arc is the same sequence of points from both of its sides.
3. **Simplification once per arc**: Douglas-Peucker with ``tolerance`` pixels, each arc in a canonical
   direction and in global pixel coordinates, so both fields sharing it get the same line, bit for bit.
   A straight field edge at any angle comes out as one segment.

The result is a valid polygon coverage (``shapely.coverage_is_valid``): no overlaps, touching fields share
their edges exactly. Douglas-Peucker can make two arcs cross where fields are only 1-2 px wide or apart,
or collapse a sliver; callers check the whole result and recompute the fields involved with their arcs
simplified less (``frozen``: a smaller tolerance each time they cross again, down to none), which the
neighbours on the other side of those arcs then use too.

Shapely's own ``coverage_simplify`` (GEOS, Visvalingam-Whyatt on the shared edges) does the same job on a
valid coverage, but its area criterion leaves a straight edge of 50 px as several segments at a 1 px
tolerance: on Voronoi fields (7 coordinates per field) it kept 23 coordinates per field at 1 px, 12 at
2 px, where Douglas-Peucker on the arcs kept 7-8, which is why the arcs are simplified here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# Douglas-Peucker tolerance in pixels when the user gives none (see ``pixel_tolerance``)
DEFAULT_TOLERANCE_PX = 1.0


def gap_offsets(max_px: float) -> list[list[tuple[int, int]]]:
    """Neighbour offsets ``(dy, dx)`` within ``max_px`` rows and columns (a square), grouped by distance
    (nearest group first).

    The square, not the disc of radius ``max_px``: the corner pixels of a boundary ring ``max_px`` wide lie
    ``max_px`` rows and columns from the field (``sqrt(8)`` px for a 2-px ring) and were left out of it, so every
    field bordered by a predicted boundary lost a triangle at each corner (a 14 x 14 px square field with a 2-px
    ring came out 18 % small and lopsided).
    """
    r = int(np.floor(max_px))
    groups: dict[int, list[tuple[int, int]]] = {}
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            d2 = dy * dy + dx * dx
            if d2 > 0:
                groups.setdefault(d2, []).append((dy, dx))
    return [sorted(groups[k]) for k in sorted(groups)]


def gap_halo(max_px: float) -> int:
    """Pixels of context a window needs around the pixels whose split labels must be exact."""
    return 2 * int(np.ceil(max_px)) + len(gap_offsets(max_px)) + 1 if max_px > 0 else 0


def _label_hash(labels: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random order of labels (Fibonacci hashing of the label value)."""
    return (labels.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)


GAP, OUTSIDE = -1, -2  # label values: a pixel that may be split; the outside of the scene


def split_gaps(labels: np.ndarray, max_px: float, in_place: bool = False) -> np.ndarray:
    """Give gap pixels (e.g. predicted boundary) to the nearest field within ``max_px`` rows and columns.

    A gap pixel takes the label of its nearest field pixel (Euclidean distance between pixel centres).
    When fields are equally near, the one first in a fixed pseudo-random order of labels wins, so a whole
    tied line (a 1-px boundary) goes to one side, and which side differs from edge to edge: no direction
    is favoured, so fields are not shifted as a whole. A pixel farther than one step from its field joins
    it only through a 4-neighbour already given to that field, so every field stays one 4-connected
    region. Gap pixels farther than ``max_px`` from every field become 0.

    Args:
        labels: ``(H, W)`` int: field labels (> 0), :data:`GAP` for pixels that may be split, 0 or
            :data:`OUTSIDE` for the others.
        max_px: largest distance, in pixels (0 = no split).
        in_place: fill ``labels`` itself (no copy of the window) and return it.

    Only pixels at least ``ceil(max_px)`` from the window's edge are split (give the window a frame of
    :data:`OUTSIDE` where it ends at the scene's edge), and their labels are exact at least
    :func:`gap_halo` pixels in from the window's edge.

    Returns:
        ``(H, W)`` labels, the split gap pixels filled (or 0), the others as given.
    """
    out = labels if in_place else labels.copy()
    h, w = labels.shape
    R = int(np.ceil(max_px))
    if max_px <= 0 or h <= 2 * R or w <= 2 * R:
        out[out == GAP] = 0
        return out
    for ring in (out[:R], out[h - R :], out[:, :R], out[:, w - R :]):
        ring[ring == GAP] = 0  # too near the window's edge to split: in the halo, whose labels are not used
    flat_out = out.ravel()
    was_gap = flat_out == GAP  # a candidate is a field pixel of the input, never a gap pixel filled here
    pend = np.flatnonzero(was_gap)
    for group in gap_offsets(max_px):
        if not pend.size:
            break
        got = np.zeros(len(pend), labels.dtype)
        rank = np.zeros(len(pend), np.uint64)
        for dy, dx in group:
            at = pend + (dy * w + dx)
            lab = flat_out[at]
            ok = (lab > 0) & ~was_gap[at]
            if abs(dy) + abs(dx) > 1:  # connected through a neighbour that is already this field's
                link = flat_out[pend + int(np.sign(dy)) * w] == lab if dy else np.zeros(len(pend), bool)
                if dx:
                    link |= flat_out[pend + int(np.sign(dx))] == lab
                ok &= link
            cand = np.where(ok, _label_hash(lab) + np.uint64(1), np.uint64(0))
            better = cand > rank
            got = np.where(better, lab, got)
            rank = np.where(better, cand, rank)
        done = got > 0
        flat_out[pend[done]] = got[done]
        pend = pend[~done]
    flat_out[pend] = 0
    return out


@dataclass
class Traced:
    """Polygons traced from one canvas of labels.

    Attributes:
        values: ``(N,)`` label of each polygon (a label traced as several parts appears once per part).
        geoms: ``(N,)`` shapely polygons in global pixel coordinates (x = column, y = row).
        bad: ``(N,)`` bool, polygons that need their arcs recomputed unsimplified (a ring collapsed or
            crossed itself).
        first: ``(N, 2)`` int64 row, col of each part's first pixel in raster order (global).
        dropped: labels left out on request and their pixel boxes ``(K, 4)`` y0, y1, x0, x1 (canvas).
    """

    values: np.ndarray
    geoms: np.ndarray
    bad: np.ndarray
    first: np.ndarray
    dropped: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros((0, 4), np.int64))


# direction of a unit edge: 0 east (+x), 1 south (+y, rows grow), 2 west, 3 north
_DI = np.array([0, 1, 0, -1])
_DJ = np.array([1, 0, -1, 0])
# pixels ahead-left and ahead-right of an edge's end corner (i, j), as (row, col) offsets from pixel (i, j)
_AL = np.array([[-1, 0], [0, 0], [0, -1], [-1, -1]])
_AR = np.array([[0, 0], [0, -1], [-1, -1], [-1, 0]])


def _trace_rings(
    framed: np.ndarray, drop: np.ndarray | None = None, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Outlines of the labels of a window as rings of unit pixel edges.

    ``framed`` ``(H + 2, W + 2)`` holds the window's labels and a one-pixel frame around it; labels > 0
    inside the window are traced, except the frame's own labels (which continue outside the window).
    Every crack between a pixel of label X and a pixel of another value is an edge of X's outline,
    directed so that X lies on its right (rows growing downwards): outer rings run clockwise on screen,
    holes anticlockwise. At a corner an outline turns right when the pixel ahead-right is not X, left when
    the pixel ahead-left is X, else goes straight: pixels of X that touch only diagonally stay apart
    (4-connectivity, as GDAL's polygoniser with ``connectivity=4``). Each edge has one successor, so the
    outlines are the cycles of that map, found by pointer jumping and then walked all at once.

    GDAL's polygoniser traces the same rings but returns them as Python objects with the unit steps
    merged; this needs the unit steps (every node on a ring must be a vertex) and is faster.

    Args:
        framed: the labels, framed.
        drop: labels not to trace (their pixels still separate the others); their pixel boxes in the
            window are returned.
        keep: the only labels to trace (default: all).

    Returns:
        ``start`` ``(E, 2)`` int64 corner of the window (x = column, y = row) where each edge starts,
        ``direction`` ``(E,)``, ``ring_len`` ``(R,)``, ``ring_label`` ``(R,)``, ``outer`` ``(R,)`` bool
        (edges listed ring after ring in order, rings sorted by label with outer rings first), and
        ``(labels, boxes (K, 4) y0, y1, x0, x1)`` of the dropped labels present.
    """
    h, w = framed.shape[0] - 2, framed.shape[1] - 2
    # horizontal cracks at corner row i (0..h) between pixels (i - 1, j) and (i, j); vertical ones at column j
    hi, hj = np.nonzero(framed[:-1, 1:-1] != framed[1:, 1:-1])
    lab_a, lab_b = framed[hi, hj + 1], framed[hi + 1, hj + 1]
    vi, vj = np.nonzero(framed[1:-1, :-1] != framed[1:-1, 1:])
    lab_l, lab_r = framed[vi + 1, vj], framed[vi + 1, vj + 1]
    # east along the top of X (X below), west along its bottom, south down its right side, north up its left;
    # cracks on the frame's outer side belong to frame labels, which are never traced
    parts = [  # in the order of their direction codes
        ((lab_b > 0) & (hi < h), hi, hj, 0, lab_b),
        ((lab_l > 0) & (vj > 0), vi, vj, 1, lab_l),
        ((lab_a > 0) & (hi > 0), hi, hj + 1, 2, lab_a),
        ((lab_r > 0) & (vj < w), vi + 1, vj, 3, lab_r),
    ]
    # each part is in row-major order of its start corners (np.nonzero's order), which the successor lookup
    # below relies on
    si_k = [i[m] for m, i, _, _, _ in parts]
    sj_k = [j[m] for m, _, j, _, _ in parts]
    lab_k = [v[m] for m, _, _, _, v in parts]
    del hi, hj, vi, vj, lab_a, lab_b, lab_l, lab_r, parts
    border = np.concatenate([framed[0], framed[-1], framed[:, 0], framed[:, -1]])
    frame_labels = border[border > 0]
    dropped = (np.zeros(0, framed.dtype), np.zeros((0, 4), np.int64))
    gone_parts = []
    for k in range(4):
        sel = ~_member(lab_k[k], frame_labels)
        if keep is not None:
            sel &= _member(lab_k[k], keep)
        if drop is not None and len(drop):
            gone = _member(lab_k[k], drop)
            gone_parts.append((lab_k[k][gone], si_k[k][gone], sj_k[k][gone]))
            sel &= ~gone
        si_k[k], sj_k[k], lab_k[k] = si_k[k][sel], sj_k[k][sel], lab_k[k][sel]
    if gone_parts and sum(len(g[0]) for g in gone_parts):  # boxes of the dropped labels from their edges' corners
        gl, gi, gj = (np.concatenate([g[x] for g in gone_parts]) for x in range(3))
        o = np.argsort(gl, kind="stable")
        gl, gi, gj = gl[o], gi[o], gj[o]
        st = np.flatnonzero(np.r_[True, gl[1:] != gl[:-1]])
        box = np.stack(
            [np.minimum.reduceat(gi, st), np.maximum.reduceat(gi, st), np.minimum.reduceat(gj, st),
             np.maximum.reduceat(gj, st)], 1,
        )  # fmt: skip
        box[:, :2] = np.clip(box[:, :2], 0, h)
        box[:, 2:] = np.clip(box[:, 2:], 0, w)
        dropped = (gl[st], box)
    counts = np.array([len(x) for x in lab_k])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    d = np.repeat(np.arange(4, dtype=np.int8), counts)
    si, sj, lab = np.concatenate(si_k), np.concatenate(sj_k), np.concatenate(lab_k)
    n = len(lab)
    if n == 0:
        z = np.zeros(0, np.int64)
        return np.zeros((0, 2), np.int64), z, z, z, np.zeros(0, bool), dropped
    ei, ej = si + _DI[d], sj + _DJ[d]
    flat, at0, w2 = _flat(framed)
    base = (ei + 1) * w2 + ej + 1 + at0  # pixel (ei, ej) in the framed raster
    al = flat[base + (_AL[:, 0] * w2 + _AL[:, 1])[d]] == lab
    ar = flat[base + (_AR[:, 0] * w2 + _AR[:, 1])[d]] == lab
    del base, flat
    nd = np.where(ar, np.where(al, (d + 3) % 4, d), (d + 1) % 4)
    del al, ar
    # the successor starts at this edge's end corner in direction nd: find it in that direction's part. The
    # end corners of one part's edges are its start corners shifted by one step, so they come sorted, and a
    # binary search of sorted queries runs several times faster than of the same queries mixed
    end_key = ei * (w + 1) + ej
    keys = [si[offsets[k] : offsets[k + 1]] * (w + 1) + sj[offsets[k] : offsets[k + 1]] for k in range(4)]
    nxt = np.empty(n, np.int64)
    for src in range(4):
        a, b = offsets[src], offsets[src + 1]
        for k in range(4):
            sel = np.flatnonzero(nd[a:b] == k) + a
            nxt[sel] = offsets[k] + np.searchsorted(keys[k], end_key[sel])
    del end_key, ei, ej, nd, keys
    ring = _cycle_ids(nxt)
    roots = np.flatnonzero(ring == np.arange(n))
    lut = np.empty(n, np.int64)
    lut[roots] = np.arange(len(roots))
    ring = lut[ring]  # 0..R-1
    del lut
    lens = np.bincount(ring)
    # outer rings run clockwise on screen: positive shoelace area in (x, y) with y down
    area2 = np.bincount(ring, weights=sj * (si + _DI[d]) - (sj + _DJ[d]) * si, minlength=len(lens))
    ring_lab = np.zeros(len(lens), lab.dtype)
    ring_lab[ring] = lab
    del ring, lab
    outer = area2 > 0
    ring_order = np.lexsort((~outer, ring_lab))  # by label, outer ring first
    at = np.empty(len(lens), np.int64)
    at[ring_order] = _segment_starts(lens[ring_order])
    # walk all rings at once from their smallest edge, longest rings first so the active ones are a prefix
    by_len = np.argsort(-lens, kind="stable")
    todo, cur, at = lens[by_len], roots[by_len], at[by_len]
    e_order = np.empty(n, np.int64)
    m = len(todo)
    for step in range(int(todo[0])):
        while todo[m - 1] <= step:
            m -= 1
        e_order[at[:m] + step] = cur[:m]
        cur[:m] = nxt[cur[:m]]
    start = np.stack([sj[e_order], si[e_order]], 1)
    return start, d[e_order], lens[ring_order], ring_lab[ring_order], outer[ring_order], dropped


def _flat(a: np.ndarray) -> tuple[np.ndarray, int, int]:
    """A 2-D array as a flat array, the offset of its first element and its row stride, in elements.

    A window cut from a C-ordered array (rows of it, columns contiguous) is read in place from its base, so
    a gather at scattered pixels does not first copy the whole window (as ``ravel`` of a view would).
    """
    base = a.base if isinstance(a.base, np.ndarray) else None
    item = a.itemsize
    if (
        a.flags.c_contiguous
        or base is None
        or not base.flags.c_contiguous
        or base.dtype != a.dtype
        or a.strides[1] != item
    ):
        c = np.ascontiguousarray(a)
        return c.ravel(), 0, a.shape[1]
    offset = (a.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // item
    return base.reshape(-1), offset, a.strides[0] // item


def _member(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``np.isin(values, members)`` for a few members among many values (binary search, no sort of values)."""
    s = np.unique(members)
    if not s.size:
        return np.zeros(len(values), bool)
    return s[np.minimum(np.searchsorted(s, values), len(s) - 1)] == values


def _cycle_ids(nxt: np.ndarray) -> np.ndarray:
    """The smallest member of each element's cycle in the permutation ``nxt`` (pointer jumping)."""
    ring, p = np.arange(len(nxt)), nxt.copy()
    while True:  # after k rounds ring[e] is the smallest of the 2**k elements from e on; no change = whole cycle
        ring_next = np.minimum(ring, ring[p])
        if (ring_next == ring).all():
            return ring
        ring, p = ring_next, p[p]


def _segment_starts(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _within(lengths: np.ndarray) -> np.ndarray:
    """Position of each element within its group, for groups of ``lengths`` laid end to end."""
    return np.arange(int(lengths.sum())) - np.repeat(_segment_starts(lengths), lengths)


def _node_flags(context: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Whether each pixel corner ``start`` (x, y) of a window is a node, from the window's labels framed by
    one pixel (corner ``(y, x)`` sits between framed pixels ``y..y + 1`` and ``x..x + 1``).

    A corner is a node when three or four different values meet there, two meet diagonally, or it is a
    corner of the scene (three of the four pixels :data:`OUTSIDE`).
    """
    flat, at0, stride = _flat(context)
    i = start[:, 1] * stride + start[:, 0] + at0
    a, b, c, d = flat[i], flat[i + 1], flat[i + stride], flat[i + stride + 1]
    del i
    n = 1 + (b != a) + ((c != a) & (c != b)) + ((d != a) & (d != b) & (d != c))
    outside = (a == OUTSIDE).astype(np.int8) + (b == OUTSIDE) + (c == OUTSIDE) + (d == OUTSIDE)
    # the scene's own corners stay too
    return (n >= 3) | ((a == d) & (b == c) & (a != b)) | (outside == 3)


def _smooth(
    u: np.ndarray, d: np.ndarray, ulen: np.ndarray, is_node: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-pixel outlines from rings of unit edges: doubled integer coordinates ``(M, 2)``, node flags and
    ring lengths (open rings): nodes, corners between two runs of 2 px or more, and run midpoints."""
    us = _segment_starts(ulen)
    rid_u = np.repeat(np.arange(len(ulen)), ulen)
    prev = np.arange(len(u)) - 1
    prev[us] = us + ulen - 1
    corner = d != d[prev]
    kp = np.flatnonzero(corner | is_node)
    rid = rid_u[kp]
    klen = np.bincount(rid, minlength=len(ulen))
    ks = _segment_starts(klen)
    knext = np.arange(len(kp)) + 1
    knext[ks + klen - 1] = ks
    kprev = np.arange(len(kp)) - 1
    kprev[ks] = ks + klen - 1
    pos = kp - us[rid]
    run = (pos[knext] - pos) % ulen[rid]  # length of the run to the next kept corner
    run[run == 0] = ulen[rid][run == 0]
    node_k = is_node[kp]
    # a 1-px run that turns the same way at both ends is the end of something 1 px wide (a strip, a tail, a lone
    # pixel), not a step of a digitised line (whose steps turn one way, then the other): its corners stay, where
    # midpoints made a strip 30 px long a lens of half its area (told within an arc only: a node's turn differs
    # between the rings that meet there, and both draw their arc alike)
    dk = d[kp]
    turn = (dk - d[prev][kp]) % 4  # 1: turned right (clockwise), 3: left
    cap = (run == 1) & (turn == turn[knext]) & ~node_k & ~node_k[knext]
    # nodes stay; so do corners between two runs of 2 px or more, and those of such ends; staircase corners give
    # way to midpoints
    keep_vertex = node_k | (np.minimum(run, run[kprev]) >= 2) | cap | cap[kprev]
    p2 = 2 * u[kp]
    out = np.empty((2 * len(kp), 2), np.int64)
    out[0::2] = p2
    out[1::2] = (p2 + p2[knext]) // 2
    emit = np.ones(2 * len(kp), bool)
    emit[0::2] = keep_vertex
    flag = np.zeros(2 * len(kp), bool)
    flag[0::2] = node_k
    olen = np.bincount(np.repeat(rid, 2)[emit], minlength=len(ulen))
    return out[emit], flag[emit], olen


def _arcs(
    p: np.ndarray, is_node: np.ndarray, rlen: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut open rings at their nodes into arcs and put each arc in its canonical form.

    Returns:
        Canonical arc points ``(Q, 2)`` (doubled coordinates; closed arcs repeat their first point), arc
        lengths ``(A,)``, ring of each arc, whether the ring runs through the arc backwards, and whether
        the arc is a whole ring (no node on it).
    """
    R = len(rlen)
    rs = _segment_starts(rlen)
    rid = np.repeat(np.arange(R), rlen)
    pos = _within(rlen)
    has_node = np.bincount(rid, weights=is_node, minlength=R) > 0
    # rotate rings with nodes to start at their first node
    first_node = np.full(R, 0, np.int64)
    nz = np.flatnonzero(is_node)
    if nz.size:
        uniq, idx = np.unique(rid[nz], return_index=True)
        first_node[uniq] = pos[nz[idx]]
    rot = rs[rid] + (pos + first_node[rid]) % rlen[rid]
    q, qn = p[rot], is_node[rot]
    # close every ring (the closing point of a node ring is its first node), then duplicate inner nodes
    close_at = rs + rlen
    q = np.insert(q, close_at, q[rs], axis=0)
    qn = np.insert(qn, close_at, qn[rs])
    qrid = np.repeat(np.arange(R), rlen + 1)
    qpos = _within(rlen + 1)
    inner = qn & (qpos > 0) & (qpos < rlen[qrid]) & has_node[qrid]
    rep = 1 + inner.astype(np.int64)
    q = np.repeat(q, rep, axis=0)
    qrid = np.repeat(qrid, rep)
    second = np.zeros(len(q), bool)
    second[np.cumsum(rep)[inner] - 1] = True  # the copy of an inner node that starts the next arc
    qpos = _within(np.bincount(qrid, minlength=R))
    starts = (qpos == 0) | second
    arc = np.cumsum(starts) - 1
    alen = np.bincount(arc)
    aring = qrid[starts]
    closed = ~has_node[aring]
    As = _segment_starts(alen)
    # canonical form: open arcs run from their smaller end (x, then y); a loop (both ends one node) and a
    # closed arc start at their smallest point and run towards the smaller of its two neighbours
    head, tail = q[As], q[As + alen - 1]
    nxt2, prv2 = q[As + 1], q[As + alen - 2]

    def less(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a[:, 0] < b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] < b[:, 1]))

    rev = np.where((head == tail).all(1), less(prv2, nxt2), less(tail, head))
    rot0 = np.zeros(len(alen), np.int64)
    if closed.any():
        ci = np.flatnonzero(closed)
        n_c = alen[ci] - 1  # distinct points
        member = np.repeat(ci, n_c)
        within = _within(n_c)
        pts = q[np.repeat(As[ci], n_c) + within]
        order = np.lexsort((pts[:, 1], pts[:, 0], member))
        grp_start = _segment_starts(n_c)
        rot0[ci] = within[order[grp_start]]
        base = As[ci] + rot0[ci]
        after = q[As[ci] + (rot0[ci] + 1) % n_c]
        before = q[As[ci] + (rot0[ci] - 1) % n_c]
        rev[ci] = less(before, after)
        del base
    # gather the canonical points
    t = _within(alen)
    a_of = np.repeat(np.arange(len(alen)), alen)
    L = alen[a_of]
    n_dist = np.where(closed[a_of], L - 1, L)
    step = np.where(rev[a_of], -t, t)
    off = np.where(closed[a_of], (rot0[a_of] + step) % np.maximum(n_dist, 1), np.where(rev[a_of], L - 1 - t, t))
    last_closed = closed[a_of] & (t == L - 1)
    off = np.where(last_closed, rot0[a_of], off)
    canon = q[As[a_of] + off]
    return canon, alen, aring, rev, closed


def arc_keys(canon: np.ndarray, alen: np.ndarray) -> list[tuple[int, ...]]:
    """A key per canonical arc: its first, second and last points (doubled coordinates)."""
    As = _segment_starts(alen)
    return [tuple(x) for x in np.concatenate([canon[As], canon[As + 1], canon[As + alen - 1]], 1).tolist()]


def trace_coverage(
    framed: np.ndarray,
    shift: Any,
    tolerance: float,
    frozen: Mapping[Any, float] | None = None,
    want_arcs: bool = False,
    drop: np.ndarray | None = None,
    keep: np.ndarray | None = None,
) -> tuple[Traced, list | None]:
    """Sub-pixel, simplified polygons of the labels of a window (see the module docstring).

    Args:
        framed: ``(H + 2, W + 2)`` int labels of a window of the scene and one pixel around it (the outside
            of the scene :data:`OUTSIDE`): the labels > 0 inside the window are traced (but those in the
            frame, ``drop``, or not in ``keep``), and nodes are found from all of them.
        shift: ``(dx, dy)`` from the window's to global pixel coordinates.
        tolerance: Douglas-Peucker tolerance in pixels (0 = sub-pixel outlines without simplification).
        frozen: keys (:func:`arc_keys`) of arcs simplified with a tolerance of their own, below ``tolerance``
            (0: left unsimplified).
        want_arcs: also return the keys of each polygon's arcs.
        drop: labels of ``traced`` not to trace (their pixel boxes are returned in ``dropped``).
        keep: the only labels of ``traced`` to trace (default: all).

    Returns:
        The traced polygons (one per part; a label traced as several parts appears once per part) and,
        with ``want_arcs``, a list of arc-key lists per polygon.
    """
    import shapely

    u, d, ulen, rlab, outer, dropped = _trace_rings(framed, drop, keep)
    if not len(ulen):
        empty = np.zeros(0, object)
        return Traced(np.zeros(0, np.int64), empty, np.zeros(0, bool), np.zeros((0, 2), np.int64), dropped), []
    is_node = _node_flags(framed, u)
    poly_of_ring, values = _polygon_of_ring(u, ulen, rlab, outer)
    sh = np.broadcast_to(np.asarray(shift, np.int64), (len(values), 2))
    # first pixel of each part: the corner of its outer ring with the smallest row, then column
    span = int(u[:, 0].max()) + 1
    low = np.minimum.reduceat(u[:, 1] * span + u[:, 0], _segment_starts(ulen))[outer]
    first = np.stack(np.divmod(low, span), 1) + sh[:, ::-1]
    p, is_node, rlen = _smooth(u, d, ulen, is_node)
    p = p + 2 * np.repeat(sh[poly_of_ring], rlen, axis=0)  # global, doubled
    canon, alen, aring, rev, closed = _arcs(p, is_node, rlen)
    keys = arc_keys(canon, alen) if (frozen or want_arcs) else None
    lines = shapely.linestrings(canon / 2.0, indices=np.repeat(np.arange(len(alen)), alen))
    simple = lines
    if tolerance > 0:
        simple = shapely.simplify(lines, tolerance, preserve_topology=False)
        lower = np.zeros(len(alen), bool)
        if frozen:
            assert keys is not None  # computed whenever frozen is given
            own = np.array([min(tolerance, frozen.get(k, tolerance)) for k in keys])  # (A,) px
            lower = own < tolerance
            if (some := lower & (own > 0)).any():  # an arc that crossed another: simplified less, not unsimplified
                simple[some] = shapely.simplify(lines[some], own[some], preserve_topology=False)
        # a loop or a whole ring needs 3 distinct points to stay a ring: one that collapsed is simplified again with
        # less, and left unsimplified only if it collapses at one pixel too (a small field alone kept every pixel step
        # at --simplify 50 m: 334 of 367 such fields of the real scene; session 107's review)
        ring_like = closed | (canon[_segment_starts(alen)] == canon[_segment_starts(alen) + alen - 1]).all(1)
        used = own if frozen else np.full(len(alen), float(tolerance))  # (A,) px
        short = ring_like & (shapely.get_num_coordinates(simple) < 4)
        for less in (used * 0.5, used * 0.25, used * 0.125, np.minimum(used, 1.0)):  # (A,) px each
            if not (again := short & (used > 0)).any():
                break
            simple[again] = shapely.simplify(lines[again], less[again], preserve_topology=False)
            lower |= again
            short = ring_like & (shapely.get_num_coordinates(simple) < 4)
        if frozen:
            short |= own <= 0
        simple = np.where(short, lines, simple)
        whole = closed & ~short & ~lower  # moved by up to the full tolerance: not where less was used
        simple = _drop_ring_start(simple, whole, tolerance)
        simple = _recover_corners(simple, lines, whole, tolerance)
    sxy, sidx = shapely.get_coordinates(simple, return_index=True)
    slen = np.bincount(sidx, minlength=len(alen))
    # back to ring direction; drop each arc's last point (the next arc's first), then close the rings
    t = _within(slen)
    L = slen[sidx]
    back = rev[sidx] & ~closed[sidx]
    sxy = sxy[_segment_starts(slen)[sidx] + np.where(back, L - 1 - t, t)]
    keep = t < L - 1
    pts, pring = sxy[keep], aring[sidx][keep]
    plen = np.bincount(pring, minlength=len(rlen))
    bad = np.zeros(len(values), bool)
    collapsed = plen < 3
    if collapsed.any():  # such a ring keeps its unsimplified outline here, and the field is repaired later
        bad[poly_of_ring[collapsed]] = True
        prid = np.repeat(np.arange(len(rlen)), rlen)
        a, b = ~collapsed[pring], collapsed[prid]
        order = np.argsort(np.concatenate([pring[a], prid[b]]), kind="stable")
        pts = np.concatenate([pts[a], p[b] / 2.0])[order]
        plen = np.where(collapsed, rlen, plen)
    ps = _segment_starts(plen)
    pts = np.insert(pts, ps + plen, pts[ps], axis=0)
    rings = shapely.linearrings(pts, indices=np.repeat(np.arange(len(plen)), plen + 1))
    order = np.lexsort((~outer, poly_of_ring))  # each polygon's rings together, its outer ring first
    geoms = np.asarray(shapely.polygons(rings[order], indices=poly_of_ring[order]), object)
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if invalid.size:
        # a ring through one node twice (a field touching itself at a corner) is invalid as drawn but the same
        # area as a polygon with a hole touching its shell, or two polygons; make_valid keeps every vertex,
        # so the edges still match the neighbours'. Anything else is repaired later.
        fixed = shapely.make_valid(geoms[invalid])
        same = shapely.is_valid(fixed) & np.isclose(shapely.area(fixed), shapely.area(geoms[invalid]))
        same &= np.isin(shapely.get_type_id(fixed), (3, 6))  # Polygon, MultiPolygon
        geoms[invalid[same]] = fixed[same]
        bad[invalid[~same]] = True
    arcs = _arcs_per_polygon(keys or [], aring, poly_of_ring, len(values)) if want_arcs else None
    return Traced(values, geoms, bad, first, dropped), arcs


def _drop_ring_start(lines: np.ndarray, closed: np.ndarray, tolerance: float) -> np.ndarray:
    """Whole rings simplified from their canonical start keep that point although it is no corner: drop it
    where it lies within the tolerance of the segment joining its neighbours (and 4 points remain)."""
    import shapely

    idx = np.flatnonzero(closed & (shapely.get_num_coordinates(lines) >= 5))
    if not idx.size:
        return lines
    xy, which = shapely.get_coordinates(lines[idx], return_index=True)
    n = np.bincount(which, minlength=len(idx))
    st = _segment_starts(n)
    p0, p1, pm = xy[st], xy[st + 1], xy[st + n - 2]
    chord = shapely.linestrings(np.stack([pm, p1], 1).reshape(-1, 2), indices=np.repeat(np.arange(len(idx)), 2))
    drop = shapely.distance(shapely.points(p0), chord) <= tolerance
    if not drop.any():
        return lines
    out = lines.copy()
    for k in np.flatnonzero(drop).tolist():  # p1 .. pm, closed again at p1
        ring = xy[st[k] + 1 : st[k] + n[k] - 1]
        out[idx[k]] = shapely.linestrings(np.vstack([ring, ring[:1]]))
    return out


def _recover_corners(simple: np.ndarray, lines: np.ndarray, which: np.ndarray, tolerance: float) -> np.ndarray:
    """Whole rings (no node on them: a field that touches no other) with each simplified vertex moved to where
    the lines fitted to the outline on its two sides meet.

    Douglas-Peucker keeps points of the outline, the run midpoints, and those next to a corner of a tilted field
    lie inside it: every chord of such a convex ring cut its corners (40 x 40 px fields at 0-85 degrees came out
    0.7 % small in the mean, 4.9 % at worst; the fields-outputs sweep of session 86). An arc between nodes keeps
    its ends, which are exact. A vertex moves at most ``tolerance`` px, and only where its two sides meet at an
    angle; a ring that would not stay valid keeps its simplified form.
    """
    import shapely

    out = simple.copy()
    for i in np.flatnonzero(which):
        ring = shapely.get_coordinates(simple[i])[:-1]  # (n, 2) kept vertices, the ring closed
        orig = shapely.get_coordinates(lines[i])[:-1]  # (m, 2) the outline they were kept from
        n, m = len(ring), len(orig)
        if n < 3 or m <= n:
            continue
        at = {tuple(pt): k for k, pt in reversed(list(enumerate(orig.tolist())))}
        found = [at.get(tuple(pt)) for pt in ring.tolist()]
        idx = [k for k in found if k is not None]
        if len(idx) < n:
            continue
        fits = []  # (centroid, unit direction) of the outline from each kept vertex to the next
        for j in range(n):
            a, b = idx[j], idx[(j + 1) % n]
            seg = orig[np.arange(a, a + (b - a) % m + 1) % m]  # (k, 2)
            c = seg.mean(0)
            _, _, vt = np.linalg.svd(seg - c, full_matrices=False)
            fits.append((c, vt[0]))
        moved = ring.copy()
        for j in range(n):
            (c1, d1), (c2, d2) = fits[j - 1], fits[j]
            cross = d1[0] * d2[1] - d1[1] * d2[0]
            if abs(cross) < 0.2:  # nearly one line (a vertex kept on a gentle curve): stays
                continue
            t = ((c2 - c1)[0] * d2[1] - (c2 - c1)[1] * d2[0]) / cross
            meet = c1 + t * d1
            if np.hypot(*(meet - ring[j])) <= tolerance:
                moved[j] = meet
        poly = shapely.Polygon(moved)
        if poly.is_valid and not poly.is_empty:
            out[i] = shapely.linestrings(np.vstack([moved, moved[:1]]))
    return out


def _polygon_of_ring(
    u: np.ndarray, ulen: np.ndarray, rlab: np.ndarray, outer: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Polygon of each ring (one per outer ring, holes with the outer ring of their label that contains
    them) and the label of each polygon. Rings come sorted by label, outer rings first."""
    import shapely

    poly = np.cumsum(outer) - 1
    values = rlab[outer]
    labels, n_outer = np.unique(values, return_counts=True)
    multi = np.flatnonzero(~outer & np.isin(rlab, labels[n_outer > 1]))
    if multi.size:  # a label in several parts: its holes go to the part that contains them
        us = _segment_starts(ulen)
        rings = [shapely.Polygon(u[us[r] : us[r] + ulen[r]]) for r in range(len(ulen))]
        for r in multi.tolist():
            cand = np.flatnonzero(outer & (rlab == rlab[r]))
            inside = [c for c in cand.tolist() if rings[c].contains(shapely.Point(u[us[r]] + 0.5))]
            poly[r] = poly[inside[0] if inside else cand[0]]
    return poly, values


def _arcs_per_polygon(keys: list, aring: np.ndarray, poly_of_ring: np.ndarray, n: int) -> list[list]:
    out: list[list] = [[] for _ in range(n)]
    for k, r in zip(keys, aring.tolist(), strict=True):
        out[poly_of_ring[r]].append(k)
    return out
