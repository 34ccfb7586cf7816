"""The web map's data: one compact copy of the geometry and only the properties shown.

Geometry format (``payload["geom"]``), decoded by the page and by the tests:

- ``coords``: flat integers ``[dx0, dy0, dx1, dy1, ...]``; their running sum (over the whole
  array) divided by ``10 ** precision`` is longitude, latitude in WGS84 (EPSG:4326);
- ``rings``: offsets of each ring into the vertices (``len = n_rings + 1``);
- ``polys``: offsets of each polygon into the rings; ``feats``: offsets of each area into the
  polygons (the same layout as :func:`shapely.to_ragged_array` for MultiPolygons).

Properties are parallel arrays in area order: codes, names, the root's score/rank/decile, each
domain's rank, the Left Behind flag, and per layer the class number (-1 = no data) of each area.
"""

from __future__ import annotations

import json
import logging
import math
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._util import fmt_count, require_projected
from ..errors import ColumnError, DataError, GeometryError
from ._webmap_simplify import thin_coverage
from .classify import Classification, category_style, decile_classification

log = logging.getLogger(__name__)

PRECISION = 5  # decimals of a degree: ~1 m


def _json_safe(text: str) -> str:
    """JSON that can sit inside ``<script>``: no ``<``, ``>`` or ``&`` left literal."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_SMALL = 99_999  # integers up to this size are written from a table (deltas are small)


def _digit_table() -> tuple[np.ndarray, np.ndarray]:
    text = [f"{i}," for i in range(-_SMALL, _SMALL + 1)]
    width = max(map(len, text))
    table = np.frombuffer("".join(t.ljust(width) for t in text).encode("ascii"), dtype=np.uint8)
    return table.reshape(-1, width), np.array([len(t) for t in text])


_TABLE: tuple[np.ndarray, np.ndarray] | None = None


def _ints_json(values: np.ndarray) -> str:
    """A JSON array of integers; small ones are looked up in a table with numpy (fast)."""
    global _TABLE
    v = np.asarray(values, dtype=np.int64).ravel()
    if len(v) < 10_000 or np.abs(v).max() > _SMALL:
        return "[" + ",".join(map(str, v.tolist())) + "]"
    if _TABLE is None:
        _TABLE = _digit_table()
    table, length = _TABLE
    row = v + _SMALL
    chars = table[row]
    chars = chars[np.arange(table.shape[1]) < length[row][:, None]]
    return "[" + chars[:-1].tobytes().decode("ascii") + "]"


def _nullable(values, *, decimals: int | None = None) -> list:
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
    if decimals is None:
        out = np.where(np.isnan(v), None, np.nan_to_num(v).astype(np.int64).astype(object))
    else:
        out = np.where(np.isnan(v), None, np.round(v, decimals).astype(object))
    return out.tolist()


def check_areas(areas, *, root: str, domains) -> None:
    """Raise a named error unless ``areas`` is an areas result frame the map can draw."""
    if not isinstance(areas, gpd.GeoDataFrame):
        msg = (
            f"`areas` must be a GeoDataFrame (the areas result frame), got {type(areas).__name__}."
        )
        raise DataError(msg)
    require_projected(areas, "areas", what="the web map's simplification")
    if not areas.index.is_unique:
        dup = areas.index[areas.index.duplicated()].unique()[:3].tolist()
        msg = f"`areas` has duplicate area codes in its index (e.g. {dup}); codes must be unique."
        raise DataError(msg)
    needed = [f"{root}_score", f"{root}_rank", f"{root}_decile"]
    needed += [f"{d}_{k}" for d in domains for k in ("rank", "decile")]
    missing = [c for c in needed if c not in areas.columns]
    if missing:
        msg = (
            f"`areas` lacks the column(s) {missing} that the web map shows; pass the areas result "
            f"frame from the index step (root={root!r}, domains={list(domains)!r})."
        )
        raise ColumnError(msg)


def auto_tolerance(geoms: np.ndarray) -> float:
    """A simplification tolerance in metres: 2% of the side of the median area, 5 to 50 m."""
    areas = shapely.area(geoms)
    areas = areas[areas > 0]
    if areas.size == 0:
        return 0.0
    return float(np.clip(0.02 * math.sqrt(float(np.median(areas))), 5.0, 50.0))


def simplify(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Coverage simplification: shared edges stay shared (shapely >= 2.1, GEOS >= 3.12).

    GEOS's coverage simplifier costs 1-3.5 us per input vertex and holds the GIL, so each
    shared arc is first simplified once by a quarter of the tolerance with our vectorised
    pre-pass (:func:`~cni_geo.export._webmap_simplify.thin_coverage`, Douglas-Peucker, shared
    edges kept identical): 15.2 M vertices become 2.7 M in ~7-10 s, and GEOS then needs ~3 s
    instead of ~55 s.
    """
    if tolerance <= 0:
        return geoms
    geoms = thin_coverage(geoms, tolerance / 4)
    try:
        return shapely.coverage_simplify(geoms, tolerance, simplify_boundary=True)
    except shapely.errors.GEOSException as exc:
        warnings.warn(
            f"coverage simplification failed ({exc}); areas are simplified one by one, so "
            "neighbouring edges may no longer match exactly. Repair overlaps with make_valid.",
            stacklevel=3,
        )
        return shapely.simplify(geoms, tolerance, preserve_topology=True)


