"""The road graph: its matrices, snapping to it, nearest asset by road (see the package doc)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from .._util import crs_label, fmt_count
from ..errors import ColumnError, CRSError, RecipeError
from ._snap import LRU, SegmentIndex, geometry_key

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
#: how many sets of snapped features a graph keeps (origins of a build, assets of a category)
_SNAP_CACHE_SIZE = 8


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

        ``reverse=True`` gives the transposed graph (searches from destinations back to origins);
        without one-way segments the graph is symmetric and the same matrix is returned.
        """
        key = (metric, reverse)
        if key not in self._cache:
            if reverse:
                fwd = self.matrix(metric)
                self._cache[key] = fwd if not self.seg_oneway.any() else fwd.T.tocsr()
            else:
                src, dst, two = self._edges()
                w = self.seg_length if metric == "distance" else self.seg_time
                w = np.concatenate([w, w[two]])
                self._cache[key] = _csr_min(src, dst, w, self.n_nodes)
        return self._cache[key]

    # -- snapping ------------------------------------------------------------------------

    def _segment_index(self) -> SegmentIndex:
        if "index" not in self._cache:
            self._cache["index"] = SegmentIndex(
                self.nodes, self.seg_u, self.seg_v, self.snappable_segments()
            )
        return self._cache["index"]

    def snappable_segments(self) -> np.ndarray:
        """Segments of the largest connected part of the network (ignoring direction).

        Points snap only to these, so a point next to an isolated fragment (a footway in a
        courtyard, a private road cut off by the extract) is not stranded on it.
        """
        if "usable" not in self._cache:
            from scipy.sparse.csgraph import connected_components

            _, labels = connected_components(
                self.matrix("distance"), directed=True, connection="weak"
            )
            main = np.bincount(labels).argmax()
            self._cache["usable"] = labels[self.seg_u] == main
        return self._cache["usable"].copy()

    def snap(self, points, *, keep_shape: bool = False) -> pd.DataFrame:
        """Snap features to the nearest point of the nearest road segment.

        Results are cached on the graph (the last few sets of features, keyed by a digest of
        their coordinates), so the origins of several ``nearest_distance`` calls (one per
        indicator) are snapped once.

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
            end node), ``snap_distance`` (m), ``x``, ``y`` (the snapped point). Features that
            are empty have ``segment`` -1 and NaN elsewhere.

        Notes
        -----
        The nearest segment is found exactly (a k-d tree over sample points along the
        segments proposes candidates, a vectorised projection measures them and a distance
        certificate rules out every other segment; see ``cni_geo.network._snap``) rather than
        with shapely's STRtree, which took ~70 s at national scale.
        """
        raw = _geometries(points, self.crs, "points")
        cols = self._snap_arrays(raw, keep_shape=keep_shape)
        return pd.DataFrame(cols, index=points.index)

    def _snap_arrays(self, raw: np.ndarray, *, keep_shape: bool) -> dict:
        cache = self._cache.setdefault("snaps", LRU(_SNAP_CACHE_SIZE))
        key = geometry_key(raw, keep_shape)
        hit = cache.get_item(key)
        if hit is not None:
            log.debug("snap results for %s features reused from the cache.", fmt_count(len(raw)))
            return hit
        index = self._segment_index()
        kinds = shapely.get_type_id(raw)
        points = kinds == 0
        geoms = raw
        if not keep_shape and not points.all():
            geoms = np.where(points, raw, shapely.point_on_surface(raw))
        seg = np.full(len(raw), -1, dtype=np.int64)
        t = np.full(len(raw), np.nan)
        d = np.full(len(raw), np.nan)
        shaped = np.flatnonzero(~points & (kinds >= 0)) if keep_shape else np.empty(0, np.int64)
        plain = np.setdiff1d(np.arange(len(raw)), shaped, assume_unique=True)
        if len(plain):
            g = geoms[plain]
            xy = np.column_stack([shapely.get_x(g), shapely.get_y(g)])
            seg[plain], t[plain], d[plain] = index.nearest_points(xy)
        if len(shaped):
            seg[shaped], t[shaped], d[shaped] = index.nearest_shapes(geoms[shaped])
        ok = seg >= 0
        xy = np.full((len(raw), 2), np.nan)
        a, b = self.nodes[self.seg_u[seg[ok]]], self.nodes[self.seg_v[seg[ok]]]
        xy[ok] = a + (b - a) * t[ok, None]
        node = np.full(len(raw), -1, dtype=np.int64)
        node[ok] = np.where(t[ok] <= 0.5, self.seg_u[seg[ok]], self.seg_v[seg[ok]])
        cols = {
            "segment": seg,
            "t": t,
            "node": node,
            "snap_distance": d,
            "x": xy[:, 0],
            "y": xy[:, 1],
        }
        for v in cols.values():
            v.flags.writeable = False
        cache.put(key, cols)
        return cols

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
    key = src.astype(np.int64) * np.int64(n) + dst
    order = np.argsort(key, kind="stable")
    key, w = key[order], w[order]
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    w = np.minimum.reduceat(w, starts) if len(starts) else w
    key = key[starts]
    src, dst = key // n, key % n
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


def _geometries(gdf, crs, name) -> np.ndarray:
    if gdf.crs is None or not gdf.crs.equals(crs):
        msg = (
            f"`{name}` is in {crs_label(gdf.crs)} but the road graph is in {crs_label(crs)}; "
            f"reproject with `cni_geo.sources.to_working_crs({name}, ...)`."
        )
        raise CRSError(msg)
    return np.asarray(gdf.geometry.values if hasattr(gdf, "geometry") else gdf.values, dtype=object)
