"""Vector readers: areas (boundaries), points (vector or CSV) and asset layers."""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .._util import DEFAULT_CRS, crs_label, fmt_count
from ..errors import ColumnError, CRSError, DataError, GeometryError, SourceError
from ._crs import as_crs, require_metric, to_working_crs

log = logging.getLogger("cni_geo.sources")

#: file extension -> the GDAL drivers that may legitimately open it
VECTOR_DRIVERS: dict[str, tuple[str, ...]] = {
    ".gpkg": ("GPKG",),
    ".shp": ("ESRI Shapefile",),
    ".geojson": ("GeoJSON", "GeoJSONSeq"),
    ".json": ("GeoJSON", "GeoJSONSeq", "TopoJSON"),
    ".geojsonl": ("GeoJSONSeq",),
    ".geojsons": ("GeoJSONSeq",),
    ".ndjson": ("GeoJSONSeq",),
    ".fgb": ("FlatGeobuf",),
    ".gml": ("GML",),
    ".kml": ("KML", "LIBKML"),
    ".gdb": ("OpenFileGDB",),
    ".parquet": ("Parquet",),
    ".zip": ("ESRI Shapefile", "GPKG", "GeoJSON", "FlatGeobuf", "OpenFileGDB"),
}
TABLE_EXTENSIONS = (".csv", ".txt", ".tsv")

#: ONS-style code columns (LSOA21CD, WD19CD, lsoa11cd, OA11CD, ...) and generic names
CODE_COLUMN = re.compile(r"^[A-Za-z]{2,8}\d{2}(CD|_CODE)$", re.IGNORECASE)
GENERIC_CODE_COLUMNS = (
    "code",
    "geo_code",
    "geographycode",
    "geography code",
    "areacd",
    "area_code",
    "id",
)
NAME_COLUMN = re.compile(r"^[A-Za-z]{2,8}\d{2}NM$", re.IGNORECASE)
GENERIC_NAME_COLUMNS = ("name", "geo_name", "geography", "areanm", "area_name", "label")


def check_file(path, *, what: str = "file") -> Path:
    """Return ``path`` as a Path or raise :class:`SourceError` naming it if it is missing."""
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        hint = ""
        if p.parent.is_dir():
            near = sorted(x.name for x in p.parent.iterdir() if x.suffix == p.suffix)[:5]
            if near:
                hint = f" Files with the same extension there: {', '.join(near)}."
        msg = f"the {what} {p} does not exist; check the path (relative paths resolve against the recipe's folder).{hint}"
        raise SourceError(msg)
    return p


def _open_info(p: Path, layer):
    """List the layers, pick one, and check the driver matches the extension."""
    ext = p.suffix.lower()
    try:
        layers = pyogrio.list_layers(p)
    except Exception as exc:  # pyogrio.errors.DataSourceError and GDAL errors
        expected = VECTOR_DRIVERS.get(ext, ("a vector format GDAL reads",))[0]
        msg = (
            f"{p} could not be opened as {expected} ({exc}). Is it really a {ext or 'vector'} file, "
            "complete and not corrupted? Re-download it or convert it with ogr2ogr."
        )
        raise SourceError(msg) from exc
    names = [str(n) for n in layers[:, 0]]
    if layer is None:
        if len(names) > 1:
            msg = f"{p} holds {len(names)} layers ({', '.join(names)}); name one with `layer=` (recipe: `layer:`)."
            raise SourceError(msg)
        layer = names[0] if names else None
    elif str(layer) not in names:
        msg = f"{p} has no layer '{layer}'; its layers are: {', '.join(names) or 'none'}."
        raise SourceError(msg)
    info = pyogrio.read_info(p, layer=layer)
    expected = VECTOR_DRIVERS.get(ext)
    if expected and info.get("driver") not in expected:
        msg = (
            f"{p} has the extension {ext} but GDAL reads it as {info.get('driver')}; "
            f"rename it to the matching extension or convert it (expected {' or '.join(expected)})."
        )
        raise SourceError(msg)
    return layer, info


