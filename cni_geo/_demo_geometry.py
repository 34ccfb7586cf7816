"""Geometry of the synthetic demo county (private to :mod:`cni_geo.demo`).

The county is built in four steps:

1. an outline, a list of towns and villages and a population density on the 100 m grid;
2. a top-down hierarchy of population-balanced clusters of grid cells (MSOA -> LSOA -> OA),
   whose cells give one seed per output area, plus independent ward seeds;
3. one planar partition: the Voronoi edges of the OA seeds and of the ward seeds and the county
   ring are noded together and snap-rounded to 1 m (GEOS), then polygonized into faces; OAs and
   wards are unions of these faces and LSOAs/MSOAs unions of OAs, so every level shares the same
   integer vertices and nests exactly (no gaps, no overlaps);
4. labels are repaired so that every unit is a single polygon.

Voronoi partitions and snap rounding come from shapely/GEOS; the population-balanced clustering
is a small power-diagram variant of Lloyd's algorithm written here because scipy's k-means does
not take weights or balance cluster masses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

CELL = 100.0
CENTRE = (430_000.0, 270_000.0)
SEMI_AXES = (27_000.0, 17_500.0)

# name, offset east, offset north (m, from CENTRE), population, peak density (people/km2)
TOWNS = (
    ("Northbridge", -2_000, 8_500, 140_000, 5_000),
    ("Eastmere", 17_000, -1_500, 85_000, 4_500),
    ("Kingsford", -17_000, -5_500, 60_000, 4_200),
    ("St Aldric's", 2_500, -10_000, 40_000, 3_800),
    ("Saltby", -19_000, 7_000, 25_000, 3_500),
)
VILLAGES = (
    "Little Hadley",
    "Brockwell",
    "Hale & Thorne",
    "Upper Wyke",
    "Cresswold",
    "Ashcombe",
    "Marden Green",
    "Oakhurst",
    "Fenby",
    "Wickham Parva",
    "Holloway Cross",
    "Rushmere",
    "Stanwick End",
    "Dunmere",
    "Lower Sedge",
    "Bramcote Heath",
    "Pellow",
    "Yardley Hatch",
    "Kestle",
    "Mawby",
    "Orchard Tye",
    "Wendle",
)
VILLAGE_POPULATION = 45_000
RURAL_POPULATION = 55_000
MSOA_COUNT = 60
LSOA_TARGET = 1_500
OA_TARGET = 300
WARD_COUNT = 50


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # "town" or "village"
    x: float
    y: float
    pop: float
    sigma: float  # spread of the settlement (m)


@dataclass
class Grid:
    """The 100 m grid over the county's bounding box (row 0 = north)."""

    x0: float
    y1: float
    width: int
    height: int

    @property
    def transform(self):
        from affine import Affine

        return Affine(CELL, 0.0, self.x0, 0.0, -CELL, self.y1)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        cols = np.arange(self.width)
        rows = np.arange(self.height)
        xs = self.x0 + (cols + 0.5) * CELL
        ys = self.y1 - (rows + 0.5) * CELL
        return np.meshgrid(xs, ys)


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """An independent random stream per component, so editing one leaves the others alone."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


def county_outline(rng: np.random.Generator) -> shapely.Polygon:
    """A wavy ellipse with integer vertices about every 200 m."""
    theta = np.linspace(0.0, 2 * np.pi, 720, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 9):
        r += rng.uniform(0.015, 0.05) / (k / 2) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    x = np.round(CENTRE[0] + SEMI_AXES[0] * r * np.cos(theta))
    y = np.round(CENTRE[1] + SEMI_AXES[1] * r * np.sin(theta))
    poly = shapely.Polygon(np.column_stack([x, y]))
    if not poly.is_valid:  # pragma: no cover - the harmonics are too small to self-intersect
        raise RuntimeError("demo county outline is invalid")
    return poly


def make_places(county: shapely.Polygon, rng: np.random.Generator) -> list[Place]:
    places = []
    for name, dx, dy, pop, peak in TOWNS:
        sigma = float(np.sqrt(pop / (2 * np.pi * peak)) * 1000.0)
        places.append(Place(name, "town", CENTRE[0] + dx, CENTRE[1] + dy, float(pop), sigma))
    inner = county.buffer(-2_000)
    minx, miny, maxx, maxy = inner.bounds
    sizes = rng.lognormal(0.0, 0.45, len(VILLAGES))
    sizes = sizes / sizes.sum() * VILLAGE_POPULATION
    for name, pop in zip(VILLAGES, sizes, strict=True):
        for _ in range(10_000):
            x = float(np.round(rng.uniform(minx, maxx), -1))
            y = float(np.round(rng.uniform(miny, maxy), -1))
            if not inner.contains(shapely.Point(x, y)):
                continue
            ok = all(
                np.hypot(x - p.x, y - p.y) > (2.6 * p.sigma + 1_500 if p.kind == "town" else 3_200)
                for p in places
            )
            if ok:
                break
        else:  # pragma: no cover
            raise RuntimeError(f"could not place the demo village {name}")
        sigma = 300.0 + 200.0 * float(np.sqrt(pop / 2_000.0))
        places.append(Place(name, "village", x, y, float(pop), sigma))
    return places


def make_grid(county: shapely.Polygon) -> Grid:
    minx, miny, maxx, maxy = county.bounds
    x0 = np.floor(minx / CELL) * CELL - CELL
    y0 = np.floor(miny / CELL) * CELL - CELL
    x1 = np.ceil(maxx / CELL) * CELL + CELL
    y1 = np.ceil(maxy / CELL) * CELL + CELL
    return Grid(float(x0), float(y1), int(round((x1 - x0) / CELL)), int(round((y1 - y0) / CELL)))


def settlement_kernels(
    places: list[Place], xs: np.ndarray, ys: np.ndarray, inside: np.ndarray, rng
) -> list[np.ndarray]:
    """Expected residents per cell of each settlement: a main lump and a few irregular lobes."""
    kernels = []
    for p in places:
        k = 0.55 * np.exp(-((xs - p.x) ** 2 + (ys - p.y) ** 2) / (2 * p.sigma**2))
        n_lobes = 4 if p.kind == "town" else 2
        weights = rng.dirichlet(np.ones(n_lobes)) * 0.45
        for w in weights:
            ang = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(0.5, 1.2) * p.sigma
            s = p.sigma * rng.uniform(0.35, 0.6)
            cx, cy = p.x + dist * np.cos(ang), p.y + dist * np.sin(ang)
            k = k + w * (p.sigma / s) ** 2 * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * s**2))
        k = np.where(inside, k, 0.0)
        kernels.append(k / k.sum() * p.pop)
    return kernels


def rural_density(shape, inside: np.ndarray, rng) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), 25.0, mode="reflect")
    noise = (noise - noise.mean()) / noise.std()
    rural = np.where(inside, np.exp(0.7 * noise), 0.0)
    return rural / rural.sum() * RURAL_POPULATION


def deprivation_field(places: list[Place], xs, ys, inside, rng) -> np.ndarray:
    """0..1: high in one peripheral estate per town and a little in town centres."""
    dep = np.zeros_like(xs)
    for p in places:
        if p.kind != "town":
            continue
        ang = rng.uniform(0, 2 * np.pi)
        ex, ey = p.x + 1.3 * p.sigma * np.cos(ang), p.y + 1.3 * p.sigma * np.sin(ang)
        s = 0.7 * p.sigma
        dep += np.exp(-((xs - ex) ** 2 + (ys - ey) ** 2) / (2 * s**2))
        dep += 0.15 * np.exp(-((xs - p.x) ** 2 + (ys - p.y) ** 2) / (2 * (0.5 * p.sigma) ** 2))
    noise = ndimage.gaussian_filter(rng.standard_normal(xs.shape), 12.0, mode="reflect")
    dep += 0.08 + 0.4 * noise / noise.std() * 0.1
    return np.where(inside, np.clip(dep, 0.0, 1.0), 0.0)


# --- population-balanced clustering ---------------------------------------------------------


def balanced_clusters(
    xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Labels 0..k-1 of ``xy`` so that each cluster holds about the same weight ``w``.

    Recursive bisection: each set is cut across its principal axis (turned by a small random
    angle) at the weighted quantile that leaves ``floor(k/2)/k`` of the weight on one side.
    Clusters are compact, convex in the plane and balanced to within one cell's weight, which
    Lloyd-style k-means is not (its clusters in dense towns hold far more people).
    """
    n = len(xy)
    labels = np.zeros(n, dtype=np.int64)
    stack = [(np.arange(n), k, 0)]
    while stack:
        idx, kk, base = stack.pop()
        if kk <= 1 or len(idx) <= 1:
            labels[idx] = base
            continue
        k1 = kk // 2
        pts = xy[idx]
        ww = w[idx] + 1e-9
        cov = np.cov(pts.T, aweights=ww)
        _, vecs = np.linalg.eigh(cov)
        ang = np.arctan2(vecs[1, -1], vecs[0, -1]) + rng.uniform(-0.35, 0.35)
        proj = pts[:, 0] * np.cos(ang) + pts[:, 1] * np.sin(ang)
        order = np.argsort(proj, kind="stable")
        cum = np.cumsum(ww[order])
        cut = int(np.searchsorted(cum, cum[-1] * k1 / kk)) + 1
        cut = int(np.clip(cut, min(k1, len(idx) - 1), max(len(idx) - (kk - k1), 1)))
        stack.append((idx[order[cut:]], kk - k1, base + k1))
        stack.append((idx[order[:cut]], k1, base))
    return labels


