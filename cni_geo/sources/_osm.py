"""OpenStreetMap .osm.pbf readers: asset categories from a tag catalogue, and road lines."""

from __future__ import annotations

import importlib.resources
import logging
import re
import struct
import warnings
from pathlib import Path
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import yaml

from .._util import DEFAULT_CRS, fmt_count
from ..errors import RecipeError, SourceError
from ._crs import as_crs, require_metric, to_working_crs
from ._vector import check_file

log = logging.getLogger("cni_geo.sources")

#: the five CNI civic-asset groups and the key services
GROUPS = ("community_space", "education", "sport_leisure", "culture", "green_space", "service")
_TOP_KEYS = {"version", "description", "groups", "categories"}
_CATEGORY_KEYS = {"group", "label", "description", "rules"}


def default_catalogue_path() -> Path:
    """The shipped catalogue: inside an installed wheel, else the repository's data folder."""
    try:
        packaged = importlib.resources.files("cni_geo") / "_data" / "catalogues" / "osm_assets.yaml"
        if packaged.is_file():
            return Path(str(packaged))
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover
        pass
    return Path(__file__).resolve().parents[2] / "data" / "catalogues" / "osm_assets.yaml"


def _as_tag_value(v) -> str:
    if isinstance(v, bool):  # YAML 1.1 reads yes/no as booleans
        return "yes" if v else "no"
    return str(v)


def load_catalogue(catalogue=None) -> dict:
    """Load and validate an OSM tag catalogue (a path, a dict, or ``None`` for the shipped one).

    Returns
    -------
    dict
        ``{"groups": {key: label}, "categories": {key: {"group", "label", "rules"}}}`` with
        every rule a dict of tag key -> list of strings (or a single ``"*"``/``"!x"``/regex).
        Unknown keys, unknown groups and malformed rules raise :class:`RecipeError` naming the
        key path.
    """
    where = "the OSM catalogue"
    if catalogue is None:
        catalogue = default_catalogue_path()
    if isinstance(catalogue, dict):
        raw = catalogue
    else:
        path = check_file(catalogue, what="OSM tag catalogue")
        where = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            msg = f"{where} is not valid YAML: {exc}"
            raise RecipeError(msg) from exc
    if not isinstance(raw, dict) or "categories" not in raw:
        msg = f"{where}: a catalogue is a mapping with a `categories:` key."
        raise RecipeError(msg)
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        msg = f"{where}: unknown key '{sorted(unknown)[0]}'; valid keys: {', '.join(sorted(_TOP_KEYS))}."
        raise RecipeError(msg)
    groups = {str(k): str(v) for k, v in (raw.get("groups") or {g: g for g in GROUPS}).items()}
    cats: dict[str, dict] = {}
    for key, spec in (raw.get("categories") or {}).items():
        path_ = f"categories.{key}"
        if not isinstance(spec, dict):
            msg = f"{where}: {path_} must be a mapping with group, label and rules."
            raise RecipeError(msg)
        bad = set(spec) - _CATEGORY_KEYS
        if bad:
            msg = f"{where}: {path_}: unknown key '{sorted(bad)[0]}'; valid keys: {', '.join(sorted(_CATEGORY_KEYS))}."
            raise RecipeError(msg)
        group = spec.get("group")
        if group not in groups:
            msg = f"{where}: {path_}.group: unknown group '{group}'; known groups: {', '.join(groups)}."
            raise RecipeError(msg)
        rules = spec.get("rules")
        if (
            not isinstance(rules, list)
            or not rules
            or not all(isinstance(r, dict) and r for r in rules)
        ):
            msg = f"{where}: {path_}.rules must be a non-empty list of tag conditions, e.g. [{{amenity: library}}]."
            raise RecipeError(msg)
        clean = []
        for i, rule in enumerate(rules):
            cond = {}
            for tag, val in rule.items():
                vals = val if isinstance(val, list) else [val]
                cond[str(tag)] = [_as_tag_value(v) for v in vals]
                if str(tag).endswith("~"):
                    try:
                        re.compile(cond[str(tag)][0])
                    except re.error as exc:
                        msg = f"{where}: {path_}.rules[{i}].{tag}: bad regular expression ({exc})."
                        raise RecipeError(msg) from exc
            clean.append(cond)
        cats[str(key)] = {"group": group, "label": str(spec.get("label", key)), "rules": clean}
    if not cats:
        msg = f"{where}: `categories:` is empty."
        raise RecipeError(msg)
    return {"groups": groups, "categories": cats, "source": where}


