"""Exact sums of a raster over many polygons, by Green's theorem on row prefix sums.

This is what exactextract's ``sum`` computes (each cell's value weighted by the exact share of
the cell inside the polygon), computed differently. exactextract works one feature at a time
through Python callbacks while holding the GIL, and its cost grows with the cells in each
feature's bounding box: on the England-size benchmark it took 12 s for the 70,000
LSOA x ward pieces (13.7 million vertices) on a 100 m grid, more than the overlay that made
them. Here the cost grows with the number of boundary edges and grid-line crossings only,
and all polygons are done together with numpy (in threads), which took 5-6 s for the same
pieces in the same process (2-core machine shared with other jobs). The results agree with
a per-cell GEOS overlay to ~1e-13 relative, where exactextract's differ by up to ~1e-8;
tests/test_reapportion.py checks against both.

Method. Treat the raster as a function ``f`` constant on each cell (value per cell, so that
the integral of ``f`` over a whole cell is the cell's value). With ``F(u, v) = integral of
f(s, v) ds from s = 0 to u`` along a row, Green's theorem gives, for a polygon ``P``,
``integral over P of f du dv = closed integral over the boundary of P of F dv`` (signed by
the ring orientation). ``F`` is piecewise linear in ``u`` inside a row band: ``F = G[r, c] +
f[r, c] (u - c)`` with ``G`` the prefix sums of row ``r``. Cutting every boundary edge where it
crosses a grid line leaves segments inside one cell, along which ``F`` is linear, so each
segment contributes exactly ``dv * F(midpoint)``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import shapely

# Vertices handled per batch: bounds the temporary arrays to a few hundred MB.
_BATCH = 500_000


def _split(a0, b0, a1, b1, lo, hi):
    """Cut segments (a0, b0) -> (a1, b1) wherever ``a`` crosses an integer in [lo, hi].

    Returns the pieces' endpoints (a0, b0, a1, b1) and the index of the segment each piece
    comes from, in order along each segment. Crossing points get the exact integer ``a``.
    """
    amin = np.minimum(a0, a1)
    amax = np.maximum(a0, a1)
    first = np.maximum(np.floor(amin) + 1, lo)  # first integer strictly above amin
    last = np.minimum(np.ceil(amax) - 1, hi)  # last integer strictly below amax
    n = np.maximum(last - first + 1, 0).astype(np.int64)
    m = n + 1  # pieces per segment
    seg = np.repeat(np.arange(len(a0)), m)
    start = np.cumsum(m) - m  # first piece of each segment
    j = np.arange(len(seg)) - start[seg]  # piece number within its segment
    up = a1 >= a0
    # the integer crossed at the end of piece j (for j < n[seg])
    k = np.where(up[seg], first[seg] + j, last[seg] - j)
    is_last = j == n[seg]
    da = (a1 - a0)[seg]
    db = (b1 - b0)[seg]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_end = np.where(is_last, 1.0, (k - a0[seg]) / da)
    pa1 = np.where(is_last, a1[seg], k)
    pb1 = np.where(is_last, b1[seg], b0[seg] + t_end * db)
    # each piece starts where the previous one ended
    pa0 = np.empty_like(pa1)
    pb0 = np.empty_like(pb1)
    pa0[1:], pb0[1:] = pa1[:-1], pb1[:-1]
    pa0[start], pb0[start] = a0, b0
    return pa0, pb0, pa1, pb1, seg


def raster_sums(
    geoms: np.ndarray,
    data: np.ndarray,
    extent: tuple[float, float, float, float],
) -> np.ndarray:
    """Sum of ``data`` over each polygon, each cell weighted by its exact covered share.

    Parameters
    ----------
    geoms
        Array of shapely polygons/multipolygons in the raster's CRS.
    data
        2-D array (rows from the top) of values per cell; NaN cells count as 0.
    extent
        ``(xmin, ymin, xmax, ymax)`` of the array.

    Returns
    -------
    numpy.ndarray
        float64, one sum per geometry (0 for one outside the raster).
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms))
    if len(geoms) == 0:
        return out
    h, w = data.shape
    xmin, ymin, xmax, ymax = extent
    cw, chh = (xmax - xmin) / w, (ymax - ymin) / h
    f = np.asarray(data, dtype="float64")
    if np.isnan(f).any():
        f = np.where(np.isnan(f), 0.0, f)
    # G[r, c] = sum of row r left of column c; one extra column for the full row.
    g = np.zeros((h, w + 1))
    np.cumsum(f, axis=1, out=g[:, 1:])
    # Batches of whole polygons of about _BATCH vertices bound the temporary arrays.
    ncoords = np.cumsum(shapely.get_num_coordinates(geoms))
    cuts = np.searchsorted(ncoords, np.arange(_BATCH, ncoords[-1], _BATCH))
    bounds = np.unique(np.concatenate([[0], cuts + 1, [len(geoms)]]))
    # Each polygon measures F from its own leftmost column (F minus any function of the row
    # alone integrates to the same value around a closed ring), which keeps the terms of the
    # contour sum small and their rounding error near the polygon's own total.
    left = np.nan_to_num(shapely.bounds(geoms)[:, 0], nan=xmin)  # NaN: an empty geometry
    ref = np.clip(np.floor((left - xmin) / cw), 0, w).astype(np.int64)

    def run(k):
        lo, hi = bounds[k], bounds[k + 1]
        out[lo:hi] = _sums(geoms[lo:hi], ref[lo:hi], f, g, xmin, ymax, cw, chh)

    # numpy and shapely release the GIL on whole arrays, so batches run in threads.
    workers = int(os.environ.get("CNI_GEO_THREADS", "0") or 0) or min(os.cpu_count() or 1, 8)
    if workers < 2 or len(bounds) < 3:
        for k in range(len(bounds) - 1):
            run(k)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(len(bounds) - 1)))
    # Rounding can leave -1e-12 where a polygon holds nothing; sums of counts are never < 0.
    return np.maximum(out, 0.0)