def read_vector(path, *, layer=None, crs=None, what: str = "layer") -> gpd.GeoDataFrame:
    """Read one layer with pyogrio, checking the file, the layer and the CRS (not reprojected)."""
    p = check_file(path, what=f"{what} file")
    layer, info = _open_info(p, layer)
    try:
        gdf = pyogrio.read_dataframe(p, layer=layer, use_arrow=True)
    except Exception as exc:
        msg = (
            f"could not read layer '{layer}' of {p}: {exc}. The file may be truncated or corrupted."
        )
        raise SourceError(msg) from exc
    where = f"layer '{layer}' of {p}" if layer is not None else str(p)
    if len(gdf) == 0:
        msg = f"{where} has no features; check you picked the right file/layer (recipe `path:`/`layer:`)."
        raise SourceError(msg)
    if crs is not None:
        target = as_crs(crs, name="crs")
        if gdf.crs is not None and not gdf.crs.equals(target):
            log.warning(
                "%s: overriding its CRS %s with crs=%s as asked.",
                where,
                crs_label(gdf.crs),
                crs_label(target),
            )
        gdf = gdf.set_crs(target, allow_override=True)
    elif gdf.crs is None:
        msg = (
            f"{where} has no CRS (no .prj or CRS record), so its coordinates cannot be placed. "
            "Give it with `crs=` (recipe: `crs:` on the source), e.g. 'EPSG:27700' for British "
            "National Grid eastings/northings or 'EPSG:4326' for longitude/latitude."
        )
        raise CRSError(msg)
    gdf.attrs["source"] = str(p)
    gdf.attrs["layer"] = layer
    return gdf


def _detect(
    columns, pattern, generic, *, role: str, where: str, values: pd.DataFrame | None = None
):
    hits = [c for c in columns if pattern.match(str(c))]
    if not hits:
        lower = {str(c).lower(): c for c in columns}
        hits = [lower[g] for g in generic if g in lower]
    if values is not None and len(hits) > 1:
        unique = [c for c in hits if values[c].is_unique]
        hits = unique or hits
    if hits and len(hits) > 1:
        log.info(
            "%s: several %s columns (%s); using '%s'.",
            where,
            role,
            ", ".join(map(str, hits)),
            hits[0],
        )
    return hits[0] if hits else None


def codes_as_strings(values: pd.Series) -> pd.Series:
    """Area codes as stripped strings; integral floats (100005.0) lose their '.0'."""
    s = values
    if pd.api.types.is_float_dtype(s) and s.dropna().eq(s.dropna().round()).all():
        s = s.astype("Int64")
    out = s.astype("string").str.strip()
    if out.dropna().str.fullmatch(r"\d+\.0+").all() and out.notna().any():
        out = out.str.replace(r"\.0+$", "", regex=True)
    return out


def set_id(df, id_col, *, where: str, what: str = "id"):
    """Index ``df`` by ``id_col`` as strings; missing or duplicate ids raise :class:`DataError`."""
    if id_col not in df.columns:
        cols = ", ".join(map(str, (c for c in df.columns if c != "geometry")))
        msg = f"{where} has no column '{id_col}' (the {what} column); its columns are: {cols}."
        raise ColumnError(msg)
    codes = codes_as_strings(df[id_col])
    missing = codes.isna() | (codes == "")
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())[:5]
        msg = f"{fmt_count(int(missing.sum()), len(df))} rows of {where} have no '{id_col}' (rows {', '.join(map(str, rows))}); every row needs a code."
        raise DataError(msg)
    dup = codes[codes.duplicated(keep=False)]
    if len(dup):
        few = ", ".join(pd.unique(dup)[:5])
        msg = (
            f"{where}: {fmt_count(dup.nunique())} '{id_col}' values occur more than once "
            f"({few}{', ...' if dup.nunique() > 5 else ''}); codes must be unique. "
            "Dissolve duplicates first or choose another id column."
        )
        raise DataError(msg)
    out = df.drop(columns=[id_col])
    out.index = pd.Index(codes.to_numpy(dtype=object), name=str(id_col))
    return out


def _repair(gdf: gpd.GeoDataFrame, *, where: str) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.values
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if invalid.any():
        fixed = geoms.copy()
        fixed[invalid] = shapely.make_valid(
            np.asarray(geoms[invalid]), method="structure", keep_collapsed=False
        )
        warnings.warn(
            f"{fmt_count(int(invalid.sum()), len(gdf))} geometries in {where} were invalid "
            "(self-intersections, bad rings) and were repaired with shapely.make_valid.",
            stacklevel=3,
        )
        gdf = gdf.set_geometry(gpd.GeoSeries(fixed, index=gdf.index, crs=gdf.crs))
    return gdf