def _check_pbf(p: Path) -> None:
    """Walk the PBF blob headers: a file that ends mid-blob is truncated."""
    size = p.stat().st_size
    with open(p, "rb") as fh:
        pos, first = 0, True
        while pos < size:
            head = fh.read(4)
            if len(head) < 4:
                break
            (hlen,) = struct.unpack(">I", head)
            blob_header = fh.read(hlen)
            if first and (hlen > 64 * 1024 or len(blob_header) < hlen):
                btype = "unreadable"
            elif len(blob_header) < hlen or hlen > 64 * 1024:
                break
            else:
                btype, datasize = _parse_blob_header(blob_header)
            if first and btype != "OSMHeader":
                msg = f"{p} is not an OSM PBF file (first block '{btype}'); download a .osm.pbf extract (e.g. from Geofabrik)."
                raise SourceError(msg)
            first = False
            pos += 4 + hlen + datasize
            fh.seek(pos)
        else:
            if pos == size:
                return
        msg = (
            f"{p} is truncated or corrupted (it ends inside a data block at byte {size:,}); "
            "download the extract again and check its checksum (.md5 next to it on the server)."
        )
        raise SourceError(msg)


def _parse_blob_header(buf: bytes) -> tuple[str, int]:
    """Minimal protobuf parse of an OSM BlobHeader: field 1 type (string), field 3 datasize."""
    i, btype, datasize = 0, "", 0

    def varint(j):
        shift = result = 0
        while True:
            b = buf[j]
            result |= (b & 0x7F) << shift
            j += 1
            if not b & 0x80:
                return result, j
            shift += 7

    try:
        while i < len(buf):
            key, i = varint(i)
            field, wire = key >> 3, key & 7
            if wire == 0:
                val, i = varint(i)
                if field == 3:
                    datasize = val
            elif wire == 2:
                n, i = varint(i)
                if field == 1:
                    btype = buf[i : i + n].decode("ascii", "replace")
                i += n
            else:
                raise ValueError(wire)
    except (IndexError, ValueError):
        return "?", 1 << 62
    return btype, datasize


def _read_layer(p: Path, layer: str, columns=None) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(p, layer=layer, columns=columns)
    except Exception as exc:
        msg = f"could not read the '{layer}' layer of {p}: {exc}. Is it a complete .osm.pbf file?"
        raise SourceError(msg) from exc


def _hstore_get(other: pd.Series, key: str) -> pd.Series:
    pat = r'(?:^|,)"' + re.escape(key) + r'"=>"((?:[^"\\]|\\.)*)"'
    return other.str.extract(pat, expand=False).str.replace(r"\\(.)", r"\1", regex=True)