def _sums(geoms, ref, f, g, xmin, ymax, cw, chh):
    h, w = f.shape
    # Exterior rings counter-clockwise, holes clockwise, so the contour integral is signed
    # consistently; then every edge of every ring, tagged with its polygon.
    parts, part_of = shapely.get_parts(shapely.orient_polygons(geoms), return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)  # polygons only
    poly_of_ring = part_of[ring_part]
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    # grid units: u = column coordinate, v = row coordinate (0 at the top, increasing down)
    u = (coords[:, 0] - xmin) / cw
    v = (ymax - coords[:, 1]) / chh
    del coords
    # Edge k joins point k to k + 1; the link from one ring to the next is made a zero-length
    # edge (contributing nothing) instead of being removed, which saves copying every array.
    u0, v0 = u[:-1], v[:-1]
    u1, v1 = u[1:].copy(), v[1:].copy()
    link = ring_of[1:] != ring_of[:-1]
    u1[link], v1[link] = u0[link], v0[link]
    own = poly_of_ring[ring_of[:-1]]
    ref = ref[own]
    # Most edges of detailed boundaries stay inside one cell: no cutting needed for those.
    cross = (np.floor(u0) != np.floor(u1)) | (np.floor(v0) != np.floor(v1))
    total = np.zeros(len(geoms))
    total += np.bincount(
        own[~cross],
        weights=_contrib(u0[~cross], v0[~cross], u1[~cross], v1[~cross], ref[~cross], f, g),
        minlength=len(geoms),
    )
    if cross.any():
        own, ref = own[cross], ref[cross]
        # rows: cut at integer v inside the grid (outside it f = 0, no need to cut further)
        v0, u0, v1, u1, s = _split(v0[cross], u0[cross], v1[cross], u1[cross], 0, f.shape[0])
        own, ref = own[s], ref[s]
        # columns: cut at integer u inside the grid (F is constant left and right of it)
        u0, v0, u1, v1, s = _split(u0, v0, u1, v1, 0, f.shape[1])
        total += np.bincount(
            own[s], weights=_contrib(u0, v0, u1, v1, ref[s], f, g), minlength=len(geoms)
        )
    return total


def _contrib(u0, v0, u1, v1, ref, f, g):
    """dv * F(midpoint) of segments that each lie inside one cell (or outside the grid)."""
    h, w = f.shape
    um = 0.5 * (u0 + u1)
    r = np.floor(0.5 * (v0 + v1)).astype(np.int64)
    c = np.floor(um).astype(np.int64)
    rr = np.clip(r, 0, h - 1)
    cc = np.clip(c, 0, w - 1)
    fvals = g[rr, cc] + f[rr, cc] * (um - cc)
    right = um >= w
    fvals[right] = g[rr[right], w]
    fvals[um <= 0] = 0.0
    fvals -= g[rr, ref]
    fvals[(r < 0) | (r >= h)] = 0.0
    # v grows downwards, so a counter-clockwise ring in (x, y) is clockwise in (u, v).
    return -(v1 - v0) * fvals
