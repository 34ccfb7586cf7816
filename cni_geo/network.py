"""Travel distance and time along a road network, computed on the machine (no service).

:func:`build_graph` turns road lines (OpenStreetMap ``highway`` lines or any layer with a road
class) into a :class:`RoadGraph`: nodes are line vertices merged where lines share a vertex
(to 1 cm), edges are the segments between consecutive vertices, stored as ``scipy.sparse`` CSR
matrices of lengths (m) and times (s). :meth:`RoadGraph.nearest_distance` runs ONE
shortest-path search per asset category from all the category's assets at once
(``scipy.sparse.csgraph.dijkstra``), the way the CDRC AHAH index does, so the cost does not grow
with the number of origins.

Snapping and the two ends of a trip
-----------------------------------
Origins and assets are snapped to the nearest point on the nearest road segment (shapely
STRtree). A trip's length is::

    snap(origin) + along-segment to an end node + network path + along-segment + snap(asset)

The straight "snap" legs are walked at the profile's connector speed for ``metric="time"``.
The along-segment parts respect one-way segments for the drive profile. An origin and an asset
on the same segment may also connect directly along it. Distances are from origin TO asset.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from ._util import crs_label, file_sha256, fmt_count, require_projected
from .errors import ColumnError, CRSError, DataError, RecipeError, SourceError

log = logging.getLogger(__name__)

Profile = Literal["walk", "drive"]
Metric = Literal["distance", "time"]

#: default speeds in km/h by road class (OSM highway values); ``"*"`` is the fallback
DRIVE_SPEEDS = {
    "motorway": 96, "motorway_link": 64, "trunk": 64, "trunk_link": 48, "primary": 48,
    "primary_link": 40, "secondary": 40, "secondary_link": 32, "tertiary": 32,
    "tertiary_link": 32, "unclassified": 32, "residential": 24, "living_street": 10,
    "service": 16, "road": 24, "busway": 24, "*": 24,
}  # fmt: skip


@dataclass(frozen=True)
class _ProfileSpec:
    exclude: frozenset
    speeds: dict
    oneway: bool
    connector_kmh: float
    denied_access: tuple = ()
    denied_column: str = "access"


PROFILES: dict[str, _ProfileSpec] = {
    "walk": _ProfileSpec(
        exclude=frozenset({"motorway", "motorway_link", "bus_guideway", "raceway", "busway"}),
        speeds={"*": 4.8},
        oneway=False,
        connector_kmh=4.8,
        denied_access=("no", "private"),
        denied_column="foot",
    ),
    "drive": _ProfileSpec(
        exclude=frozenset(
            {
                "footway",
                "path",
                "pedestrian",
                "steps",
                "cycleway",
                "bridleway",
                "track",
                "corridor",
                "elevator",
                "platform",
                "bus_stop",
                "via_ferrata",
            }
        ),
        speeds=DRIVE_SPEEDS,
        oneway=True,
        connector_kmh=4.8,
        denied_access=("no", "private"),
        denied_column="access",
    ),
}
METRICS = ("distance", "time")
_CACHE_VERSION = "1"


def _oneway_codes(values: pd.Series) -> np.ndarray:
    """1 along the line, -1 against it, 0 both ways, from bools, ints or OSM strings."""
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).to_numpy(dtype=bool).astype(np.int8)
    if pd.api.types.is_numeric_dtype(values):
        return np.sign(np.nan_to_num(values.to_numpy(dtype=float))).astype(np.int8)
    s = values.astype("string").str.lower().str.strip()
    return np.select(
        [s.isin(["yes", "1", "true", "t"]).fillna(False), s.isin(["-1", "reverse"]).fillna(False)],
        [1, -1],
        0,
    ).astype(np.int8)


@dataclass
class RoadGraph:
    """A routable road graph (build it with :func:`build_graph`).

    Attributes
    ----------
    nodes
        (n, 2) node coordinates in ``crs``.
    seg_u, seg_v, seg_length, seg_time, seg_oneway
        One row per road segment: end nodes, length (m), travel time (s) and whether it can be
        travelled only from ``u`` to ``v``.
    """

    nodes: np.ndarray
    seg_u: np.ndarray
    seg_v: np.ndarray
    seg_length: np.ndarray
    seg_time: np.ndarray
    seg_oneway: np.ndarray
    crs: pyproj.CRS
    profile: str = "walk"
    connector_speed: float = 4.8 / 3.6
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return int(len(self.seg_u) + (~self.seg_oneway).sum())

    def __repr__(self) -> str:
        return f"RoadGraph({self.profile}, {self.n_nodes:,} nodes, {self.n_edges:,} directed edges, {crs_label(self.crs)})"

    # -- matrices ------------------------------------------------------------------------

    def _edges(self):
        two = ~self.seg_oneway
        src = np.concatenate([self.seg_u, self.seg_v[two]])
        dst = np.concatenate([self.seg_v, self.seg_u[two]])
        return src, dst, two

    def matrix(self, metric: Metric = "distance", *, reverse: bool = False) -> sp.csr_matrix:
        """The travel graph as CSR (row = from, column = to), parallel edges kept at their minimum.

        ``reverse=True`` gives the transposed graph (searches from destinations back to origins).
        """
        key = (metric, reverse)
        if key not in self._cache:
            src, dst, two = self._edges()
            w = self.seg_length if metric == "distance" else self.seg_time
            w = np.concatenate([w, w[two]])
            if reverse:
                src, dst = dst, src
            self._cache[key] = _csr_min(src, dst, w, self.n_nodes)
        return self._cache[key]

    # -- snapping ------------------------------------------------------------------------

    def _segment_tree(self):
        if "tree" not in self._cache:
            a, b = self.nodes[self.seg_u], self.nodes[self.seg_v]
            segs = shapely.linestrings(np.stack([a, b], axis=1))
            usable = self.snappable_segments()
            self._cache["segs"] = segs
            self._cache["tree_ids"] = np.flatnonzero(usable)
            self._cache["tree"] = shapely.STRtree(segs[usable])
        return self._cache["tree"], self._cache["segs"]

    def snappable_segments(self) -> np.ndarray:
        """Segments of the largest connected part of the network (ignoring direction).

        Points snap only to these, so a point next to an isolated fragment (a footway in a
        courtyard, a private road cut off by the extract) is not stranded on it.
        """
        from scipy.sparse.csgraph import connected_components

        _, labels = connected_components(self.matrix("distance"), directed=True, connection="weak")
        main = np.bincount(labels).argmax()
        return labels[self.seg_u] == main

    def snap(self, points, *, keep_shape: bool = False) -> pd.DataFrame:
        """Snap features to the nearest point of the nearest road segment.

        Parameters
        ----------
        points
            A GeoDataFrame/GeoSeries in the graph's CRS. Points snap directly; other
            geometries snap by their point on surface, or with ``keep_shape=True`` (how assets
            are snapped) by their own nearest point to a road: a park is reached at its edge,
            or at once where a path runs through it.

        Returns
        -------
        DataFrame
            On the input index: ``segment``, ``t`` (0 at ``u``, 1 at ``v``), ``node`` (nearest
            end node), ``snap_distance`` (m), ``x``, ``y`` (the snapped point).
        """
        geoms = _as_points(points, self.crs, "points", keep_shape=keep_shape)
        tree, segs = self._segment_tree()
        idx_in, idx_seg = tree.query_nearest(geoms, all_matches=False)
        seg = np.full(len(geoms), -1, dtype=np.int64)
        seg[idx_in] = self._cache["tree_ids"][idx_seg]
        ok = seg >= 0
        t = np.full(len(geoms), np.nan)
        xy = np.full((len(geoms), 2), np.nan)
        d = np.full(len(geoms), np.nan)
        if ok.any():
            link = shapely.shortest_line(segs[seg[ok]], geoms[ok])  # starts on the segment
            on_seg = shapely.get_point(link, 0)
            t[ok] = shapely.line_locate_point(segs[seg[ok]], on_seg, normalized=True)
            a, b = self.nodes[self.seg_u[seg[ok]]], self.nodes[self.seg_v[seg[ok]]]
            xy[ok] = a + (b - a) * t[ok, None]
            d[ok] = shapely.length(link)
        node = np.full(len(geoms), -1, dtype=np.int64)
        node[ok] = np.where(t[ok] <= 0.5, self.seg_u[seg[ok]], self.seg_v[seg[ok]])
        return pd.DataFrame(
            {
                "segment": seg,
                "t": t,
                "node": node,
                "snap_distance": d,
                "x": xy[:, 0],
                "y": xy[:, 1],
            },
            index=points.index,
        )

    # -- nearest by road -----------------------------------------------------------------

    def nearest_distance(
        self,
        origins,
        assets,
        *,
        by: str | None = None,
        max_distance: float | None = None,
        metric: Metric = "distance",
        max_snap: float | None = 500.0,
    ) -> pd.Series | pd.DataFrame:
        """Network distance (m) or time (s) from each origin to its nearest asset.

        One Dijkstra search per category from all its assets at once (a virtual source node
        joined to every asset's snapped position, so assets' own snap legs count exactly;
        ``scipy.sparse.csgraph.dijkstra``).

        Parameters
        ----------
        origins
            Points (or polygons: point on surface) in the graph's CRS, e.g. OA or postcode
            centroids.
        assets
            Assets in the graph's CRS: points, or polygons (e.g. parks from
            ``read_osm_assets(...).polygons``), which are reached at their nearest point to a
            road.
        by
            A column of ``assets`` (e.g. ``"category"``): one column of results per value.
        max_distance
            Stop searching beyond this many metres (seconds for ``metric="time"``); origins
            with no asset within it are NaN (counted in the log).
        metric
            ``"distance"`` (metres, shortest path) or ``"time"`` (seconds, fastest path).
        max_snap
            Origins and assets farther than this from any road are left out (NaN for origins),
            with a counted warning. ``None`` keeps all.

        Returns
        -------
        Series or DataFrame
            On the origins' index: a Series named ``network_distance``/``network_time``, or a
            DataFrame with one column per category when ``by`` is given. Unreachable origins
            (no asset in their part of the network) are NaN with a counted warning, never 0.
            ``result.attrs["origin_snap_distance"]`` holds the origins' snap distances.
        """
        if metric not in METRICS:
            msg = f"unknown metric '{metric}'; valid: {', '.join(METRICS)}."
            raise RecipeError(msg)
        osnap = self.snap(origins)
        if max_snap is not None:
            far = osnap["snap_distance"].to_numpy() > max_snap
            if far.any():
                warnings.warn(
                    f"{fmt_count(int(far.sum()), len(osnap))} origins are more than {max_snap:,.0f} m "
                    f"from any road of the {self.profile} network; their network {metric} is NaN.",
                    stacklevel=2,
                )
        else:
            far = np.zeros(len(osnap), dtype=bool)
        if by is None:
            groups = {None: assets}
        else:
            if by not in assets.columns:
                msg = f"`assets` has no column '{by}' (by=); its columns are: {', '.join(map(str, assets.columns))}."
                raise ColumnError(msg)
            groups = {k: assets[assets[by] == k] for k in pd.unique(assets[by].dropna())}
        cols = {}
        for key, grp in groups.items():
            cols[key] = self._one_category(
                osnap,
                far,
                grp,
                metric=metric,
                max_distance=max_distance,
                max_snap=max_snap,
                label=key,
            )
        name = f"network_{metric}"
        if by is None:
            out = pd.Series(cols[None], index=origins.index, name=name)
        else:
            out = pd.DataFrame(cols, index=origins.index)
            out.columns.name = by
        out.attrs["origin_snap_distance"] = osnap["snap_distance"]
        return out

    def _one_category(self, osnap, far, assets, *, metric, max_distance, max_snap, label):
        what = f"'{label}' assets" if label is not None else "assets"
        n = self.n_nodes
        result = np.full(len(osnap), np.nan)
        if len(assets) == 0:
            warnings.warn(f"no {what}: network {metric} is NaN for every origin.", stacklevel=3)
            return result
        asnap = self.snap(assets, keep_shape=True)
        keep = asnap["segment"].to_numpy() >= 0
        if max_snap is not None:
            afar = asnap["snap_distance"].to_numpy() > max_snap
            if afar.any():
                warnings.warn(
                    f"{fmt_count(int(afar.sum()), len(asnap))} {what} are more than {max_snap:,.0f} m from any road and were left out.",
                    stacklevel=3,
                )
            keep &= ~afar
        asnap = asnap[keep]
        if asnap.empty:
            return result
        w_seg = self.seg_length if metric == "distance" else self.seg_time
        conn = 1.0 if metric == "distance" else 1.0 / self.connector_speed
        aseg = asnap["segment"].to_numpy()
        at = asnap["t"].to_numpy()
        a0 = asnap["snap_distance"].to_numpy() * conn
        # virtual source n: in the REVERSED graph, n -> u means "from u, travel to the asset"
        src_nodes = [self.seg_u[aseg]]
        src_w = [a0 + at * w_seg[aseg]]
        two = ~self.seg_oneway[aseg]
        src_nodes.append(self.seg_v[aseg][two])
        src_w.append((a0 + (1 - at) * w_seg[aseg])[two])
        g = self.matrix(metric, reverse=True)
        aug = _add_source(g, np.concatenate(src_nodes), np.concatenate(src_w))
        limit = np.inf if max_distance is None else float(max_distance)
        dist = dijkstra(aug, directed=True, indices=n, limit=limit)[:n]
        ok = (osnap["segment"].to_numpy() >= 0) & ~far
        oseg = osnap["segment"].to_numpy()[ok]
        ot = osnap["t"].to_numpy()[ok]
        o0 = osnap["snap_distance"].to_numpy()[ok] * conn
        w = w_seg[oseg]
        via_v = (1 - ot) * w + dist[self.seg_v[oseg]]
        via_u = np.where(self.seg_oneway[oseg], np.inf, ot * w + dist[self.seg_u[oseg]])
        best = np.minimum(via_u, via_v)
        # an origin and an asset on the same segment may connect directly along it
        same = pd.DataFrame({"seg": oseg, "i": np.arange(len(oseg)), "ot": ot}).merge(
            pd.DataFrame({"seg": aseg, "at": at, "a0": a0}), on="seg"
        )
        if len(same):
            dt = same["at"].to_numpy() - same["ot"].to_numpy()
            along = np.abs(dt) * w_seg[same["seg"].to_numpy()]
            allowed = ~self.seg_oneway[same["seg"].to_numpy()] | (dt >= 0)
            direct = np.where(allowed, along + same["a0"].to_numpy(), np.inf)
            np.minimum.at(best, same["i"].to_numpy(), direct)
        best = best + o0
        if max_distance is not None:
            best[best > max_distance] = np.inf
        best[~np.isfinite(best)] = np.nan
        result[ok] = best
        miss = int(np.isnan(best).sum())
        if miss:
            beyond = "" if max_distance is None else f" or farther than {max_distance:,.0f}"
            warnings.warn(
                f"{fmt_count(miss, int(ok.sum()))} origins cannot reach any of the {fmt_count(len(asnap))} {what} "
                f"by the {self.profile} network (separate part of the network{beyond}); their network {metric} is NaN.",
                stacklevel=3,
            )
        log.info(
            "network %s to %s: %s origins, %s assets, median %.0f.",
            metric,
            what,
            fmt_count(int(ok.sum())),
            fmt_count(len(asnap)),
            np.nanmedian(best) if np.isfinite(best).any() else np.nan,
        )
        return result


def _csr_min(src, dst, w, n) -> sp.csr_matrix:
    """CSR from edge lists keeping the minimum weight of parallel edges (csr would sum them)."""
    order = np.lexsort((w, dst, src))
    src, dst, w = src[order], dst[order], w[order]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, w = src[first], dst[first], w[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    # explicit zero weights would vanish in csgraph: use the smallest positive float instead
    w = np.where(w > 0, w, np.finfo(float).tiny)
    idx_dtype = np.int32 if max(n, len(dst)) < 2**31 - 1 else np.int64
    return sp.csr_matrix((w, dst.astype(idx_dtype), indptr.astype(idx_dtype)), shape=(n, n))


def _add_source(g: sp.csr_matrix, nodes: np.ndarray, weights: np.ndarray) -> sp.csr_matrix:
    """``g`` with one extra node (index n) joined to ``nodes`` by ``weights`` (min kept)."""
    n = g.shape[0]
    order = np.lexsort((weights, nodes))
    nodes, weights = nodes[order], weights[order]
    first = np.ones(len(nodes), dtype=bool)
    first[1:] = nodes[1:] != nodes[:-1]
    nodes, weights = nodes[first], np.maximum(weights[first], np.finfo(float).tiny)
    data = np.concatenate([g.data, weights])
    indices = np.concatenate([g.indices, nodes.astype(g.indices.dtype)])
    indptr = np.concatenate([g.indptr, [g.indptr[-1] + len(nodes)]]).astype(g.indptr.dtype)
    # the new row is n; pad a column too
    return sp.csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))


def _as_points(gdf, crs, name, *, keep_shape: bool = False) -> np.ndarray:
    if gdf.crs is None or not gdf.crs.equals(crs):
        msg = (
            f"`{name}` is in {crs_label(gdf.crs)} but the road graph is in {crs_label(crs)}; "
            f"reproject with `cni_geo.sources.to_working_crs({name}, ...)`."
        )
        raise CRSError(msg)
    geoms = np.asarray(
        gdf.geometry.values if hasattr(gdf, "geometry") else gdf.values, dtype=object
    )
    kinds = shapely.get_type_id(geoms)
    if not keep_shape and (kinds != 0).any():
        geoms = np.where(kinds == 0, geoms, shapely.point_on_surface(geoms))
    return geoms


def _speeds(spec: _ProfileSpec, speeds) -> dict:
    out = dict(spec.speeds)
    if speeds:
        bad = {k: v for k, v in speeds.items() if not (isinstance(v, int | float) and v > 0)}
        if bad:
            msg = f"speeds must be positive km/h; got {bad}."
            raise RecipeError(msg)
        out.update(speeds)
    return out


def build_graph(
    roads,
    *,
    profile: Profile = "walk",
    speeds: dict[str, float] | None = None,
    cache_dir=None,
    source_hash: str | None = None,
    layer: str | None = None,
    road_class: str | None = None,
    working_crs=None,
) -> RoadGraph:
    """Build a routable :class:`RoadGraph` from road lines.

    Parameters
    ----------
    roads
        A GeoDataFrame of (Multi)LineStrings in a projected CRS with a road-class column
        (``road_class`` or ``highway``) and optionally ``oneway`` (bool, 1/-1/0 or OSM
        ``yes``/``-1``), ``foot``/``access``; or a path: a ``.osm.pbf`` (read with
        :func:`cni_geo.sources.read_osm_roads`) or a vector file (``layer``), e.g. the demo's
        ``data/demo/roads.gpkg`` layer ``roads``.
    profile
        ``"walk"`` (all paths and roads but motorways, both directions, 4.8 km/h) or
        ``"drive"`` (roads only, one-way honoured, speeds by class).
    speeds
        km/h by road class overriding the profile's (``"*"`` = any other class).
    cache_dir, source_hash
        Cache the graph as ``roadgraph-<key>.npz`` in ``cache_dir``, keyed by ``source_hash``
        (the input file's sha256; computed for you when ``roads`` is a path), the profile and
        the speeds.
    working_crs
        For a path: the CRS to read it into (default EPSG:27700).

    Returns
    -------
    RoadGraph
    """
    if profile not in PROFILES:
        msg = f"unknown network profile '{profile}'; valid: {', '.join(PROFILES)}."
        raise RecipeError(msg)
    spec = PROFILES[profile]
    kmh = _speeds(spec, speeds)
    if isinstance(roads, str | os.PathLike):
        path = Path(roads)
        from .sources import read_osm_roads, to_working_crs
        from .sources._vector import read_vector

        if not path.exists():
            msg = f"the roads file {path} does not exist."
            raise SourceError(msg)
        source_hash = source_hash or file_sha256(path)
        cached = _load_cache(cache_dir, source_hash, profile, kmh)
        if cached is not None:
            return cached
        wc = working_crs or "EPSG:27700"
        if path.name.lower().endswith(".pbf"):
            roads = read_osm_roads(path, working_crs=wc)
        else:
            roads = to_working_crs(read_vector(path, layer=layer, what="roads"), wc, name=str(path))
    else:
        cached = _load_cache(cache_dir, source_hash, profile, kmh)
        if cached is not None:
            return cached
    require_projected(roads, "roads", what="a road network")
    if len(roads) == 0:
        msg = "`roads` is empty: there is no road network to route on."
        raise SourceError(msg)
    cls_col = road_class or next((c for c in ("road_class", "highway") if c in roads.columns), None)
    if cls_col is None or cls_col not in roads.columns:
        msg = f"`roads` has no road class column (road_class or highway); its columns are: {', '.join(map(str, roads.columns))}."
        raise ColumnError(msg)
    cls = roads[cls_col].astype("string").fillna("")
    keep = ~cls.isin(spec.exclude).to_numpy()
    if spec.denied_column in roads.columns:
        keep &= (
            ~roads[spec.denied_column]
            .astype("string")
            .isin(spec.denied_access)
            .fillna(False)
            .to_numpy()
        )
    geoms = roads.geometry.values[keep]
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, [1, 5]).all():
        msg = f"`roads` must hold LineStrings; found {', '.join(pd.unique(roads.geom_type[keep]))}."
        raise DataError(msg)
    ow = (
        _oneway_codes(roads["oneway"])[keep]
        if ("oneway" in roads.columns and spec.oneway)
        else np.zeros(keep.sum(), np.int8)
    )
    speed = cls[keep].map(lambda c: kmh.get(c, kmh.get("*", 24.0))).to_numpy(dtype=float) / 3.6
    parts, part_idx = shapely.get_parts(geoms, return_index=True)
    coords, line = shapely.get_coordinates(parts, return_index=True)
    same = line[1:] == line[:-1]
    a = np.flatnonzero(same)
    key = np.round(coords * 100).astype(np.int64)  # merge vertices to 1 cm
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    nodes = uniq.astype(float) / 100
    u, v = inv[a], inv[a + 1]
    seg_line = part_idx[line[a]]
    length = np.hypot(*(coords[a + 1] - coords[a]).T)
    flip = ow[seg_line] == -1
    u, v = np.where(flip, v, u), np.where(flip, u, v)
    nz = u != v
    u, v, length, seg_line = u[nz], v[nz], length[nz], seg_line[nz]
    g = RoadGraph(
        nodes=nodes,
        seg_u=u.astype(np.int64),
        seg_v=v.astype(np.int64),
        seg_length=length,
        seg_time=length / speed[seg_line],
        seg_oneway=(ow[seg_line] != 0),
        crs=roads.crs,
        profile=profile,
        connector_speed=spec.connector_kmh / 3.6,
    )
    log.info("built the %s graph: %s", profile, g)
    _save_cache(g, cache_dir, source_hash, profile, kmh)
    return g


def _cache_path(cache_dir, source_hash, profile, kmh):
    if cache_dir is None or source_hash is None:
        return None
    key = hashlib.sha256(
        json.dumps([_CACHE_VERSION, source_hash, profile, sorted(kmh.items())]).encode()
    ).hexdigest()[:20]
    return Path(cache_dir) / f"roadgraph-{profile}-{key}.npz"


def _load_cache(cache_dir, source_hash, profile, kmh):
    path = _cache_path(cache_dir, source_hash, profile, kmh)
    if path is None or not path.exists():
        return None
    try:
        z = np.load(path, allow_pickle=False)
        g = RoadGraph(
            nodes=z["nodes"], seg_u=z["seg_u"], seg_v=z["seg_v"], seg_length=z["seg_length"],
            seg_time=z["seg_time"], seg_oneway=z["seg_oneway"], crs=pyproj.CRS.from_wkt(str(z["crs"])),
            profile=profile, connector_speed=float(z["connector_speed"]),
        )  # fmt: skip
    except (OSError, KeyError, ValueError) as exc:
        log.warning("ignoring the unreadable graph cache %s (%s); rebuilding.", path, exc)
        return None
    log.info("loaded the %s graph from the cache %s: %s", profile, path, g)
    return g


def _save_cache(g: RoadGraph, cache_dir, source_hash, profile, kmh) -> None:
    path = _cache_path(cache_dir, source_hash, profile, kmh)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.npz")
    np.savez(tmp, nodes=g.nodes, seg_u=g.seg_u, seg_v=g.seg_v, seg_length=g.seg_length, seg_time=g.seg_time,
             seg_oneway=g.seg_oneway, crs=np.array(g.crs.to_wkt()), connector_speed=np.array(g.connector_speed))  # fmt: skip
    os.replace(tmp, path)
    log.info("cached the %s graph in %s.", profile, path)


__all__ = ["PROFILES", "RoadGraph", "build_graph"]