class _Tags:
    """Tag lookup over a GDAL OSM layer: a column if GDAL made one, else from `other_tags`."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.other = frame["other_tags"].astype("string") if "other_tags" in frame else None
        self.cache: dict[str, pd.Series] = {}

    def __call__(self, key: str) -> pd.Series:
        if key not in self.cache:
            if key in self.frame.columns and key not in ("geometry", "other_tags"):
                s = self.frame[key].astype("string")
            elif self.other is not None:
                s = _hstore_get(self.other, key)
            else:
                s = pd.Series(pd.NA, index=self.frame.index, dtype="string")
            self.cache[key] = s.astype("string")
        return self.cache[key]

    def keys_found(self) -> pd.Series:
        cols = [
            c
            for c in self.frame.columns
            if c not in ("geometry", "other_tags", "osm_id", "osm_way_id", "z_order")
        ]
        counts = {c: int(self.frame[c].notna().sum()) for c in cols}
        if self.other is not None:
            keys = self.other.str.extractall(r'"((?:[^"\\]|\\.)*)"=>')[0]
            for k, n in keys.value_counts().items():
                counts[k] = counts.get(k, 0) + int(n)
        return pd.Series(counts, dtype=int)


def _match(tags: _Tags, rule: dict[str, list[str]]) -> np.ndarray:
    mask = np.ones(len(tags.frame), dtype=bool)
    for key, vals in rule.items():
        if key.endswith("~"):
            s = tags(key[:-1])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "has match groups"
                m = s.str.contains(vals[0], regex=True).fillna(False)
        else:
            s = tags(key)
            if vals == ["*"]:
                m = s.notna()
            elif vals == ["!*"]:
                m = s.isna()
            elif all(v.startswith("!") for v in vals):
                m = ~s.isin([v[1:] for v in vals]).fillna(False)
            else:
                m = s.isin(vals).fillna(False)
        mask &= m.to_numpy(dtype=bool)
    return mask


def _categorise(frame: pd.DataFrame, cat: dict) -> pd.Series:
    tags = _Tags(frame)
    out = np.full(len(frame), None, dtype=object)
    for key, spec in cat["categories"].items():
        hit = np.zeros(len(frame), dtype=bool)
        for rule in spec["rules"]:
            hit |= _match(tags, rule)
        out[hit & (out == None)] = key  # noqa: E711 - elementwise
    return pd.Series(out, index=frame.index, dtype="string"), tags


class OsmAssets(NamedTuple):
    """What :func:`read_osm_assets` returns.

    points
        Every matched feature as a point (polygons: ``point_on_surface``), indexed by ``osm_id``
        (``node/123``, ``way/45``, ``relation/6``) with ``name``, ``category``, ``group``,
        ``source_geometry``; use this for counts and distances.
    polygons
        The polygon features (same ids, ``category``, ``group``), e.g. for green-space area;
        empty when ``keep_polygons=False``.
    counts
        Features per category (a Series named ``count``, indexed by category, catalogue order).
    """

    points: gpd.GeoDataFrame
    polygons: gpd.GeoDataFrame
    counts: pd.Series


def read_osm_assets(
    pbf,
    *,
    catalogue=None,
    working_crs=DEFAULT_CRS,
    keep_polygons: bool = True,
    dedupe: bool = True,
) -> OsmAssets:
    """Read civic assets and services from an OpenStreetMap ``.osm.pbf`` extract.

    Reads GDAL's OSM driver layers ``points`` and ``multipolygons`` with pyogrio, looks up tags
    in the columns GDAL makes and in the ``other_tags`` hstore string, and gives each feature
    the first catalogue category whose rules it matches (see ``docs/osm-catalogue.md``).

    Parameters
    ----------
    pbf
        The ``.osm.pbf`` file (e.g. a Geofabrik county extract).
    catalogue
        Path or dict of the tag catalogue; ``None`` uses the shipped
        ``data/catalogues/osm_assets.yaml``.
    working_crs
        Projected CRS of the result.
    keep_polygons
        Also return the polygon features (``OsmAssets.polygons``).
    dedupe
        Drop a point feature that lies inside a polygon feature of the same category (the same
        library mapped as a node and as its building); the number dropped is logged.

    Returns
    -------
    OsmAssets
        ``(points, polygons, counts)``. The counts per category are also logged.

    Raises
    ------
    SourceError
        Missing or truncated file, or no feature matching any rule (the message lists the
        most frequent tag keys found).
    RecipeError
        A malformed catalogue (unknown key, unknown group, bad rule).
    """
    cat = load_catalogue(catalogue)
    target = as_crs(working_crs, name="working_crs")
    require_metric(target)
    p = check_file(pbf, what="OSM extract")
    _check_pbf(p)
    frames, found = [], []
    for layer, prefix in (("points", "node/"), ("multipolygons", None)):
        gdf = _read_layer(p, layer)
        category, tags = _categorise(gdf, cat)
        found.append(tags)
        keep = category.notna().to_numpy()
        sub = gdf[keep]
        if prefix:
            ids = prefix + sub["osm_id"].astype("string")
        else:
            rel = sub["osm_id"].notna()
            ids = ("relation/" + sub["osm_id"].astype("string")).where(
                rel, "way/" + sub["osm_way_id"].astype("string")
            )
        name = (
            sub["name"].astype("string")
            if "name" in sub
            else pd.Series(pd.NA, index=sub.index, dtype="string")
        )
        frames.append(
            gpd.GeoDataFrame(
                {
                    "osm_id": ids.to_numpy(),
                    "name": name.to_numpy(),
                    "category": category[keep].to_numpy(),
                },
                geometry=sub.geometry.values,
                crs=gdf.crs,
            )
        )
    both = pd.concat(frames, ignore_index=True)
    if both.empty:
        keys = (
            pd.concat([t.keys_found() for t in found])
            .groupby(level=0)
            .sum()
            .sort_values(ascending=False)
        )
        top = ", ".join(f"{k} ({v:,})" for k, v in keys.head(25).items())
        msg = (
            f"no feature of {p} matches any rule of {cat['source']}; tag keys found (most frequent first): "
            f"{top}. Check the extract covers your area and the catalogue's tags."
        )
        raise SourceError(msg)
    both = gpd.GeoDataFrame(both, geometry="geometry", crs=frames[0].crs)
    both = to_working_crs(both, target, name=f"OSM assets from {p.name}")
    both["group"] = (
        both["category"].map({k: v["group"] for k, v in cat["categories"].items()}).astype("string")
    )
    geoms = both.geometry.values
    is_poly = shapely.get_type_id(geoms) != 0
    invalid = is_poly & ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(
            np.asarray(geoms[invalid]), method="structure", keep_collapsed=False
        )
        log.info(
            "%s OSM polygons were invalid and repaired with make_valid.",
            fmt_count(int(invalid.sum()), int(is_poly.sum())),
        )
    both = both.set_geometry(gpd.GeoSeries(geoms, index=both.index, crs=both.crs))
    drop = np.zeros(len(both), dtype=bool)
    if dedupe and is_poly.any() and (~is_poly).any():
        pt_idx = np.flatnonzero(~is_poly)
        poly_idx = np.flatnonzero(is_poly)
        tree = shapely.STRtree(geoms[poly_idx])
        a, b = tree.query(geoms[pt_idx], predicate="within")
        same = both["category"].to_numpy()[pt_idx[a]] == both["category"].to_numpy()[poly_idx[b]]
        drop[pt_idx[a[same]]] = True
        if drop.any():
            log.info(
                "%s OSM point features lie inside a polygon of the same category and were counted once.",
                fmt_count(int(drop.sum())),
            )
    both = both[~drop]
    is_poly = is_poly[~drop]
    both = both.set_index("osm_id")
    both.index = both.index.astype(object)
    points = both[["name", "category", "group"]].assign(
        source_geometry=np.where(is_poly, "Polygon", "Point")
    )
    points = gpd.GeoDataFrame(
        points, geometry=shapely.point_on_surface(both.geometry.values), crs=both.crs
    )
    polygons = (
        both[is_poly][["name", "category", "group", "geometry"]]
        if keep_polygons
        else both.iloc[:0][["name", "category", "group", "geometry"]]
    )
    order = list(cat["categories"])
    counts = points["category"].value_counts().reindex(order, fill_value=0).rename("count")
    counts.index.name = "category"
    log.info(
        "%s: %s assets: %s.",
        p.name,
        fmt_count(len(points)),
        ", ".join(f"{k} {v:,}" for k, v in counts.items()),
    )
    points.attrs["category_counts"] = counts.to_dict()
    return OsmAssets(points, polygons, counts)


#: OSM highway values that are not usable roads or paths
NOT_ROADS = (
    "proposed",
    "construction",
    "abandoned",
    "disused",
    "razed",
    "platform",
    "raceway",
    "bus_guideway",
    "elevator",
    "corridor",
)


def read_osm_roads(pbf, *, working_crs=DEFAULT_CRS) -> gpd.GeoDataFrame:
    """Read the road and path network (``lines`` layer with ``highway``) from a ``.osm.pbf``.

    Returns
    -------
    GeoDataFrame
        LineStrings in the working CRS, indexed by ``osm_id`` (``way/123``), with ``name``,
        ``road_class`` (the ``highway`` value), ``oneway`` (1 along the way, -1 against it,
        0 both ways; roundabouts are one-way), ``foot``, ``access`` and ``maxspeed`` (strings).
        Ready for :func:`cni_geo.network.build_graph`.
    """
    target = as_crs(working_crs, name="working_crs")
    require_metric(target)
    p = check_file(pbf, what="OSM extract")
    _check_pbf(p)
    lines = _read_layer(p, "lines")
    if "highway" not in lines.columns or lines["highway"].isna().all():
        msg = f"{p} holds no roads (no line with a `highway` tag); is the extract the right area?"
        raise SourceError(msg)
    hw = lines["highway"].astype("string")
    keep = (hw.notna() & ~hw.isin(NOT_ROADS)).to_numpy()
    lines = lines[keep]
    tags = _Tags(lines)
    ow = tags("oneway").str.lower()
    oneway = np.select(
        [
            ow.isin(["yes", "1", "true"]).fillna(False),
            ow.isin(["-1", "reverse"]).fillna(False),
            tags("junction").isin(["roundabout", "circular"]).fillna(False) & ow.isna(),
        ],
        [1, -1, 1],
        0,
    )
    out = gpd.GeoDataFrame(
        {
            "name": lines["name"].astype("string").to_numpy(),
            "road_class": lines["highway"].astype("string").to_numpy(),
            "oneway": oneway.astype("int8"),
            "foot": tags("foot").to_numpy(),
            "access": tags("access").to_numpy(),
            "maxspeed": tags("maxspeed").to_numpy(),
        },
        geometry=lines.geometry.values,
        crs=lines.crs,
        index=pd.Index(
            ("way/" + lines["osm_id"].astype("string")).to_numpy(dtype=object), name="osm_id"
        ),
    )
    out = to_working_crs(out, target, name=f"OSM roads from {p.name}")
    log.info(
        "%s: %s road and path lines (%s one-way).",
        p.name,
        fmt_count(len(out)),
        fmt_count(int((out["oneway"] != 0).sum())),
    )
    return out