def hierarchy_seeds(xy, w, safe, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OA seeds (cell centres) with their MSOA and LSOA cluster numbers.

    ``safe`` marks cells whose centre lies well inside the county (seed candidates).
    """
    msoa = balanced_clusters(xy, w, MSOA_COUNT, rng)
    seeds, seed_msoa, seed_lsoa = [], [], []
    lsoa_no = 0
    for m in range(MSOA_COUNT):
        im = np.flatnonzero(msoa == m)
        n_l = max(2, int(round(w[im].sum() / LSOA_TARGET)))
        lab_l = balanced_clusters(xy[im], w[im], n_l, rng)
        for j in range(n_l):
            il = im[lab_l == j]
            if len(il) == 0:
                continue
            n_o = int(np.clip(round(w[il].sum() / OA_TARGET), 3, 9))
            n_o = min(n_o, len(il))
            lab_o = balanced_clusters(xy[il], w[il], n_o, rng)
            for o in range(n_o):
                io = il[lab_o == o]
                if len(io) == 0:
                    continue
                cand = io[safe[io]] if safe[io].any() else io
                centre = np.average(xy[io], axis=0, weights=w[io] + 1e-9)
                pick = cand[np.argmin(((xy[cand] - centre) ** 2).sum(axis=1))]
                seeds.append(xy[pick])
                seed_msoa.append(m)
                seed_lsoa.append(lsoa_no)
            lsoa_no += 1
    return np.array(seeds), np.array(seed_msoa), np.array(seed_lsoa)


def ward_seeds(xy, w, rng) -> np.ndarray:
    lab = balanced_clusters(xy, w, WARD_COUNT, rng)
    mass = np.bincount(lab, w, WARD_COUNT)
    cx = np.bincount(lab, w * xy[:, 0], WARD_COUNT) / mass
    cy = np.bincount(lab, w * xy[:, 1], WARD_COUNT) / mass
    return np.round(np.column_stack([cx, cy]))


# --- planar partition -----------------------------------------------------------------------


def planar_faces(county: shapely.Polygon, seed_sets: list[np.ndarray]) -> np.ndarray:
    """Faces of the Voronoi edges of every seed set plus the county ring, snap-rounded to 1 m."""
    extent = shapely.box(*county.bounds).buffer(5_000).envelope
    pieces = [county.exterior]
    for seeds in seed_sets:
        vor = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=extent)
        pieces.extend(shapely.boundary(shapely.get_parts(vor)))
    net = shapely.set_precision(shapely.union_all(np.array(pieces, dtype=object)), 1.0)
    # snap rounding can leave the same short segment twice; keep one copy of each
    edges = shapely.normalize(shapely.get_parts(net))
    _, first = np.unique(shapely.to_wkb(edges), return_index=True)
    edges = edges[np.sort(first)]
    edges = avoid_cell_centres(edges, county.bounds)
    faces, cuts, dangles, invalid = shapely.polygonize_full(edges)
    for extra in (cuts, dangles, invalid):
        if not shapely.is_empty(extra):  # pragma: no cover - snap rounding keeps lines noded
            raise RuntimeError("demo partition: linework is not fully noded")
    faces = shapely.get_parts(faces)
    inside = shapely.contains(county, shapely.point_on_surface(faces))
    return faces[inside & (shapely.area(faces) > 0)]


def avoid_cell_centres(edges: np.ndarray, bounds) -> np.ndarray:
    """Bend edges by 1 m where they pass exactly through a 100 m cell centre.

    A cell centre on a boundary would belong to two units (or none) depending on the tool's
    tie-breaking rule; moving the line 1 m aside gives every centre one owner everywhere.
    """
    minx, miny, maxx, maxy = bounds
    gx = np.arange(np.floor(minx / CELL) * CELL - CELL / 2, maxx + CELL, CELL)
    gy = np.arange(np.floor(miny / CELL) * CELL - CELL / 2, maxy + CELL, CELL)
    px, py = np.meshgrid(gx, gy)
    pts = shapely.points(px.ravel(), py.ravel())
    edges = edges.copy()
    for _ in range(10):
        tree = shapely.STRtree(edges)
        hit_pt, hit_edge = tree.query(pts, predicate="intersects")
        if len(hit_pt) == 0:
            return edges
        coords_all = shapely.get_coordinates(edges)
        for ip, ie in zip(hit_pt, hit_edge, strict=True):
            p = np.array([px.ravel()[ip], py.ravel()[ip]])
            xy = shapely.get_coordinates(edges[ie])
            at = np.flatnonzero((xy == p).all(axis=1))
            if len(at) and at[0] in (0, len(xy) - 1):
                # a node shared by several edges: move it in every edge
                same = (coords_all == p).all(axis=1)
                coords_all[same] = p + (1.0, 1.0)
                edges = shapely.set_coordinates(edges, coords_all)
                break
            if len(at):
                xy[at[0]] = p + (1.0, 1.0)
            else:
                seg = np.flatnonzero(
                    shapely.intersects(
                        shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1)), shapely.Point(p)
                    )
                )[0]
                d = xy[seg + 1] - xy[seg]
                step = (1.0, 0.0) if abs(d[1]) >= abs(d[0]) else (0.0, 1.0)
                xy = np.insert(xy, seg + 1, p + step, axis=0)
            edges[ie] = shapely.linestrings(xy)
            coords_all = shapely.get_coordinates(edges)
    raise RuntimeError("demo partition: could not move edges off cell centres")  # pragma: no cover


def adjacency(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of polygons sharing a boundary of positive length, and that length."""
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    bnd = shapely.boundary(geoms)
    shared = shapely.length(shapely.intersection(bnd[i], bnd[j]))
    keep = shared > 0
    return i[keep], j[keep], shared[keep]


def make_contiguous(
    area: np.ndarray,
    labels: np.ndarray,
    adj: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    anchor: np.ndarray | None = None,
    group: np.ndarray | None = None,
) -> np.ndarray:
    """Relabel units so that every label forms one edge-connected piece.

    For a label in several pieces the piece holding the anchor unit (or else the largest) keeps
    the label; each other piece joins the neighbouring label with the longest shared boundary,
    preferring labels of the same ``group`` (e.g. the same MSOA).
    """
    labels = labels.copy()
    i, j, shared = adj
    n = len(labels)
    for _ in range(50):
        same = labels[i] == labels[j]
        graph = sparse.coo_matrix((np.ones(same.sum()), (i[same], j[same])), shape=(n, n))
        _, comp = connected_components(graph, directed=False)
        moved = False
        for lab in np.unique(labels):
            units = np.flatnonzero(labels == lab)
            comps = np.unique(comp[units])
            if len(comps) == 1:
                continue
            if anchor is not None and anchor[lab] >= 0:
                keep = comp[anchor[lab]]
            else:
                sizes = [area[units[comp[units] == c]].sum() for c in comps]
                keep = comps[int(np.argmax(sizes))]
            for c in comps:
                if c == keep:
                    continue
                piece = units[comp[units] == c]
                inp = np.isin(i, piece) ^ np.isin(j, piece)
                other = np.where(np.isin(i[inp], piece), j[inp], i[inp])
                lengths = shared[inp]
                cand_labels = labels[other]
                ok = cand_labels != lab
                if group is not None:
                    pref = ok & (group[cand_labels] == group[lab])
                    if pref.any():
                        ok = pref
                if not ok.any():
                    continue
                totals = np.bincount(cand_labels[ok], lengths[ok])
                labels[piece] = int(np.argmax(totals))
                moved = True
        if not moved:
            return labels
    raise RuntimeError("demo partition: could not make units contiguous")  # pragma: no cover


def dissolve(geoms: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Union of ``geoms`` per label 0..n-1 (exact: the pieces share identical edges)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    out = np.empty(n, dtype=object)
    for k in range(n):
        part = geoms[order[bounds[k] : bounds[k + 1]]]
        out[k] = shapely.coverage_union_all(part) if len(part) > 1 else part[0]
        out[k] = shapely.normalize(out[k])
    return out


# --- the whole geography ----------------------------------------------------------------------


@dataclass
class Geography:
    county: shapely.Polygon
    places: list[Place]
    grid: Grid
    density: np.ndarray  # expected residents per cell (model)
    deprivation: np.ndarray  # 0..1 per cell
    kernels: list[np.ndarray]  # per place, expected residents per cell
    rural: np.ndarray
    oa_geom: np.ndarray
    oa_msoa: np.ndarray  # cluster number per OA
    oa_lsoa: np.ndarray
    oa_seed: np.ndarray  # seed cell centre per OA
    ward_geom: np.ndarray
    ward_seed: np.ndarray
    owner: np.ndarray  # 1-based OA number per cell, 0 outside


def build_geography(seed: int) -> Geography:
    from rasterio import features

    county = county_outline(rng_for(seed, 1))
    places = make_places(county, rng_for(seed, 2))
    grid = make_grid(county)
    xs, ys = grid.centres()
    inside = shapely.contains_xy(county, xs, ys)
    kernels = settlement_kernels(places, xs, ys, inside, rng_for(seed, 3))
    rural = rural_density(xs.shape, inside, rng_for(seed, 4))
    density = np.sum(kernels, axis=0) + rural
    dep = deprivation_field(places, xs, ys, inside, rng_for(seed, 8))

    m = inside.ravel()
    xy = np.column_stack([xs.ravel()[m], ys.ravel()[m]])
    w = density.ravel()[m]
    safe = shapely.contains_xy(county.buffer(-60), xy[:, 0], xy[:, 1])
    cells, oa_msoa, oa_lsoa = hierarchy_seeds(xy, w, safe, rng_for(seed, 5))
    # Voronoi seeds are jittered off the cell centres (at most 36 m, less than half the cell
    # spacing) so that bisectors do not run along rows of centres; each seed's own cell centre
    # stays nearest to it, so every output area owns at least that cell.
    oa_voronoi = cells + np.round(rng_for(seed, 7).uniform(-25, 25, cells.shape), 1)
    wseeds = ward_seeds(xy, w, rng_for(seed, 6))

    faces = planar_faces(county, [oa_voronoi, wseeds])
    rp = shapely.get_coordinates(shapely.point_on_surface(faces))
    face_oa = cKDTree(oa_voronoi).query(rp)[1]
    face_ward = cKDTree(wseeds).query(rp)[1]
    adj = adjacency(faces)
    area = shapely.area(faces)
    seed_idx, face_idx = shapely.STRtree(faces).query(shapely.points(cells), predicate="within")
    anchor = np.full(len(cells), -1)
    anchor[seed_idx] = face_idx
    face_oa = make_contiguous(area, face_oa, adj, anchor=anchor)
    face_ward = make_contiguous(area, face_ward, adj)
    oa_geom = dissolve(faces, face_oa, len(cells))
    ward_geom = dissolve(faces, face_ward, WARD_COUNT)

    # groups must be single polygons too: first MSOAs, then LSOAs within their MSOA
    oa_adj = adjacency(oa_geom)
    oa_area = shapely.area(oa_geom)
    oa_msoa = make_contiguous(oa_area, oa_msoa, oa_adj)
    lsoa_msoa = np.zeros(oa_lsoa.max() + 1, dtype=np.int64)
    lsoa_msoa[oa_lsoa] = oa_msoa  # an LSOA's OAs share one MSOA unless moved just above
    # an LSOA split across MSOAs by the step above becomes two LSOAs
    key = oa_lsoa * (MSOA_COUNT + 1) + oa_msoa
    _, oa_lsoa = np.unique(key, return_inverse=True)
    lsoa_msoa = np.zeros(oa_lsoa.max() + 1, dtype=np.int64)
    lsoa_msoa[oa_lsoa] = oa_msoa
    oa_lsoa = make_contiguous(oa_area, oa_lsoa, oa_adj, group=lsoa_msoa)
    oa_msoa = lsoa_msoa[oa_lsoa]
    _, oa_lsoa = np.unique(oa_lsoa, return_inverse=True)
    _, oa_msoa = np.unique(oa_msoa, return_inverse=True)

    owner = features.rasterize(
        zip(oa_geom, range(1, len(oa_geom) + 1), strict=True),
        out_shape=xs.shape,
        transform=grid.transform,
        fill=0,
        dtype="int32",
    )
    counts = np.bincount(owner.ravel(), minlength=len(oa_geom) + 1)
    if (counts[1:] == 0).any():  # pragma: no cover - guaranteed by the seed construction
        raise RuntimeError("demo partition: an output area owns no 100 m cell centre")
    return Geography(
        county=shapely.coverage_union_all(oa_geom),
        places=places,
        grid=grid,
        density=density,
        deprivation=dep,
        kernels=kernels,
        rural=rural,
        oa_geom=oa_geom,
        oa_msoa=oa_msoa,
        oa_lsoa=oa_lsoa,
        oa_seed=cells,
        ward_geom=ward_geom,
        ward_seed=wseeds,
        owner=owner,
    )