def read_areas(
    path,
    *,
    layer=None,
    id: str | None = None,
    name: str | None = None,
    crs=None,
    working_crs=DEFAULT_CRS,
) -> gpd.GeoDataFrame:
    """Read a boundary layer (ONS GeoPackage, GeoJSON(Seq), Shapefile, ...) as areas.

    Parameters
    ----------
    path
        The boundary file.
    layer
        Its layer (required when the file holds more than one).
    id
        The code column. ``None`` detects ONS code columns (``LSOA21CD``, ``lsoa11cd``,
        ``WD19CD``, ...) or generic ones (``code``, ``GeographyCode``).
    name
        The name column; ``None`` detects ``*NM`` columns (``LSOA21NM``). It becomes ``name``.
    crs
        Override (or supply a missing) source CRS.
    working_crs
        The projected CRS in metres of the result.

    Returns
    -------
    GeoDataFrame
        Indexed by the codes (strings; the index is named after the id column), with a ``name``
        column when one was found, the remaining attributes, and polygonal geometries in the
        working CRS. Invalid geometries are repaired with a counted warning; empty or missing
        geometries, non-polygonal geometries and duplicate codes are errors.
    """
    target = as_crs(working_crs, name="working_crs")
    require_metric(target)
    gdf = read_vector(path, layer=layer, crs=crs, what="areas")
    where = str(gdf.attrs["source"]) + (f" (layer {layer})" if layer else "")
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    if id is None:
        id = _detect(cols, CODE_COLUMN, GENERIC_CODE_COLUMNS, role="code", where=where, values=gdf)
        if id is None:
            msg = f"{where}: no area code column found (looked for e.g. LSOA21CD, WD19CD, code); its columns are: {', '.join(map(str, cols))}. Name it with `id=` (recipe: `id:`)."
            raise ColumnError(msg)
        log.info("%s: using '%s' as the area code column.", where, id)
    if name is None:
        stem = re.sub(r"(?i)cd$", "", str(id))
        exact = [c for c in cols if str(c).lower() == (stem + "nm").lower()]
        name = (
            exact[0]
            if exact
            else _detect(
                [c for c in cols if c != id],
                NAME_COLUMN,
                GENERIC_NAME_COLUMNS,
                role="name",
                where=where,
            )
        )
    elif name not in gdf.columns:
        msg = f"{where} has no column '{name}' (the name column); its columns are: {', '.join(map(str, cols))}."
        raise ColumnError(msg)
    gdf = set_id(gdf, id, where=where, what="id")
    if name is not None and name != "name":
        gdf = gdf.drop(columns=["name"], errors="ignore").rename(columns={name: "name"})
    if "name" in gdf.columns:
        gdf = gdf[["name"] + [c for c in gdf.columns if c != "name"]]

    geoms = gdf.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        few = ", ".join(gdf.index[empty][:5])
        msg = (
            f"{fmt_count(int(empty.sum()), len(gdf))} areas in {where} have an empty or missing "
            f"geometry ({few}); an area must have a boundary. Fix or remove them in the file."
        )
        raise GeometryError(msg)
    kinds = pd.Series(shapely.get_type_id(geoms))
    bad = ~kinds.isin([3, 6])  # Polygon, MultiPolygon
    if bad.any():
        found = gdf.geom_type.value_counts()
        msg = (
            f"{where} mixes geometry types ({', '.join(f'{k}: {v:,}' for k, v in found.items())}); "
            "areas must all be polygons. Use read_points/read_assets for points or lines."
        )
        raise GeometryError(msg)
    gdf = _repair(gdf, where=where)
    gdf = to_working_crs(gdf, target, name=where)
    gdf.attrs.update(source=where, id_column=str(id))
    return gdf


