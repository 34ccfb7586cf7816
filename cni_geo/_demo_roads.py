"""Road network of the synthetic demo county (private to :mod:`cni_geo.demo`).

Town street meshes, village streets, roads linking every settlement (a minimum spanning tree
plus links between neighbouring towns), farm tracks and one motorway with junctions. All roads
but the motorway are noded together and snap-rounded to 1 m, so segments end at junctions and
share their end points exactly; the motorway only meets other roads at its junctions (bridges
elsewhere). The largest connected piece is kept.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist

from ._demo_geometry import Geography, rng_for

ROAD_CLASSES = ("motorway", "primary", "secondary", "tertiary", "residential", "track")
_RANK = {name: len(ROAD_CLASSES) - i for i, name in enumerate(ROAD_CLASSES)}


def _wiggly(p0, p1, rng, *, bend: float, step: float = 250.0) -> np.ndarray:
    """A gently curved road from p0 to p1 (quadratic Bezier with a random sideways pull)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    length = float(np.hypot(*d))
    normal = np.array([-d[1], d[0]]) / max(length, 1.0)
    ctrl = (p0 + p1) / 2 + normal * rng.normal(0.0, bend) * length
    n = max(2, int(length // step) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ctrl + t**2 * p1


def _town_mesh(place, rng) -> list[tuple[np.ndarray, str]]:
    """A rotated, wobbly street grid clipped to a lobed footprint around the town centre."""
    spacing = 240.0
    radius = 2.1 * place.sigma
    angle = rng.uniform(0, np.pi / 2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    theta = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    r = radius * (1 + 0.18 * np.sin(3 * theta + rng.uniform(0, 6.3)))
    footprint = shapely.Polygon(
        np.column_stack([place.x + r * np.cos(theta), place.y + r * np.sin(theta)])
    )
    out = []
    n = int(radius // spacing) + 1
    s = np.linspace(-radius, radius, 12)
    for axis in (0, 1):
        for k in range(-n, n + 1):
            offset = k * spacing + rng.uniform(-40, 40)
            wobble = 35.0 * np.sin(s / rng.uniform(300, 700) + rng.uniform(0, 6.3))
            local = (
                np.column_stack([offset + wobble, s])
                if axis == 0
                else np.column_stack([s, offset + wobble])
            )
            xy = local @ rot.T + (place.x, place.y)
            line = shapely.intersection(shapely.LineString(xy), footprint)
            cls = "secondary" if k == 0 else ("tertiary" if abs(k) == 3 else "residential")
            for part in shapely.get_parts(line):
                if shapely.get_type_id(part) == 1 and part.length > 50:
                    out.append((shapely.get_coordinates(part), cls))
    return out


def _village_streets(place, rng) -> list[tuple[np.ndarray, str]]:
    out = []
    for i in range(int(rng.integers(2, 4))):
        ang = rng.uniform(0, np.pi)
        half = place.sigma * rng.uniform(0.9, 1.6)
        d = np.array([np.cos(ang), np.sin(ang)]) * half
        c = np.array([place.x, place.y]) + rng.normal(0, 60, 2)
        out.append(
            (
                _wiggly(c - d, c + d, rng, bend=0.05, step=120),
                "tertiary" if i == 0 else "residential",
            )
        )
    return out


def build_roads(geo: Geography, seed: int) -> dict[str, np.ndarray]:
    """Road segments: ``geometry``, ``road_class`` and ``oneway`` arrays (unsorted)."""
    rng = rng_for(seed, 20)
    county = geo.county
    places = geo.places
    lines: list[tuple[np.ndarray, str]] = []
    for p in places:
        lines += _town_mesh(p, rng) if p.kind == "town" else _village_streets(p, rng)

    # links between settlements: a spanning tree over all, plus each town to its 2 nearest towns
    xy = np.array([[p.x, p.y] for p in places])
    dist = cdist(xy, xy)
    mst = minimum_spanning_tree(sparse.csr_matrix(dist)).tocoo()
    pairs = {(min(a, b), max(a, b)) for a, b in zip(mst.row, mst.col, strict=True)}
    towns = [i for i, p in enumerate(places) if p.kind == "town"]
    for i in towns:
        near = sorted((dist[i, j], j) for j in towns if j != i)[:2]
        pairs |= {(min(i, j), max(i, j)) for _, j in near}
    for a, b in sorted(pairs):
        kinds = (places[a].kind, places[b].kind)
        cls = {2: "primary", 1: "secondary", 0: "tertiary"}[kinds.count("town")]
        lines.append((_wiggly(xy[a], xy[b], rng, bend=0.12), cls))

    # farm tracks from points along rural links
    rural = [c for c, cls in lines if cls in ("secondary", "tertiary") and len(c) > 4]
    for _ in range(60):
        c = rural[int(rng.integers(len(rural)))]
        start = np.round(c[int(rng.integers(1, len(c) - 1))])
        ang = rng.uniform(0, 2 * np.pi)
        end = start + rng.uniform(600, 2_000) * np.array([np.cos(ang), np.sin(ang)])
        lines.append(
            (np.vstack([start, _wiggly(start, end, rng, bend=0.1, step=200)[1:]]), "track")
        )

    # the motorway, west to east, with junctions at the towns it passes
    minx, miny, maxx, maxy = county.bounds
    cy = (miny + maxy) / 2
    p0 = np.array([minx - 2_000, cy - 2_500])
    p3 = np.array([maxx + 2_000, cy + 4_000])
    c1 = np.array([minx + 0.35 * (maxx - minx), cy - 7_000])
    c2 = np.array([minx + 0.65 * (maxx - minx), cy + 6_000])
    t = np.linspace(0, 1, 240)[:, None]
    bez = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * p3
    mway = shapely.intersection(shapely.LineString(bez), county.buffer(-200))
    mway = max(shapely.get_parts(mway), key=lambda g: g.length)
    mxy = np.round(shapely.get_coordinates(mway))
    mxy = mxy[np.r_[True, (np.diff(mxy, axis=0) != 0).any(axis=1)]]
    dist_town = [(float(shapely.distance(mway, shapely.Point(xy[i]))), i) for i in towns]
    cuts = [0, len(mxy) - 1]
    for _, i in sorted(dist_town)[:3]:
        j = int(np.argmin(((mxy - xy[i]) ** 2).sum(axis=1)))
        j = int(np.clip(j, 1, len(mxy) - 2))
        cuts.append(j)
        lines.append((np.vstack([mxy[j], _wiggly(mxy[j], xy[i], rng, bend=0.05)[1:]]), "primary"))
    cuts = sorted(set(cuts))
    motorway = [
        shapely.linestrings(mxy[a : b + 1]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]

    # node every road but the motorway, snap-round to 1 m
    geoms = np.array([shapely.LineString(np.round(c)) for c, _ in lines], dtype=object)
    classes = np.array([cls for _, cls in lines])
    geoms = shapely.intersection(geoms, county)
    keep = ~shapely.is_empty(geoms)
    geoms, classes = geoms[keep], classes[keep]
    net = shapely.set_precision(shapely.union_all(geoms), 1.0)
    edges = shapely.normalize(shapely.get_parts(shapely.line_merge(net, directed=False)))
    edges = shapely.get_parts(shapely.set_precision(shapely.union_all(edges), 1.0))
    edges = shapely.normalize(edges[shapely.get_type_id(edges) == 1])
    _, first = np.unique(shapely.to_wkb(edges), return_index=True)
    edges = edges[np.sort(first)]
    edges = edges[shapely.length(edges) > 0]

    # each segment takes the highest class among the roads it lies on
    mid = shapely.line_interpolate_point(edges, 0.5, normalized=True)
    src, hit = shapely.STRtree(geoms).query(mid, predicate="dwithin", distance=1.5)
    rank = np.zeros(len(edges))
    np.maximum.at(rank, src, np.array([_RANK[c] for c in classes])[hit])
    rank[rank == 0] = _RANK["residential"]
    edge_class = np.array([ROAD_CLASSES[len(ROAD_CLASSES) - int(r)] for r in rank])

    # a few residential segments removed (cul-de-sacs), then the largest connected piece
    drop = (edge_class == "residential") & (rng.random(len(edges)) < 0.07)
    edges, edge_class = edges[~drop], edge_class[~drop]
    all_edges = np.concatenate([edges, np.array(motorway, dtype=object)])
    all_class = np.concatenate([edge_class, np.array(["motorway"] * len(motorway))])
    ends = np.vstack(
        [
            shapely.get_coordinates(shapely.get_point(all_edges, 0)),
            shapely.get_coordinates(shapely.get_point(all_edges, -1)),
        ]
    )
    _, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    n_e = len(all_edges)
    g = sparse.coo_matrix((np.ones(n_e), (node[:n_e], node[n_e:])), shape=(node.max() + 1,) * 2)
    _, comp = connected_components(g, directed=False)
    main = np.bincount(comp[node[:n_e]]).argmax()
    keep = comp[node[:n_e]] == main
    all_edges, all_class = all_edges[keep], all_class[keep]

    # one-way streets in town centres
    centre_dist = np.min(
        [
            shapely.distance(all_edges, shapely.Point(p.x, p.y)) / p.sigma
            for p in places
            if p.kind == "town"
        ],
        axis=0,
    )
    oneway = (
        np.isin(all_class, ["residential", "tertiary"])
        & (centre_dist < 0.6)
        & (rng.random(len(all_edges)) < 0.35)
    )
    return {"geometry": all_edges, "road_class": all_class, "oneway": oneway}
