"""A deterministic synthetic country the size of England and Wales, for the national benchmark.

Writes, once, into a cache folder outside the repository (default ``~/.cache/cni-geo/england``)
the same files, layers and columns as the demo region:

- ``boundaries.gpkg``: layers ``oa`` (~188,880), ``lsoa`` (~33,750), ``msoa`` (~7,264) that nest
  exactly, and ``ward`` (~7,000) that do not;
- ``assets.gpkg`` layer ``assets``: 200,000 points in 10 categories, clustered like towns;
- ``roads.gpkg`` layer ``roads``: one 2-point LineString per road edge, >= 3 M nodes;
- ``population_100m.tif``: float32, tiled, DEFLATE, 100 m cells over ~130,000 km2;
- ``postcodes.csv`` (1.7 M points with residents), ``turnout_ward.csv``, ``broadband_oa.csv``,
  ``imd_lsoa.csv``; and ``manifest.json`` (scale, seed, counts, generation time).

How it is built (vectorised, no loop per feature): an MSOA lattice with jittered shared vertices;
each MSOA is cut into 4-5 LSOA strips and each LSOA into 5-6 OA strips in the MSOA's bilinear
(a, b) parameter space (the strip direction alternates per MSOA), so nesting is exact by
construction: an LSOA's ring holds every vertex of its OAs on its boundary, and an MSOA's ring
every vertex of its LSOAs. All coordinates then pass through one smooth, compactly supported
radial contraction per town (a bijection), which packs small OAs into towns and cities as in the
real country, where OAs hold similar numbers of residents. Wards are a rotated, jittered lattice
through the same warp, clipped to the country. Roads are a jittered lattice graph through the
same warp (so towns have dense streets), with a road-class hierarchy.

Run ``python benchmarks/synthetic_england.py --help``. ``--scale 0.05`` gives a quick 5% case.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240927
DEFAULT_OUT = Path(os.environ.get("CNI_GEO_CACHE", Path.home() / ".cache" / "cni-geo")) / "england"
CRS = "EPSG:27700"

# Full-scale targets (England and Wales 2021).
N_MSOA = 7_264
N_LSOA = 33_750
N_OA = 188_880
N_WARD = 7_000
N_POSTCODES = 1_700_000
N_ROAD_NODES = 3_200_000
AREA_KM2 = 130_000.0
ASPECT = 1.25  # width / height of the unwarped rectangle
ORIGIN = (130_000.0, 60_000.0)  # south-west corner, British National Grid metres

# Ten asset categories -> (group, count at full scale); counts loosely follow England.
ASSET_CATEGORIES: dict[str, tuple[str, int]] = {
    "community_centre": ("community_space", 12_000),
    "place_of_worship": ("community_space", 40_000),
    "primary_school": ("education", 17_000),
    "secondary_school": ("education", 3_500),
    "pub": ("sport_leisure", 40_000),
    "library": ("culture", 3_000),
    "park": ("green_space", 27_000),
    "gp": ("service", 6_500),
    "pharmacy": ("service", 11_000),
    "food_shop": ("service", 40_000),
}
# Share of each category placed uniformly over the land rather than where people live.
RURAL_SHARE = {"place_of_worship": 0.35, "park": 0.3, "pub": 0.25, "primary_school": 0.15}

_SYLLABLES = np.array(
    "ash bar bel bram brook bur by carl chester cot dale den don ford gate ham hurst ing kirk "
    "lea ley low mar mere mill minster ness new north ock pool port sand shaw stoke stow "
    "thorn ton wall well wick win wood worth".split()
)


# --------------------------------------------------------------------------------------------
# geometry helpers


class Country:
    """The unwarped rectangle, its towns and the warp that packs cells into towns."""

    def __init__(self, scale: float, rng: np.random.Generator):
        area_m2 = AREA_KM2 * 1e6 * scale
        self.height = float(np.sqrt(area_m2 / ASPECT))
        self.width = ASPECT * self.height
        self.x0, self.y0 = ORIGIN
        # Towns: a few cities, more towns, many villages (numbers scale with the area).
        specs = [  # (count at full scale, A, radius of influence in m)
            (12, 0.86, 36_000.0),
            (90, 0.7, 14_000.0),
            (300, 0.45, 9_000.0),
        ]
        towns = []
        for count, a, radius in specs:
            n = max(1, int(round(count * scale)))
            cx = self.x0 + rng.uniform(0.05, 0.95, n) * self.width
            cy = self.y0 + rng.uniform(0.05, 0.95, n) * self.height
            amp = np.clip(a + rng.normal(0, 0.05, n), 0.2, 0.9)
            rad = radius * rng.uniform(0.7, 1.3, n)
            towns.append(np.column_stack([cx, cy, amp, rad]))
        self.towns = np.vstack(towns)

    def warp(self, xy: np.ndarray) -> np.ndarray:
        """Map points through every town's radial contraction r' = r (1 - A (1 - (r/R)^2)^2).

        d r'/d r > 0 for A < 1, and the map is the identity beyond R, so each step (and their
        composition) is a smooth bijection: shared vertices stay shared, rings stay simple.
        """
        out = np.array(xy, dtype="float64", copy=True)
        for cx, cy, amp, rad in self.towns:
            near = (np.abs(out[:, 0] - cx) < rad) & (np.abs(out[:, 1] - cy) < rad)
            if not near.any():
                continue
            idx = np.flatnonzero(near)
            dx = out[idx, 0] - cx
            dy = out[idx, 1] - cy
            s = (dx * dx + dy * dy) / (rad * rad)
            w = np.where(s < 1.0, (1.0 - s) ** 2, 0.0)
            f = 1.0 - amp * w
            out[idx, 0] = cx + dx * f
            out[idx, 1] = cy + dy * f
        return out


def _cuts(rng: np.random.Generator, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random strip boundaries in [0, 1] for groups of ``counts`` strips: (start, end) per strip."""
    n = int(counts.sum())
    group = np.repeat(np.arange(len(counts)), counts)
    w = rng.uniform(0.6, 1.4, n)
    csum = np.cumsum(w)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    before = np.concatenate([[0.0], csum])[first][group]
    total = (csum[np.cumsum(counts) - 1])[group] - before
    end = (csum - before) / total
    start = np.concatenate([[0.0], end[:-1]])
    start[first] = 0.0
    end[np.cumsum(counts) - 1] = 1.0
    return start, end