def _csv_points(p: Path, *, x, y, crs, id):
    try:
        df = pd.read_csv(
            p,
            encoding="utf-8-sig",
            thousands=None,
            low_memory=False,
            dtype={id: str} if id else None,
        )
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        msg = f"{p} could not be read as a CSV table ({exc}); is it really a text table?"
        raise SourceError(msg) from exc
    if df.empty:
        msg = f"{p} has no rows."
        raise SourceError(msg)
    lower = {str(c).lower(): c for c in df.columns}
    src_crs = crs
    if (x is None) != (y is None):
        msg = f"{p}: give both `x=` and `y=` (got only one)."
        raise ColumnError(msg)
    if x is None:
        pairs = [
            ("easting", "northing", "EPSG:27700"),
            ("x", "y", None),
            ("longitude", "latitude", "EPSG:4326"),
            ("lon", "lat", "EPSG:4326"),
            ("long", "lat", "EPSG:4326"),
            ("lng", "lat", "EPSG:4326"),
        ]
        for a, b, default_crs in pairs:
            if a in lower and b in lower:
                x, y = lower[a], lower[b]
                src_crs = crs if crs is not None else default_crs
                break
        else:
            msg = (
                f"{p}: no coordinate columns found (looked for easting/northing, longitude/latitude, "
                f"lon/lat); its columns are: {', '.join(map(str, df.columns))}. Name them with `x=`/`y=` and `crs=`."
            )
            raise ColumnError(msg)
        log.info("%s: using columns '%s'/'%s' as coordinates.", p, x, y)
    for c in (x, y):
        if c not in df.columns:
            msg = f"{p} has no column '{c}'; its columns are: {', '.join(map(str, df.columns))}."
            raise ColumnError(msg)
    if src_crs is None:
        msg = f"{p}: the coordinates in '{x}'/'{y}' have no known CRS; give it with `crs=` (e.g. 'EPSG:27700' or 'EPSG:4326')."
        raise CRSError(msg)
    coords = {}
    for c in (x, y):
        num = pd.to_numeric(df[c], errors="coerce")
        text = num.isna() & df[c].notna() & (df[c].astype("string").str.strip() != "")
        if text.any():
            i = int(np.flatnonzero(text.to_numpy())[0])
            msg = f"{p}: column '{c}' holds text where numbers are expected (row {i + 2}: {df[c].iloc[i]!r})."
            raise ColumnError(msg)
        coords[c] = num.to_numpy(dtype=float)
    missing = np.isnan(coords[x]) | np.isnan(coords[y])
    if missing.any():
        warnings.warn(
            f"{fmt_count(int(missing.sum()), len(df))} rows of {p} have no coordinates in '{x}'/'{y}' and were left out.",
            stacklevel=3,
        )
    geom = shapely.points(coords[x], coords[y])
    gdf = gpd.GeoDataFrame(df, geometry=geom, crs=as_crs(src_crs))
    gdf = gdf[~missing]
    gdf.attrs["source"] = str(p)
    return gdf


def read_points(
    path,
    *,
    layer=None,
    id: str | None = None,
    x: str | None = None,
    y: str | None = None,
    crs=None,
    working_crs=DEFAULT_CRS,
) -> gpd.GeoDataFrame:
    """Read points from a vector layer or a CSV with coordinate columns.

    A CSV needs ``x``/``y`` (with ``crs``), or has auto-detected ``easting``/``northing``
    (EPSG:27700 unless ``crs`` says otherwise), ``longitude``/``latitude`` or ``lon``/``lat``
    (EPSG:4326); when both pairs exist, eastings/northings win (no datum shift). Rows with a
    missing coordinate are left out with a counted warning; text in a coordinate column is a
    :class:`ColumnError`.

    Returns
    -------
    GeoDataFrame
        Point geometries in the working CRS, indexed by ``id`` (strings) when given, else by row
        order in the file.
    """
    target = as_crs(working_crs, name="working_crs")
    require_metric(target)
    p = check_file(path, what="points file")
    if p.suffix.lower() in TABLE_EXTENSIONS:
        gdf = _csv_points(p, x=x, y=y, crs=crs, id=id)
    else:
        gdf = read_vector(p, layer=layer, crs=crs, what="points")
        geoms = gdf.geometry.values
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if missing.any():
            warnings.warn(
                f"{fmt_count(int(missing.sum()), len(gdf))} features of {p} have no geometry and were left out.",
                stacklevel=2,
            )
            gdf = gdf[~missing]
        multi = shapely.get_type_id(gdf.geometry.values) == 4
        if multi.any() and (shapely.get_num_geometries(gdf.geometry.values[multi]) == 1).all():
            gdf = gdf.set_geometry(
                gdf.geometry.where(~multi, shapely.get_geometry(gdf.geometry.values, 0))
            )
        types = gdf.geom_type.value_counts()
        if set(types.index) - {"Point"}:
            msg = f"{p} holds {', '.join(f'{k}: {v:,}' for k, v in types.items())}; read_points needs points. Use read_assets for polygons."
            raise GeometryError(msg)
    where = str(p)
    if id is not None:
        gdf = set_id(gdf, id, where=where)
    else:
        gdf = gdf.reset_index(drop=True)
    gdf = to_working_crs(gdf, target, name=where)
    gdf.attrs["source"] = where
    return gdf


