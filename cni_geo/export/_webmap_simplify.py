"""Fast coverage-consistent pre-simplification before GEOS coverage simplification.

GEOS's CoverageSimplifier (``shapely.coverage_simplify``) costs ~1-3.5 us per input vertex and
holds the GIL: 15 million vertices (full-resolution boundaries of 33,755 LSOAs) take ~55 s. This
module first simplifies every *shared arc* of the coverage once, so the GEOS simplifier sees
several times fewer vertices. It is our own code because we know of no library that exposes a
vectorised arc extraction for a polygon coverage (GEOS builds arcs inside CoverageSimplifier
but does not expose them). GEOS's topology-preserving simplifier would also stop arcs from
crossing, but on the benchmark's 250,000 arcs it takes 5.9 s even arc by arc (and longer on all
arcs as one MultiLineString) against 0.4 s for plain Douglas-Peucker, so step 5 checks instead.

How it works (numpy throughout, no Python loop per area, ring or arc):

1. All rings are taken apart with :func:`shapely.to_ragged_array`; equal coordinates (exact
   float equality) get one vertex id.
2. A vertex is a *node* where three or more rings meet it, or where its neighbours differ
   between the rings that use it (a shared edge ends there). A ring with no node gets one at
   its vertex with the smallest id, which every ring using that vertex set picks alike.
3. Each ring is cut at its nodes into arcs. The two sides of a shared edge traverse the same
   arc in opposite directions; an arc is keyed by its first and last edges (as unordered vertex
   id pairs), so both copies get the same key. Copies are checked to have the same length and
   the same (wrapping) sum of hashed vertex ids; an arc that fails is left unsimplified.
4. Each distinct arc is simplified **once** with Douglas-Peucker
   (``shapely.simplify(..., preserve_topology=False)`` on an array of LineStrings, so one
   vectorised GEOS call); nodes are never removed. Every copy of the arc then uses that result,
   reversed where the copy runs backwards, so neighbours keep identical edges.
5. A ring that would fall below 4 points, or whose area would shrink by half or flip, and every
   ring of an area that would become invalid (Douglas-Peucker alone does not stop an arc from
   crossing a nearby arc), keeps its arcs unsimplified (for every ring that shares them); the
   rings are rebuilt and checked again until none is left.

Douglas-Peucker keeps every removed vertex within ``eps`` of the simplified arc, so each
boundary moves by at most ``eps`` (discrete Hausdorff distance) and a ring's area changes by at
most about ``2 * eps * perimeter``.
"""

from __future__ import annotations

import logging

import numpy as np
import shapely

log = logging.getLogger(__name__)

_MIX = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)


def _keys(xy: np.ndarray) -> np.ndarray:
    """Equal coordinates -> equal keys (exact float bits mixed by multiplication; use the high
    bits, which depend on every bit of both coordinates)."""
    zero = (xy == 0).any(axis=1)
    if zero.any():
        xy = xy + 0.0  # -0.0 -> 0.0
    bits = np.ascontiguousarray(xy).view(np.uint64)
    with np.errstate(over="ignore"):
        h = bits[:, 0] * _MIX
        h += bits[:, 1] * _MIX2
    return h