def _bilinear(corners: np.ndarray, parent: np.ndarray, a: np.ndarray, b: np.ndarray, flip):
    """Points at parameters (a, b) of quadrilateral parents (corners: n x 4 x 2: P00 P10 P01 P11)."""
    u = np.where(flip[parent], b, a)
    v = np.where(flip[parent], a, b)
    c = corners[parent]
    uu = u[:, None]
    vv = v[:, None]
    return (
        (1 - uu) * (1 - vv) * c[:, 0]
        + uu * (1 - vv) * c[:, 1]
        + (1 - uu) * vv * c[:, 2]
        + uu * vv * c[:, 3]
    )


def _rings_to_polygons(ring_id: np.ndarray, seq: np.ndarray, xy: np.ndarray, n: int):
    """Polygons from unordered (ring, order) vertex rows; rings are closed here."""
    import shapely

    order = np.lexsort((seq, ring_id))
    ring_id = ring_id[order]
    xy = xy[order]
    first = np.searchsorted(ring_id, np.arange(n))
    ids = np.concatenate([ring_id, np.arange(n)])
    pts = np.concatenate([xy, xy[first]])
    order2 = np.argsort(ids, kind="stable")
    rings = shapely.linearrings(pts[order2], indices=ids[order2])
    return shapely.polygons(rings)


def _nonconvex(vx: np.ndarray, vy: np.ndarray) -> np.ndarray:
    """Mask (nx, ny) of lattice cells whose quadrilateral is not strictly convex."""
    q = np.stack(
        [
            np.stack([vx[:-1, :-1], vy[:-1, :-1]], -1),
            np.stack([vx[1:, :-1], vy[1:, :-1]], -1),
            np.stack([vx[1:, 1:], vy[1:, 1:]], -1),
            np.stack([vx[:-1, 1:], vy[:-1, 1:]], -1),
        ],
        axis=2,
    )
    e = np.roll(q, -1, axis=2) - q
    f = np.roll(e, -1, axis=2)
    cross = e[..., 0] * f[..., 1] - e[..., 1] * f[..., 0]
    return ~(cross > 0).all(-1)


def _convexify(vx: np.ndarray, vy: np.ndarray, *, rounds: int = 50) -> None:
    """Smooth the interior vertices of non-convex cells (in place) until every cell is convex.

    A bilinear patch of a convex quadrilateral maps strips to simple, convex quadrilaterals;
    the town warp sampled on a coarse lattice can fold a few cells where towns overlap.
    """
    for _ in range(rounds):
        bad = _nonconvex(vx, vy)
        if not bad.any():
            return
        touch = np.zeros(vx.shape, bool)
        i, j = np.nonzero(bad)
        for di in (0, 1):
            for dj in (0, 1):
                touch[i + di, j + dj] = True
        touch[0, :] = touch[-1, :] = touch[:, 0] = touch[:, -1] = False
        for v in (vx, vy):
            avg = (v[:-2, 1:-1] + v[2:, 1:-1] + v[1:-1, :-2] + v[1:-1, 2:]) / 4
            inner = touch[1:-1, 1:-1]
            v[1:-1, 1:-1][inner] = 0.5 * v[1:-1, 1:-1][inner] + 0.5 * avg[inner]
    msg = "could not make every MSOA cell convex; lower the town amplitudes"
    raise RuntimeError(msg)