def read_assets(
    path,
    *,
    layer=None,
    category: str = "category",
    id: str | None = None,
    crs=None,
    working_crs=DEFAULT_CRS,
    keep_polygons: bool = False,
) -> gpd.GeoDataFrame:
    """Read an asset layer (points and/or polygons with a category column).

    Polygons become their point on surface (``shapely.point_on_surface``) unless
    ``keep_polygons=True`` (for green-space area shares and distances to a park's edge); the
    original geometry type is kept in ``source_geometry``. Lines are rejected.

    Returns
    -------
    GeoDataFrame
        Points in the working CRS with a ``category`` column (strings).
    """
    target = as_crs(working_crs, name="working_crs")
    require_metric(target)
    p = check_file(path, what="assets file")
    if p.suffix.lower() in TABLE_EXTENSIONS:
        gdf = _csv_points(p, x=None, y=None, crs=crs, id=id)
    else:
        gdf = read_vector(p, layer=layer, crs=crs, what="assets")
    where = str(p)
    if category not in gdf.columns:
        cols = ", ".join(map(str, (c for c in gdf.columns if c != "geometry")))
        msg = f"{where} has no column '{category}' (the asset category); its columns are: {cols}. Name it with `category=`."
        raise ColumnError(msg)
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        warnings.warn(
            f"{fmt_count(int(missing.sum()), len(gdf))} assets in {where} have no geometry and were left out.",
            stacklevel=2,
        )
        gdf = gdf[~missing]
    kind = gdf.geom_type
    lines = kind.isin(["LineString", "MultiLineString"])
    if lines.any():
        msg = f"{where}: {fmt_count(int(lines.sum()), len(gdf))} assets are lines; assets must be points or polygons."
        raise GeometryError(msg)
    gdf = _repair(gdf, where=where)
    gdf = gdf.assign(source_geometry=kind.to_numpy())
    if not keep_polygons:
        gdf = gdf.set_geometry(shapely.point_on_surface(gdf.geometry.values))
    gdf = set_id(gdf, id, where=where) if id is not None else gdf.reset_index(drop=True)
    if category != "category":
        gdf = gdf.drop(columns=["category"], errors="ignore").rename(columns={category: "category"})
    cat = gdf["category"].astype("string")
    nocat = cat.isna()
    if nocat.any():
        warnings.warn(
            f"{fmt_count(int(nocat.sum()), len(gdf))} assets in {where} have no category and were left out.",
            stacklevel=2,
        )
        gdf = gdf[~nocat.to_numpy()]
    gdf = gdf.assign(category=gdf["category"].astype("string"))
    gdf = to_working_crs(gdf, target, name=where)
    log.info(
        "%s: %s assets: %s",
        where,
        f"{len(gdf):,}",
        ", ".join(f"{k} {v:,}" for k, v in gdf["category"].value_counts().sort_index().items()),
    )
    return gdf


def check_raster(path, *, working_crs=DEFAULT_CRS) -> dict:
    """Open a raster with rasterio and return its metadata after checking CRS and nodata.

    A missing CRS is a :class:`CRSError`; a CRS other than the working CRS is logged (zonal
    statistics reproject the areas to the raster, not the raster); a missing nodata value is a
    warning (cells of 0 would count as values).

    Returns
    -------
    dict
        ``crs`` (label), ``crs_wkt``, ``matches_working_crs``, ``nodata``, ``bounds``
        (left, bottom, right, top), ``res``, ``width``, ``height``, ``count``, ``dtype``.
    """
    import rasterio

    p = check_file(path, what="raster file")
    target = as_crs(working_crs, name="working_crs")
    try:
        with rasterio.open(p) as src:
            meta = {
                "crs": None if src.crs is None else crs_label(as_crs(src.crs.to_wkt())),
                "crs_wkt": None if src.crs is None else src.crs.to_wkt(),
                "nodata": src.nodata,
                "bounds": tuple(src.bounds),
                "res": tuple(src.res),
                "width": src.width,
                "height": src.height,
                "count": src.count,
                "dtype": src.dtypes[0],
            }
    except rasterio.errors.RasterioIOError as exc:
        msg = f"{p} could not be opened as a raster ({exc}); is it a complete GeoTIFF?"
        raise SourceError(msg) from exc
    if meta["crs_wkt"] is None:
        msg = f"the raster {p} has no CRS; assign one with `gdal_edit.py -a_srs EPSG:27700 {p.name}` (or the right code)."
        raise CRSError(msg)
    meta["matches_working_crs"] = as_crs(meta["crs_wkt"]).equals(target)
    if not meta["matches_working_crs"]:
        log.info(
            "raster %s is in %s, not the working CRS %s; areas are reprojected to it for zonal statistics.",
            p,
            meta["crs"],
            crs_label(target),
        )
    if meta["nodata"] is None:
        warnings.warn(
            f"the raster {p} declares no nodata value; every cell (including 0) counts as data. Set one with `gdal_edit.py -a_nodata`.",
            stacklevel=2,
        )
    return meta


read_raster_meta = check_raster