def vertex_ids(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One id per distinct coordinate: ``(ids, order, first)``.

    ``order`` sorts the vertices by id and ``first`` marks, in that order, the first vertex of
    each id. Each vertex gets one uint64: a grid cell number (high bits, so that the sorted
    order stays spatially local and the gathers that follow hit the cache), a hash of the exact
    coordinates, and the vertex number (low bits). numpy's SIMD sort of these is several times
    faster than an argsort. Runs of equal cell and hash that hold different coordinates (hash
    collisions) are re-sorted exactly.
    """
    n = len(xy)
    bits = max(1, (n - 1).bit_length())
    half = max(0, min((64 - bits - 16) // 2, (n // 16).bit_length() // 2))
    hash_bits = 64 - bits - 2 * half
    x, y = xy[:, 0], xy[:, 1]
    x0, y0 = float(x.min()), float(y.min())
    span = max(float(x.max()) - x0, float(y.max()) - y0)
    scale = (1 << half) / (span * (1 + 1e-9)) if span > 0 else 0.0
    qx = ((x - x0) * scale).astype(np.int64).view(np.uint64)
    qy = ((y - y0) * scale).astype(np.int64).view(np.uint64)
    packed = (qy << np.uint64(64 - half)) if half else np.zeros(n, dtype=np.uint64)
    if half:
        packed |= qx << np.uint64(64 - 2 * half)
    packed |= (_keys(xy) >> np.uint64(64 - hash_bits)) << np.uint64(bits)
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    index_mask = np.uint64((1 << bits) - 1)
    order = (packed & index_mask).astype(np.int64)
    packed >>= np.uint64(bits)  # cell and hash
    sxy = xy[order]
    same_xy = (sxy[1:] == sxy[:-1]).all(axis=1)
    clash = (packed[1:] == packed[:-1]) & ~same_xy
    if clash.any():
        # runs of one cell and hash holding several coordinates: sort those runs exactly
        run_start = np.concatenate([[0], np.flatnonzero(packed[1:] != packed[:-1]) + 1])
        run_end = np.append(run_start[1:], n)
        r = np.unique(np.searchsorted(run_start, np.flatnonzero(clash), side="right") - 1)
        size = run_end[r] - run_start[r]
        sel = np.repeat(run_start[r], size) + (
            np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
        )
        sub = sel[np.lexsort((sxy[sel, 1] + 0.0, sxy[sel, 0] + 0.0, np.repeat(r, size)))]
        order[sel] = order[sub]
        sxy[sel] = sxy[sub]
        same_xy = (sxy[1:] == sxy[:-1]).all(axis=1)
    first = np.concatenate([[True], ~same_xy])
    ids = np.empty(n, dtype=np.int64)
    ids[order] = np.cumsum(first) - 1
    return ids, order, first


def _ring_index(rings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    starts = rings[:-1]
    lengths = np.diff(rings)
    ring_of = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(rings[-1]) - starts[ring_of]
    return starts, lengths, ring_of, pos


class CoverageArcs:
    """The arcs of a polygon coverage given as open rings (``xy``, ``rings`` offsets).

    Attributes (all numpy arrays): ``closed`` indexes ``xy`` ring by ring, each ring rotated to
    start at a node and closed again (offsets ``closed_rings``); arc ``a`` spans
    ``closed[arc_start[a] : arc_end[a] + 1]``; ``arc_ring`` is its ring, ``rep`` the arc whose
    copy it is (itself for the first copy) and ``forward`` whether it runs the same way as its
    ``rep``.
    """

    def __init__(self, xy: np.ndarray, rings: np.ndarray):
        n = len(xy)
        starts, lengths, ring_of, pos = _ring_index(rings)
        gid, order, first = vertex_ids(xy)
        n_ids = int(first.sum())
        ar = np.arange(n)
        prev = np.where(pos == 0, ar + lengths[ring_of] - 1, ar - 1)
        nxt = np.where(pos == lengths[ring_of] - 1, ar - lengths[ring_of] + 1, ar + 1)
        gp, gn = gid[prev], gid[nxt]
        pair = (np.minimum(gp, gn) * n_ids + np.maximum(gp, gn))[order]
        group_start = np.flatnonzero(first)
        counts = np.diff(np.append(group_start, n))
        node_id = (counts >= 3) | (
            np.minimum.reduceat(pair, group_start) != np.maximum.reduceat(pair, group_start)
        )
        # a ring without a node (an island, or a hole filled by one area) gets one, chosen alike
        # by every ring that uses the same vertices: the smallest id
        has_node = np.logical_or.reduceat(node_id[gid], starts)
        if not has_node.all():
            node_id[np.minimum.reduceat(gid, starts)[~has_node]] = True
        is_node = node_id[gid]

        # rotate each ring to start at its first node, then close it
        big = np.iinfo(np.int64).max
        shift = np.minimum.reduceat(np.where(is_node, pos, big), starts)
        rot = pos + shift[ring_of]  # < 2 * length: one conditional subtraction, no modulo
        ring_len = lengths[ring_of]
        rot -= np.where(rot >= ring_len, ring_len, 0)
        rot += starts[ring_of]
        closed_rings = rings + np.arange(len(rings))
        closed = np.empty(n + len(starts), dtype=np.int64)
        closed[ar + ring_of] = rot
        closed[closed_rings[1:] - 1] = rot[starts]

        node_pos = np.flatnonzero(is_node[closed])
        is_last = np.zeros(len(closed), dtype=bool)
        is_last[closed_rings[1:] - 1] = True
        k = np.flatnonzero(~is_last[node_pos])
        arc_start, arc_end = node_pos[k], node_pos[k + 1]
        ring_of_closed = np.repeat(np.arange(len(starts)), lengths + 1)

        # both copies of an arc share their first and last edges (in opposite roles)
        g = gid[closed]
        g0, g1, g8, g9 = g[arc_start], g[arc_start + 1], g[arc_end - 1], g[arc_end]
        e_first = np.minimum(g0, g1) * n_ids + np.maximum(g0, g1)
        e_last = np.minimum(g8, g9) * n_ids + np.maximum(g8, g9)
        akey = np.minimum(e_first, e_last)
        a_order = np.argsort(akey, kind="stable")
        sk = akey[a_order]
        a_first = np.concatenate([[True], sk[1:] != sk[:-1]])
        rep = np.empty(len(akey), dtype=np.int64)
        rep[a_order] = a_order[np.flatnonzero(a_first)][np.cumsum(a_first) - 1]

        # check that each copy holds its rep's vertices: same length, same first and last
        # edges (above) and the same sum of hashed vertex ids (wrapping uint64)
        length = arc_end - arc_start + 1
        forward = (g0 == g0[rep]) & (g1 == g1[rep])
        with np.errstate(over="ignore"):
            h = np.cumsum(g.view(np.uint64) * _MIX)
            h_start = g[arc_start].view(np.uint64) * _MIX
            check = h[arc_end] - h[arc_start] + h_start
        ok = (length == length[rep]) & (check == check[rep])
        if not ok.all():
            log.debug("%d arcs do not match their copies; they are not simplified", (~ok).sum())
        self.xy = xy
        self.closed = closed
        self.closed_rings = closed_rings
        self.arc_start = arc_start
        self.arc_end = arc_end
        self.arc_ring = ring_of_closed[arc_start]
        self.rep = np.where(ok, rep, np.arange(len(rep)))
        self.forward = np.where(ok, forward, True)
        self.matched = ok
        self.n_ids = n_ids

    def lines(self, arcs: np.ndarray) -> np.ndarray:
        """The given arcs as LineStrings (one vectorised call)."""
        length = self.arc_end[arcs] - self.arc_start[arcs] + 1
        offsets = np.concatenate([[0], np.cumsum(length)])
        j = np.arange(offsets[-1]) - np.repeat(offsets[:-1], length)
        idx = self.closed[np.repeat(self.arc_start[arcs], length) + j]
        return shapely.from_ragged_array(shapely.GeometryType.LINESTRING, self.xy[idx], (offsets,))

    def rebuild(self, rep_xy: np.ndarray, rep_off: np.ndarray, reps: np.ndarray):
        """Closed rings from the reps' (simplified) coordinates: ``(coords, ring offsets)``.

        ``rep_xy``/``rep_off`` hold the coordinates of the arcs ``reps`` (ragged), each from its
        first to its last node.
        """
        slot = np.full(len(self.rep), -1, dtype=np.int64)
        slot[reps] = np.arange(len(reps))
        s = slot[self.rep]
        k = np.diff(rep_off)[s]  # points of each arc, nodes included
        take = k - 1  # an arc contributes all but its last point; the ring is closed at the end
        n_rings = len(self.closed_rings) - 1
        ring_pts = np.bincount(self.arc_ring, weights=take, minlength=n_rings).astype(np.int64)
        out_rings = np.concatenate([[0], np.cumsum(ring_pts + 1)])
        arc_off = np.concatenate([[0], np.cumsum(take)])
        j = np.arange(arc_off[-1]) - np.repeat(arc_off[:-1], take)
        base = np.repeat(rep_off[s], take)
        kk = np.repeat(k, take)
        fw = np.repeat(self.forward, take)
        src = np.where(fw, base + j, base + kk - 1 - j)
        ring_of_pt = np.repeat(self.arc_ring, take)
        dest = np.arange(len(src)) + ring_of_pt  # one closing slot per earlier ring
        out = np.empty((out_rings[-1], 2), dtype=np.float64)
        out[dest] = rep_xy[src]
        first_pt = out_rings[:-1]
        out[out_rings[1:] - 1] = out[first_pt]
        return out, out_rings


def _ring_areas(xy: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """Signed shoelace area of closed rings (offsets ``rings``)."""
    x, y = xy[:, 0], xy[:, 1]
    x0 = np.repeat(x[rings[:-1]], np.diff(rings))  # centre each ring for precision
    y0 = np.repeat(y[rings[:-1]], np.diff(rings))
    xc, yc = x - x0, y - y0
    term = np.zeros(len(xy))
    term[:-1] = xc[:-1] * yc[1:] - xc[1:] * yc[:-1]
    term[rings[1:] - 1] = 0.0  # no term across rings
    return 0.5 * np.add.reduceat(term, rings[:-1])


def thin_coverage(geoms: np.ndarray, eps: float) -> np.ndarray:
    """Polygons with each shared arc simplified once by ``eps``; shared edges stay shared.

    Parameters
    ----------
    geoms
        Polygons and MultiPolygons forming a coverage (neighbours with identical vertices on
        their shared edges), in a metric CRS.
    eps
        Douglas-Peucker distance tolerance (CRS units). ``<= 0`` returns ``geoms``.

    Returns
    -------
    numpy.ndarray
        The simplified geometries, in order, of the same types. Every removed vertex lies
        within ``eps`` of the new boundary; no ring falls below 4 points.
    """
    geoms = np.asarray(geoms, dtype=object)
    if eps <= 0 or len(geoms) == 0:
        return geoms
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        out = geoms.copy()
        out[~bad] = thin_coverage(geoms[~bad], eps)
        return out
    is_poly = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    multi = geoms.copy()
    if is_poly.any():
        multi[is_poly] = shapely.multipolygons(multi[is_poly].reshape(-1, 1))
    _, coords, (rings, polys, feats) = shapely.to_ragged_array(multi)
    if (np.diff(rings) < 4).any():  # degenerate rings: leave the input to GEOS as it is
        return geoms
    open_mask = np.ones(len(coords), dtype=bool)
    open_mask[rings[1:] - 1] = False
    xy = coords[open_mask]
    arcs = CoverageArcs(xy, rings - np.arange(len(rings)))

    reps = np.flatnonzero(arcs.rep == np.arange(len(arcs.rep)))
    original = arcs.lines(reps)
    simple = shapely.simplify(original, eps, preserve_topology=False)
    simple[~arcs.matched[reps]] = original[~arcs.matched[reps]]
    area_in = _ring_areas(coords, rings)
    frozen = np.zeros(len(reps), dtype=bool)
    slot = np.full(len(arcs.rep), -1, dtype=np.int64)
    slot[reps] = np.arange(len(reps))
    ring_feat = np.repeat(np.arange(len(polys) - 1), np.diff(polys))
    ring_feat = np.repeat(np.arange(len(feats) - 1), np.diff(feats))[ring_feat]
    check = np.ones(len(feats) - 1, dtype=bool)  # the areas whose validity is (re)tested
    invalid = np.zeros(len(feats) - 1, dtype=bool)
    for _ in range(50):
        _, rep_xy, (rep_off,) = shapely.to_ragged_array(simple)
        out, out_rings = arcs.rebuild(rep_xy, rep_off, reps)
        result = shapely.from_ragged_array(
            shapely.GeometryType.MULTIPOLYGON, out, (out_rings, polys, feats)
        )
        # Douglas-Peucker without topology checks can make an area self-intersect (arcs
        # closer than eps): such areas get their arcs back, as do collapsed rings
        invalid[check] = ~shapely.is_valid(result[check])
        area_out = _ring_areas(out, out_rings)
        bad = (
            (np.diff(out_rings) < 4)
            | (np.sign(area_out) != np.sign(area_in))
            | (np.abs(area_out) < 0.5 * np.abs(area_in))
            | invalid[ring_feat]
        )
        if not bad.any():
            break
        bad_arcs = np.isin(arcs.arc_ring, np.flatnonzero(bad))
        hit = np.unique(slot[arcs.rep[bad_arcs]])
        hit = hit[~frozen[hit]]
        if len(hit) == 0:  # already at the input: nothing more to undo
            break
        frozen[hit] = True
        simple[hit] = original[hit]
        check[:] = False
        check[ring_feat[arcs.arc_ring[np.isin(slot[arcs.rep], hit)]]] = True
    log.debug(
        "coverage pre-pass: %d -> %d vertices, %d arcs (%d distinct), %d kept whole",
        len(coords),
        len(out),
        len(arcs.rep),
        len(reps),
        int(frozen.sum()),
    )
    result = np.asarray(result, dtype=object)
    result[is_poly] = shapely.get_geometry(result[is_poly], 0)
    return result