def _names(rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.choice(_SYLLABLES, n)
    b = rng.choice(_SYLLABLES, n)
    names = pd.Series(a).str.capitalize() + pd.Series(b)
    # make unique deterministically
    dup = names.duplicated(keep="first")
    names[dup] = names[dup] + " " + pd.Series(np.arange(n))[dup].astype(str)
    return names.to_numpy()


def _codes(prefix: str, n: int) -> np.ndarray:
    return (prefix + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(7)).to_numpy()


# --------------------------------------------------------------------------------------------
# the case


def build_areas(country: Country, scale: float, rng: np.random.Generator) -> dict:
    """OA/LSOA/MSOA polygons (exactly nested) plus the parameters needed to place points."""
    import shapely

    n_msoa_target = max(4, int(round(N_MSOA * scale)))
    nx = max(2, int(round(np.sqrt(n_msoa_target * ASPECT))))
    ny = max(2, int(round(n_msoa_target / nx)))
    cw, ch = country.width / nx, country.height / ny
    gx, gy = np.meshgrid(np.arange(nx + 1), np.arange(ny + 1), indexing="ij")
    vx = country.x0 + gx * cw
    vy = country.y0 + gy * ch
    inner = (gx > 0) & (gx < nx) & (gy > 0) & (gy < ny)
    vx = vx + np.where(inner, rng.uniform(-0.22, 0.22, vx.shape) * cw, 0.0)
    vy = vy + np.where(inner, rng.uniform(-0.22, 0.22, vy.shape) * ch, 0.0)
    # Warp the MSOA lattice vertices only; everything inside an MSOA is bilinear in its warped
    # corners, so every edge stays a straight segment and the vertices that one unit has on a
    # neighbour's edge are collinear with it (no gaps or overlaps across T-junctions).
    warped = country.warp(np.column_stack([vx.ravel(), vy.ravel()]))
    vx = warped[:, 0].reshape(vx.shape)
    vy = warped[:, 1].reshape(vy.shape)
    _convexify(vx, vy)
    # The land: the ring of outer lattice vertices (MSOA outer edges are straight segments).
    ring_ij = (
        [(k, 0) for k in range(nx + 1)]
        + [(nx, k) for k in range(1, ny + 1)]
        + [(k, ny) for k in range(nx - 1, -1, -1)]
        + [(0, k) for k in range(ny - 1, 0, -1)]
    )
    ri = np.array(ring_ij)
    land = shapely.polygons(np.column_stack([vx[ri[:, 0], ri[:, 1]], vy[ri[:, 0], ri[:, 1]]]))
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    i, j = i.ravel(), j.ravel()
    corners = np.stack(
        [
            np.column_stack([vx[i, j], vy[i, j]]),
            np.column_stack([vx[i + 1, j], vy[i + 1, j]]),
            np.column_stack([vx[i, j + 1], vy[i, j + 1]]),
            np.column_stack([vx[i + 1, j + 1], vy[i + 1, j + 1]]),
        ],
        axis=1,
    )
    n_msoa = len(i)
    flip = ((i + j) % 2 == 1) ^ (rng.random(n_msoa) < 0.2)

    p5 = N_LSOA / N_MSOA - 4
    k_l = 4 + (rng.random(n_msoa) < p5).astype(int)
    l_parent = np.repeat(np.arange(n_msoa), k_l)
    la0, la1 = _cuts(rng, k_l)
    n_lsoa = len(l_parent)
    p6 = N_OA / N_LSOA - 5
    k_o = 5 + (rng.random(n_lsoa) < p6).astype(int)
    o_lsoa = np.repeat(np.arange(n_lsoa), k_o)
    ob0, ob1 = _cuts(rng, k_o)
    n_oa = len(o_lsoa)
    o_msoa = l_parent[o_lsoa]
    oa0, oa1 = la0[o_lsoa], la1[o_lsoa]

    def place(parent, a, b):
        return _bilinear(corners, parent, a, b, flip)

    # OA rings: 4 corners.
    ring = np.repeat(np.arange(n_oa), 4)
    seq = np.tile(np.arange(4), n_oa)
    a = np.column_stack([oa0, oa1, oa1, oa0]).ravel()
    b = np.column_stack([ob0, ob0, ob1, ob1]).ravel()
    oa_geom = _rings_to_polygons(ring, seq, place(o_msoa[ring], a, b), n_oa)

    # LSOA rings: (a0,0) (a1,0) (a1, b cuts..) (a1,1) (a0,1) (a0, b cuts reversed..).
    interior = ob1 < 1.0  # OA strips whose end is an interior cut of their LSOA
    cut_l = o_lsoa[interior]
    cut_b = ob1[interior]
    cut_rank = np.arange(len(cut_l)) - np.searchsorted(cut_l, cut_l)
    rings, seqs, aa, bb = [], [], [], []
    ids = np.arange(n_lsoa)
    for s, av, bv in ((0, la0, 0.0), (1, la1, 0.0), (3, la1, 1.0), (4, la0, 1.0)):
        rings.append(ids)
        seqs.append(np.full(n_lsoa, s * 10_000.0))
        aa.append(av)
        bb.append(np.full(n_lsoa, bv))
    rings += [cut_l, cut_l]
    seqs += [1 * 10_000.0 + 1 + cut_rank, 4 * 10_000.0 + 1 + (100 - cut_rank)]
    aa += [la1[cut_l], la0[cut_l]]
    bb += [cut_b, cut_b]
    ring, seq, a, b = (np.concatenate(x) for x in (rings, seqs, aa, bb))
    lsoa_geom = _rings_to_polygons(ring, seq, place(l_parent[ring], a, b), n_lsoa)

    # MSOA rings: bottom a cuts, right edge b cuts of the last LSOA, top, left of the first.
    first_l = np.searchsorted(l_parent, np.arange(n_msoa))
    last_l = np.searchsorted(l_parent, np.arange(n_msoa), side="right") - 1
    is_first = np.zeros(n_lsoa, bool)
    is_first[first_l] = True
    is_last = np.zeros(n_lsoa, bool)
    is_last[last_l] = True
    l_rank = np.arange(n_lsoa) - first_l[l_parent]
    rings = [l_parent, l_parent, np.arange(n_msoa), np.arange(n_msoa)]
    seqs = [0 + l_rank, 20_000 + 100 - l_rank, np.full(n_msoa, 10_000), np.full(n_msoa, 30_000)]
    aa = [la0, la1, np.ones(n_msoa), np.zeros(n_msoa)]
    bb = [np.zeros(n_lsoa), np.ones(n_lsoa), np.zeros(n_msoa), np.ones(n_msoa)]
    # bottom-right corner (1,0) and top-left (0,1) added above; right-top (1,1) is la1 of last
    # LSOA on the top edge (l_rank max, included), bottom-left (0,0) is la0 of the first LSOA.
    right = is_last[cut_l]
    left = is_first[cut_l]
    rings += [l_parent[cut_l[right]], l_parent[cut_l[left]]]
    seqs += [10_000 + 1 + cut_rank[right], 30_000 + 1 + (100 - cut_rank[left])]
    aa += [np.ones(right.sum()), np.zeros(left.sum())]
    bb += [cut_b[right], cut_b[left]]
    ring, seq, a, b = (np.concatenate(x).astype(float) for x in (rings, seqs, aa, bb))
    ring = ring.astype(np.int64)
    msoa_geom = _rings_to_polygons(ring, seq, place(ring, a, b), n_msoa)

    # Drop duplicate consecutive vertices (top-left corner appears twice in MSOA rings).
    msoa_geom = shapely.remove_repeated_points(msoa_geom)
    return {
        "corners": corners,
        "flip": flip,
        "n_msoa": n_msoa,
        "n_lsoa": n_lsoa,
        "n_oa": n_oa,
        "l_parent": l_parent,
        "o_lsoa": o_lsoa,
        "o_msoa": o_msoa,
        "oa_ab": np.column_stack([oa0, oa1, ob0, ob1]),
        "oa_geom": oa_geom,
        "lsoa_geom": lsoa_geom,
        "msoa_geom": msoa_geom,
        "land": land,
    }


def build_wards(country: Country, scale: float, rng: np.random.Generator, land):
    """A rotated, jittered lattice through the town warp, clipped to the country."""
    import shapely

    n_target = max(4, int(round(N_WARD * scale)))
    # Oversize the lattice: clipping to the country keeps roughly (W*H)/(cell^2) cells.
    cell = np.sqrt(country.width * country.height / n_target)
    theta = np.deg2rad(17.0)
    diag = np.hypot(country.width, country.height)
    n = int(np.ceil(diag / cell)) + 2
    g = (np.arange(n + 1) - n / 2) * cell
    gx, gy = np.meshgrid(g, g, indexing="ij")
    gx = gx + rng.uniform(-0.25, 0.25, gx.shape) * cell
    gy = gy + rng.uniform(-0.25, 0.25, gy.shape) * cell
    cx = country.x0 + country.width / 2 + 3_100.0
    cy = country.y0 + country.height / 2 - 1_700.0
    px = cx + gx * np.cos(theta) - gy * np.sin(theta)
    py = cy + gx * np.sin(theta) + gy * np.cos(theta)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    i, j = i.ravel(), j.ravel()
    # Keep only cells that touch the unwarped rectangle (warp maps it onto the land).
    xs = np.stack([px[i, j], px[i + 1, j], px[i + 1, j + 1], px[i, j + 1]], axis=1)
    ys = np.stack([py[i, j], py[i + 1, j], py[i + 1, j + 1], py[i, j + 1]], axis=1)
    keep = (
        (xs.max(1) > country.x0)
        & (xs.min(1) < country.x0 + country.width)
        & (ys.max(1) > country.y0)
        & (ys.min(1) < country.y0 + country.height)
    )
    xs, ys = xs[keep], ys[keep]
    m = len(xs)
    # Densify edges (5 points per side) so the warp bends them like the OA lattice.
    t = np.linspace(0, 1, 5, endpoint=False)
    pts = []
    for k in range(4):
        k2 = (k + 1) % 4
        pts.append(xs[:, [k]] + (xs[:, [k2]] - xs[:, [k]]) * t)
        pts.append(ys[:, [k]] + (ys[:, [k2]] - ys[:, [k]]) * t)
    wx = np.concatenate(pts[0::2], axis=1)
    wy = np.concatenate(pts[1::2], axis=1)
    xy = country.warp(np.column_stack([wx.ravel(), wy.ravel()])).reshape(m, 20, 2)
    xy = np.concatenate([xy, xy[:, :1]], axis=1)
    cells = shapely.polygons(xy)
    clipped = shapely.intersection(cells, land)
    clipped = shapely.make_valid(clipped)
    area = shapely.area(clipped)
    # Slivers along the edge of the land: drop pieces below 5% of their (warped) cell.
    keep = area > 0.05 * shapely.area(cells)
    return clipped[keep]


def run(out: Path, *, scale: float = 1.0, seed: int = SEED, force: bool = False) -> dict:
    """Generate the case into ``out`` unless a manifest for the same scale and seed is there."""
    import geopandas as gpd
    import pyogrio
    import rasterio
    import shapely
    from rasterio.features import rasterize
    from rasterio.transform import from_origin
    from scipy.ndimage import gaussian_filter

    out = Path(out).expanduser()
    manifest_path = out / "manifest.json"
    if manifest_path.exists() and not force:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("scale") == scale and manifest.get("seed") == seed:
            return manifest | {"reused": True}
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    rng = np.random.default_rng(seed)

    def tick(name: str, t0: float) -> float:
        t = time.perf_counter()
        timings[name] = round(t - t0, 2)
        print(f"  {name:<12} {t - t0:7.1f} s", file=sys.stderr, flush=True)
        return t

    t = time.perf_counter()
    country = Country(scale, rng)
    geo = build_areas(country, scale, rng)
    n_oa, n_lsoa, n_msoa = geo["n_oa"], geo["n_lsoa"], geo["n_msoa"]
    t = tick("areas", t)

    # ---- population, codes, names
    pop = np.clip(np.round(rng.normal(310, 75, n_oa)), 100, 625).astype(np.int64)
    oa_code = _codes("X00", n_oa)
    lsoa_code = _codes("X01", n_lsoa)
    msoa_code = _codes("X02", n_msoa)
    # Local authorities: blocks of about 22 MSOAs in lattice order.
    n_lad = max(1, n_msoa // 22)
    lad_of_msoa = np.minimum(np.arange(n_msoa) * n_lad // n_msoa, n_lad - 1)
    lad_names = _names(rng, n_lad)
    msoa_seq = np.arange(n_msoa) - np.searchsorted(lad_of_msoa, lad_of_msoa)
    msoa_name = (
        pd.Series(lad_names[lad_of_msoa]) + " " + pd.Series(msoa_seq + 1).astype(str).str.zfill(3)
    ).to_numpy()
    l_parent = geo["l_parent"]
    l_rank = np.arange(n_lsoa) - np.searchsorted(l_parent, l_parent)
    letters = np.array(list("ABCDEFGHIJ"))
    lsoa_name = (pd.Series(msoa_name[l_parent]) + pd.Series(letters[l_rank])).to_numpy()
    lsoa_pop = np.bincount(geo["o_lsoa"], weights=pop, minlength=n_lsoa).astype(np.int64)
    msoa_pop = np.bincount(l_parent, weights=lsoa_pop, minlength=n_msoa).astype(np.int64)

    oa = gpd.GeoDataFrame(
        {
            "oa_code": oa_code,
            "lsoa_code": lsoa_code[geo["o_lsoa"]],
            "msoa_code": msoa_code[geo["o_msoa"]],
            "population": pop,
        },
        geometry=geo["oa_geom"],
        crs=CRS,
    )
    lsoa = gpd.GeoDataFrame(
        {
            "lsoa_code": lsoa_code,
            "lsoa_name": lsoa_name,
            "msoa_code": msoa_code[l_parent],
            "population": lsoa_pop,
        },
        geometry=geo["lsoa_geom"],
        crs=CRS,
    )
    msoa = gpd.GeoDataFrame(
        {
            "msoa_code": msoa_code,
            "msoa_name": msoa_name,
            "lad_name": lad_names[lad_of_msoa],
            "population": msoa_pop,
        },
        geometry=geo["msoa_geom"],
        crs=CRS,
    )
    land = geo["land"]
    t = tick("attributes", t)

    ward_geom = build_wards(country, scale, rng, land)
    n_ward = len(ward_geom)
    ward_code = _codes("X05", n_ward)
    ward = gpd.GeoDataFrame(
        {"ward_code": ward_code, "ward_name": _names(rng, n_ward)}, geometry=ward_geom, crs=CRS
    )
    t = tick("wards", t)

    # ---- postcodes: >= 1 per OA, the rest in proportion to population
    n_pc = max(n_oa, int(round(N_POSTCODES * scale)))
    extra = rng.multinomial(n_pc - n_oa, pop / pop.sum())
    per_oa = 1 + extra
    pc_oa = np.repeat(np.arange(n_oa), per_oa)
    ab = geo["oa_ab"][pc_oa]
    ua = rng.uniform(0.08, 0.92, n_pc)
    ub = rng.uniform(0.08, 0.92, n_pc)
    a = ab[:, 0] + ua * (ab[:, 1] - ab[:, 0])
    b = ab[:, 2] + ub * (ab[:, 3] - ab[:, 2])
    # Place inside the *warped* OA quadrilateral (bilinear on its 4 warped corners), so each
    # postcode lies inside the straight-edged OA polygon it is coded to.
    oa_xy = shapely.get_coordinates(geo["oa_geom"]).reshape(n_oa, 5, 2)[:, :4]
    q = oa_xy[pc_oa]
    # ring order from _rings_to_polygons: (a0,b0) (a1,b0) (a1,b1) (a0,b1)
    s_a = ua[:, None]
    s_b = ub[:, None]
    pc_xy = (
        (1 - s_a) * (1 - s_b) * q[:, 0]
        + s_a * (1 - s_b) * q[:, 1]
        + s_a * s_b * q[:, 2]
        + (1 - s_a) * s_b * q[:, 3]
    )
    del a, b, ab, q
    # Residents: split each OA's population over its postcodes; ~8% are non-residential.
    w = rng.gamma(1.5, 1.0, n_pc)
    w[rng.random(n_pc) < 0.08] = 0.0
    first = np.concatenate([[0], np.cumsum(per_oa)[:-1]])
    wsum = np.bincount(pc_oa, weights=w, minlength=n_oa)
    empty = wsum == 0
    w[first[empty]] = 1.0
    wsum[empty] = 1.0
    residents = np.floor(pop[pc_oa] * w / wsum[pc_oa]).astype(np.int64)
    short = pop - np.bincount(pc_oa, weights=residents, minlength=n_oa).astype(np.int64)
    # Give the remainder to each OA's heaviest postcode.
    order = np.lexsort((-w, pc_oa))
    heaviest = order[first]
    residents[heaviest] += short
    k = np.arange(n_pc)
    area_letters = np.array(["XA", "XB", "XC", "XD", "XE", "XF", "XG", "XH", "XJ", "XK"])
    alpha = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
    postcode = (
        pd.Series(area_letters[(k // 400_000) % 10])
        + pd.Series((k // 4_000) % 100).astype(str)
        + " "
        + pd.Series((k // 400) % 10).astype(str)
        + pd.Series(alpha[(k // 20) % 20])
        + pd.Series(alpha[k % 20])
    )
    postcodes = pd.DataFrame(
        {
            "postcode": postcode,
            "easting": np.round(pc_xy[:, 0], 1),
            "northing": np.round(pc_xy[:, 1], 1),
            "oa_code": oa_code[pc_oa],
            "residents": residents,
        }
    )
    t = tick("postcodes", t)

    # ---- assets: mostly where people live, some spread over the land, jittered ~150 m
    bounds = shapely.bounds(land)
    rows = []
    p_res = residents / residents.sum()
    next_id = 0
    for category, (group, count) in ASSET_CATEGORIES.items():
        n = max(1, int(round(count * scale)))
        rural = rng.random(n) < RURAL_SHARE.get(category, 0.1)
        n_town = int((~rural).sum())
        pick = rng.choice(n_pc, n_town, p=p_res)
        xy = np.empty((n, 2))
        xy[~rural] = pc_xy[pick] + rng.normal(0, 150.0, (n_town, 2))
        # Rural ones: near a random postcode picked uniformly (postcodes cover all land).
        pick_r = rng.integers(0, n_pc, int(rural.sum()))
        xy[rural] = pc_xy[pick_r] + rng.normal(0, 400.0, (int(rural.sum()), 2))
        ids = np.arange(next_id, next_id + n)
        next_id += n
        label = category.replace("_", " ").title()
        rows.append(
            pd.DataFrame(
                {
                    "asset_id": ("A" + pd.Series(ids + 1).astype(str).str.zfill(7)).to_numpy(),
                    "name": (label + " " + pd.Series(ids - ids[0] + 1).astype(str)).to_numpy(),
                    "category": category,
                    "group": group,
                    "x": xy[:, 0],
                    "y": xy[:, 1],
                }
            )
        )
    assets_df = pd.concat(rows, ignore_index=True)
    assets = gpd.GeoDataFrame(
        assets_df.drop(columns=["x", "y"]),
        geometry=shapely.points(assets_df[["x", "y"]].to_numpy()),
        crs=CRS,
    )
    # Points jittered into the sea are moved back to their postcode-ish location is overkill:
    # keep only those on land (a handful at the coast are dropped).
    on_land = shapely.contains_xy(land, assets_df["x"].to_numpy(), assets_df["y"].to_numpy())
    assets = assets[on_land].reset_index(drop=True)
    t = tick("assets", t)

    # ---- raster: residents per 100 m cell, lightly smoothed, nodata off the land
    res = 100.0
    xmin = np.floor(bounds[0] / 1000) * 1000 - 1000
    ymin = np.floor(bounds[1] / 1000) * 1000 - 1000
    xmax = np.ceil(bounds[2] / 1000) * 1000 + 1000
    ymax = np.ceil(bounds[3] / 1000) * 1000 + 1000
    width = int(round((xmax - xmin) / res))
    height = int(round((ymax - ymin) / res))
    col = ((pc_xy[:, 0] - xmin) // res).astype(np.int64)
    row = ((ymax - pc_xy[:, 1]) // res).astype(np.int64)
    grid = np.bincount(row * width + col, weights=residents, minlength=width * height)
    grid = gaussian_filter(grid.reshape(height, width).astype("float32"), sigma=1.0)
    transform = from_origin(xmin, ymax, res, res)
    mask = rasterize(
        [land], out_shape=(height, width), transform=transform, fill=0, default_value=1
    )
    nodata = -9999.0
    grid[mask == 0] = nodata
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": width,
        "height": height,
        "crs": CRS,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "DEFLATE",
        "predictor": 3,
        "num_threads": "ALL_CPUS",
    }
    tif_tmp = out / ".population_100m.tif.part"
    with rasterio.open(tif_tmp, "w", **profile) as dst:
        dst.write(grid, 1)
    os.replace(tif_tmp, out / "population_100m.tif")
    raster_cells = int(width) * int(height)
    del grid, mask
    t = tick("raster", t)

    # ---- tables
    # Ward electorate from the postcodes inside each ward (point in polygon, STRtree).
    tree = shapely.STRtree(ward.geometry.values)
    pc_points = shapely.points(pc_xy)
    pi, wi = tree.query(pc_points, predicate="within")
    ward_res = np.bincount(wi, weights=residents[pi], minlength=n_ward)
    electorate = np.round(ward_res * rng.uniform(0.72, 0.8, n_ward)).astype(np.int64)
    electorate = np.maximum(electorate, 50)
    density = ward_res / (ward.area.to_numpy() / 1e6)
    base = 38 - 4 * np.log10(1 + density / 1000) + rng.normal(0, 6, n_ward)
    votes = np.round(electorate * np.clip(base, 12, 65) / 100).astype(np.int64)
    turnout = pd.DataFrame(
        {
            "ward_code": ward_code,
            "electorate": electorate,
            "votes": votes,
            "turnout_pct": np.round(100 * votes / electorate, 2),
        }
    )
    del pc_points, pi, wi
    oa_area_km2 = shapely.area(geo["oa_geom"]) / 1e6
    oa_density = pop / oa_area_km2
    premises = np.maximum(1, np.round(pop / rng.uniform(2.1, 2.6, n_oa))).astype(np.int64)
    urban = np.clip(np.log10(oa_density + 1) / 4, 0, 1)
    mbps = np.round(np.exp(rng.normal(3.2 + 1.6 * urban, 0.45)), 1)
    below = np.clip(np.round(60 * (1 - urban) ** 2 + rng.normal(0, 3, n_oa), 1), 0, 100)
    broadband = pd.DataFrame(
        {
            "oa_code": oa_code,
            "premises": premises,
            "avg_download_mbps": mbps,
            "pct_below_10mbps": below,
        }
    )
    broadband = broadband[rng.random(n_oa) >= 0.003]  # ~0.3% of OAs not published
    lsoa_density = lsoa_pop / (shapely.area(geo["lsoa_geom"]) / 1e6)
    imd_score = np.round(
        np.exp(rng.normal(2.8 + 0.18 * np.log10(lsoa_density + 1), 0.55)).clip(0.5, 92), 3
    )
    imd_rank = pd.Series(imd_score).rank(method="min", ascending=False).astype(np.int64)
    imd = pd.DataFrame(
        {
            "lsoa_code": lsoa_code,
            "imd_score": imd_score,
            "imd_rank": imd_rank.to_numpy(),
            "imd_decile": np.ceil(10 * imd_rank.to_numpy() / n_lsoa).astype(np.int64),
        }
    )
    t = tick("tables", t)

    # ---- roads: jittered lattice graph through the warp, one LineString per edge
    n_nodes_target = max(400, int(round(N_ROAD_NODES * scale)))
    spacing = np.sqrt(country.width * country.height / n_nodes_target)
    rnx = int(country.width // spacing) + 1
    rny = int(country.height // spacing) + 1
    gx, gy = np.meshgrid(np.arange(rnx), np.arange(rny), indexing="ij")
    nx_ = country.x0 + (gx + 0.5) * (country.width / rnx)
    ny_ = country.y0 + (gy + 0.5) * (country.height / rny)
    nx_ = nx_ + rng.uniform(-0.3, 0.3, nx_.shape) * spacing
    ny_ = ny_ + rng.uniform(-0.3, 0.3, ny_.shape) * spacing
    nodes = country.warp(np.column_stack([nx_.ravel(), ny_.ravel()]))
    node_id = np.arange(rnx * rny).reshape(rnx, rny)
    del nx_, ny_, gx, gy

    def klass(line_index: np.ndarray) -> np.ndarray:
        c = np.full(line_index.shape, 4, np.int8)  # residential
        c[line_index % 6 == 0] = 3  # tertiary
        c[line_index % 24 == 0] = 2  # secondary
        c[line_index % 96 == 0] = 1  # primary
        c[line_index % 192 == 0] = 0  # motorway
        return c

    # Horizontal edges (along x, on row j) and vertical edges (along y, on column i).
    h_from = node_id[:-1, :].ravel()
    h_to = node_id[1:, :].ravel()
    h_cls = klass(np.broadcast_to(np.arange(rny), (rnx - 1, rny)).ravel())
    v_from = node_id[:, :-1].ravel()
    v_to = node_id[:, 1:].ravel()
    v_cls = klass(np.broadcast_to(np.arange(rnx)[:, None], (rnx, rny - 1)).ravel())
    e_from = np.concatenate([h_from, v_from])
    e_to = np.concatenate([h_to, v_to])
    e_cls = np.concatenate([h_cls, v_cls])
    del h_from, h_to, v_from, v_to, h_cls, v_cls
    # Residential streets: drop 30% of edges, as real street grids are not complete lattices.
    keep = (e_cls < 4) | (rng.random(len(e_cls)) >= 0.3)
    e_from, e_to, e_cls = e_from[keep], e_to[keep], e_cls[keep]
    coords = np.stack([nodes[e_from], nodes[e_to]], axis=1)
    road_geom = shapely.linestrings(coords)
    # Only edges on land (the lattice covers the unwarped rectangle that maps onto the land).
    class_names = np.array(["motorway", "primary", "secondary", "tertiary", "residential"])
    oneway = (e_cls == 0) | ((e_cls == 4) & (rng.random(len(e_cls)) < 0.05))
    roads = gpd.GeoDataFrame(
        {"road_class": class_names[e_cls], "oneway": oneway}, geometry=road_geom, crs=CRS
    )
    n_road_nodes = int(np.unique(np.concatenate([e_from, e_to])).size)
    del coords, e_from, e_to, nodes
    t = tick("roads", t)

    # ---- write (arrow path; temporary names then rename, so a killed run leaves no file)
    def write_gpkg(name: str, layers: dict[str, gpd.GeoDataFrame]) -> None:
        tmp = out / f".{name}.part.gpkg"
        tmp.unlink(missing_ok=True)
        for layer, frame in layers.items():
            pyogrio.write_dataframe(
                frame, tmp, layer=layer, driver="GPKG", use_arrow=True, append=tmp.exists()
            )
        os.replace(tmp, out / name)

    write_gpkg("boundaries.gpkg", {"oa": oa, "lsoa": lsoa, "msoa": msoa, "ward": ward})
    write_gpkg("assets.gpkg", {"assets": assets})
    t = tick("write_areas", t)
    write_gpkg("roads.gpkg", {"roads": roads})
    t = tick("write_roads", t)
    for name, frame in (
        ("postcodes.csv", postcodes),
        ("turnout_ward.csv", turnout),
        ("broadband_oa.csv", broadband),
        ("imd_lsoa.csv", imd),
    ):
        tmp = out / f".{name}.part"
        frame.to_csv(tmp, index=False)
        os.replace(tmp, out / name)
    t = tick("write_csv", t)

    seconds = time.perf_counter() - t_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    manifest = {
        "scale": scale,
        "seed": seed,
        "crs": CRS,
        "counts": {
            "oa": n_oa,
            "lsoa": n_lsoa,
            "msoa": n_msoa,
            "ward": n_ward,
            "postcodes": n_pc,
            "residents": int(pop.sum()),
            "assets": len(assets),
            "road_edges": len(roads),
            "road_nodes": n_road_nodes,
            "raster_cells": raster_cells,
            "land_km2": round(float(shapely.area(land)) / 1e6, 1),
        },
        "categories": {k: v[0] for k, v in ASSET_CATEGORIES.items()},
        "generation_seconds": round(seconds, 1),
        "generation_peak_rss_mb": round(peak_mb),
        "stage_seconds": timings,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate the synthetic England-and-Wales-size case (deterministic)."
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="share of the full size, e.g. 0.05"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--force", action="store_true", help="regenerate even if present")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 8:
        parser.error("--scale must be in (0, 8]")
    manifest = run(args.out, scale=args.scale, seed=args.seed, force=args.force)
    state = "reused" if manifest.get("reused") else "generated"
    print(f"{state} {args.out.expanduser()}")
    print(
        json.dumps(
            {k: manifest[k] for k in ("counts", "generation_seconds", "generation_peak_rss_mb")}
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