def encode_geometry(geoms_wgs84: np.ndarray, precision: int = PRECISION) -> dict:
    """Delta-encoded, rounded coordinates with ring/polygon/area offsets (see module doc)."""
    multi = np.array(geoms_wgs84, dtype=object)
    polys = shapely.get_type_id(multi) == shapely.GeometryType.POLYGON
    if polys.any():
        multi[polys] = shapely.multipolygons(multi[polys].reshape(-1, 1))
    bad = shapely.is_missing(multi) | shapely.is_empty(multi)
    if bad.any():
        multi[bad] = shapely.from_wkt("MULTIPOLYGON EMPTY")
    _, coords, (rings, polys_off, feats) = shapely.to_ragged_array(multi)
    q = np.round(coords * 10**precision).astype(np.int64)
    # drop vertices that rounding made duplicates of the previous one (never a ring's first)
    start = np.zeros(len(q), dtype=bool)
    start[rings[:-1][rings[:-1] < len(q)]] = True
    same = np.zeros(len(q), dtype=bool)
    same[1:] = (q[1:] == q[:-1]).all(axis=1)
    keep = ~same | start
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    rings = kept_before[rings]
    q = q[keep]
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    return {
        "precision": precision,
        "coords": delta.ravel(),
        "rings": rings,
        "polys": polys_off,
        "feats": feats,
    }


def decode_geometry(geom: dict) -> list[list[list[np.ndarray]]]:
    """Inverse of :func:`encode_geometry`: per area, per polygon, per ring an (n, 2) array."""
    xy = np.cumsum(np.asarray(geom["coords"], dtype=np.int64).reshape(-1, 2), axis=0)
    xy = xy / 10 ** geom["precision"]
    rings, polys, feats = (np.asarray(geom[k]) for k in ("rings", "polys", "feats"))
    out = []
    for f in range(len(feats) - 1):
        area = []
        for p in range(feats[f], feats[f + 1]):
            area.append([xy[rings[r] : rings[r + 1]] for r in range(polys[p], polys[p + 1])])
        out.append(area)
    return out


def layer_classifications(root: str, domains, labels: dict) -> list[Classification]:
    return [decile_classification(f"{n}_decile", title=labels[n]) for n in (root, *domains)]


