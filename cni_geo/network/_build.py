"""Building a :class:`RoadGraph` from road lines, with an on-disk cache (see the package doc)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import shapely

from .._util import file_sha256, require_projected
from ..errors import ColumnError, DataError, RecipeError, SourceError
from ._graph import PROFILES, Profile, RoadGraph, _ProfileSpec

log = logging.getLogger(__name__)

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
        from ..sources import read_osm_roads, to_working_crs
        from ..sources._vector import read_vector

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
    nodes, inv = _merge_vertices(coords)
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


def _merge_vertices(coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique vertices to 1 cm, sorted by (x, y), and each vertex's node id.

    The two cm coordinates are packed into one int64 when their ranges allow (any national
    grid does), which ``np.unique`` sorts several times faster than rows of two columns.
    """
    key = np.round(coords * 100).astype(np.int64)  # merge vertices to 1 cm
    if len(key) == 0:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    lo = key.min(axis=0)
    span = key.max(axis=0) - lo + 1
    if float(span[0]) * float(span[1]) < 2.0**62:
        packed = (key[:, 0] - lo[0]) * span[1] + (key[:, 1] - lo[1])
        uniq, inv = np.unique(packed, return_inverse=True)
        cm = np.column_stack([uniq // span[1] + lo[0], uniq % span[1] + lo[1]])
    else:
        cm, inv = np.unique(key, axis=0, return_inverse=True)
    return cm.astype(float) / 100, inv.ravel()


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