def build_payload(
    areas: gpd.GeoDataFrame,
    *,
    root: str,
    domains: tuple[str, ...],
    labels: dict[str, str],
    assets,
    asset_category: str,
    asset_name: str,
    tolerance: float | None,
) -> tuple[dict, dict]:
    """The page's data (JSON-ready, geometry still numpy) and facts for the log."""
    geoms = np.asarray(areas.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        warnings.warn(
            f"{fmt_count(int(missing.sum()), len(geoms))} areas have no geometry; "
            "they are left off the web map.",
            stacklevel=3,
        )
    kinds = shapely.get_type_id(geoms[~missing])
    polygonal = np.isin(kinds, [shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON])
    if not polygonal.all():
        msg = (
            f"{fmt_count(int((~polygonal).sum()), len(kinds))} areas are not polygons; the web "
            "map draws area polygons (the areas result frame)."
        )
        raise GeometryError(msg)
    keep = ~missing
    frame = areas.loc[keep]
    geoms = geoms[keep]
    tol = auto_tolerance(geoms) if tolerance is None else float(tolerance)
    n_before = int(shapely.get_num_coordinates(geoms).sum())
    simple = simplify(geoms, tol)
    wgs = gpd.GeoSeries(simple, crs=areas.crs).to_crs(4326)
    geom = encode_geometry(np.asarray(wgs.array, dtype=object))
    west, south, east, north = wgs.total_bounds

    layers = []
    for cls in layer_classifications(root, domains, labels):
        node = cls.column.removesuffix("_decile")
        layers.append(
            {
                "id": node,
                "title": labels[node],
                "classes": cls.classify(frame[cls.column]),
                "colors": list(cls.colors),
                "labels": list(cls.labels),
                "nodata": [cls.nodata_label, cls.nodata_color],
            }
        )
    names = frame["name"] if "name" in frame.columns else pd.Series(pd.NA, index=frame.index)
    props = {
        "score": _nullable(frame[f"{root}_score"], decimals=2),
        "rank": _nullable(frame[f"{root}_rank"]),
        "decile": _nullable(frame[f"{root}_decile"]),
        "domain_ranks": [_nullable(frame[f"{d}_rank"]) for d in domains],
    }
    if "left_behind" in frame.columns:
        lb = frame["left_behind"].astype("boolean")
        props["left_behind"] = np.where(lb.isna(), -1, lb.fillna(False).astype(int)).tolist()
    payload = {
        "n": int(len(frame)),
        "n_ranked": int(pd.to_numeric(frame[f"{root}_rank"], errors="coerce").notna().sum()),
        "codes": [str(c) for c in frame.index],
        "names": [None if pd.isna(v) else str(v) for v in names],
        "labels": {
            "root": labels[root],
            "domains": [labels[d] for d in domains],
            "score": labels.get(f"{root}_score", "Score"),
            "rank": labels.get(f"{root}_rank", "Rank"),
            "decile": labels.get(f"{root}_decile", "Decile"),
            "left_behind": labels.get("left_behind", "Left Behind"),
        },
        "props": props,
        "layers": layers,
        "bounds": [[float(south), float(west)], [float(north), float(east)]],
        "geom": geom,
        "assets": _assets_payload(assets, asset_category, asset_name),
    }
    n_after = len(geom["coords"]) // 2
    facts = {"tolerance": tol, "vertices_in": n_before, "vertices_out": n_after}
    return payload, facts


def _assets_payload(assets, category: str, name: str) -> dict | None:
    if assets is None:
        return None
    if not isinstance(assets, gpd.GeoDataFrame):
        msg = f"`assets` must be a GeoDataFrame of points, got {type(assets).__name__}."
        raise DataError(msg)
    if category not in assets.columns:
        msg = (
            f"`assets` has no column {category!r} for the marker categories; "
            f"name it with asset_category= (columns: {list(assets.columns)[:8]})."
        )
        raise ColumnError(msg)
    if assets.crs is None:
        msg = "`assets` has no CRS; set it with `assets.set_crs(...)`."
        raise DataError(msg)
    geoms = np.asarray(assets.geometry.array, dtype=object)
    ok = (
        ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & assets[category].notna().to_numpy()
    )
    if (~ok).any():
        warnings.warn(
            f"{fmt_count(int((~ok).sum()), len(ok))} assets have no geometry or no category; "
            "they are left off the web map.",
            stacklevel=4,
        )
    sub = assets.loc[ok]
    pts = gpd.GeoSeries(shapely.point_on_surface(geoms[ok]), crs=assets.crs).to_crs(4326)
    xy = np.round(shapely.get_coordinates(pts.array) * 10**PRECISION).astype(np.int64)
    style = category_style(category, sub[category])
    cat_idx = pd.Categorical(sub[category].astype(str), categories=style.categories).codes
    names = sub[name] if name in sub.columns else pd.Series(pd.NA, index=sub.index)
    return {
        "categories": list(style.categories),
        "colors": list(style.colors),
        "cat": cat_idx,
        "xy": xy.ravel(),
        "names": [None if pd.isna(v) else str(v) for v in names],
    }


def payload_json(payload: dict) -> str:
    """Serialise with integer arrays written directly (fast) and HTML-safe escapes."""
    placeholders: dict[str, str] = {}

    def prep(obj):
        if isinstance(obj, np.ndarray):
            key = f"@@ARRAY{len(placeholders)}@@"
            placeholders[key] = _ints_json(obj)
            return key
        if isinstance(obj, dict):
            return {k: prep(v) for k, v in obj.items()}
        if isinstance(obj, list):
            if all(v is None or isinstance(v, str | int | float) for v in obj):
                return obj  # names, codes, properties: nothing to replace inside
            return [prep(v) for v in obj]
        return obj

    text = json.dumps(prep(payload), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for key, arr in placeholders.items():
        text = text.replace(f'"{key}"', arr, 1)
    return _json_safe(text)
