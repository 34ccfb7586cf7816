"""One GeoPackage that opens in QGIS ready to read.

:func:`write_geopackage` writes the areas result frame, its Left Behind areas, the assets and any
extra layers into one file with, for every layer, a default QGIS style (``layer_styles``, QML and
SLD), field aliases and descriptions (QML ``<aliases>`` and ``gpkg_data_columns``), coded-value
field domains for deciles and asset categories, a layer description and identifier in
``gpkg_contents``, provenance in ``gpkg_metadata`` (JSON for the whole file, QGIS layer metadata
per layer) and a QGIS project in ``qgis_projects`` that opens the layers ordered and styled.

The colours, bins and labels come from :func:`cni_geo.export.classify.decile_classification`
and :func:`~cni_geo.export.classify.category_style`, the objects the web map uses too.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from .. import __version__
from .._util import atomic_output, build_timestamp, crs_label, fmt_count
from ..errors import ColumnError, CRSError, DataError, GeometryError, OutputError
from . import _gpkg_sql as sql
from . import _qml as qml
from ._qgs import ProjectLayer, project_qgz, project_xml
from .classify import category_style, decile_classification

log = logging.getLogger(__name__)

#: Layer names the writer makes itself, or that GeoPackage/QGIS reserve.
BUILTIN_LAYERS = ("areas", "left_behind", "assets", "green_space")
RESERVED_TABLES = ("layer_styles", "qgis_projects", "rtree", "sqlite", "gpkg")
#: GDAL names the primary key ``fid`` and the geometry column ``geom``.
RESERVED_COLUMNS = ("fid", "geom")
PROJECT_NAME = "cni-geo"
PROVENANCE_URI = "urn:cni-geo:provenance:1"
QGIS_METADATA_URI = "http://mrcc.com/qgis.dtd"
_LAYER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_ALLOWED_OBJECT = {"string", "empty", "integer", "floating", "mixed-integer-float", "boolean"}


def write_geopackage(
    path: str | os.PathLike,
    areas: gpd.GeoDataFrame,
    *,
    root: str = "cni",
    domains: Sequence[str] = (),
    assets: gpd.GeoDataFrame | None = None,
    green_space: gpd.GeoDataFrame | None = None,
    extra_layers: Mapping[str, gpd.GeoDataFrame] | None = None,
    aliases: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    title: str | None = None,
    overwrite: bool = False,
    qgis_project: bool = True,
) -> Path:
    """Write the index results as one styled GeoPackage, atomically.

    Parameters
    ----------
    path
        The ``.gpkg`` to write. Written to a temporary file beside it and moved into place, so a
        failure leaves any previous file untouched.
    areas
        The areas result frame (docs/architecture.md): indexed by area code (the index name is
        the id column), with ``{root}_decile`` and, for each domain, ``{domain}_decile``.
    root, domains
        The index tree's root node and its children, in order; they name the score, rank and
        decile columns that get aliases, descriptions and the decile field domain.
    assets
        Points with ``category`` (and usually ``group``, ``name``); styled by category.
    green_space
        Green space polygons.
    extra_layers
        More layers by name, e.g. ``{"population": points, "roads": lines}``.
    aliases, descriptions
        Column -> short label and column -> sentence, for every layer. Missing entries for the
        score/rank/decile/coverage columns are filled with generated text.
    metadata
        Provenance from the pipeline (version, recipe, input hashes, CRS, conventions, licences,
        attribution). Stored as JSON in ``gpkg_metadata`` and summarised in each layer's QGIS
        metadata. Absolute paths are reduced to file names.
    title
        The map title; defaults to ``metadata["title"]`` or "Community Needs Index".
    overwrite
        Replace an existing file; without it :class:`~cni_geo.errors.OutputExistsError`.
    qgis_project
        Also store a QGIS project named ``cni-geo`` in the ``qgis_projects`` table.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ColumnError
        A missing decile column, duplicate column names after case folding, a column named
        ``fid`` or ``geom``, or an object column of mixed types.
    OutputError
        A layer name clash or an output folder that cannot be created or written.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.

    Examples
    --------
    >>> write_geopackage("out/cni.gpkg", areas, root="cni", domains=["civic", "connected"],
    ...                  assets=assets, metadata=provenance, overwrite=True)  # doctest: +SKIP
    """
    path = Path(path)
    aliases = dict(aliases or {})
    descriptions = dict(descriptions or {})
    metadata = _portable(dict(metadata or {}))
    title = title or str(metadata.get("title") or "Community Needs Index")
    timestamp = build_timestamp()
    gpkg_time = timestamp.replace("Z", ".000Z")

    layers = _prepare_layers(areas, root, domains, assets, green_space, extra_layers)
    decile_cols = [f"{n}_decile" for n in (root, *domains)]
    _fill_texts(aliases, descriptions, layers["areas"], root, domains, areas.index.name)
    classification = decile_classification(
        f"{root}_decile", title=aliases.get(f"{root}_decile", f"{root} decile")
    )
    specs = _layer_specs(layers, classification, title, root, aliases, descriptions, metadata)

    with atomic_output(path, overwrite=overwrite) as tmp:
        for i, (name, frame) in enumerate(layers.items()):
            spec = specs[name]
            pyogrio.write_dataframe(
                frame,
                tmp,
                layer=name,
                driver="GPKG",
                use_arrow=True,
                promote_to_multi=spec["kind"] != "point",
                dataset_options={"VERSION": "1.2"} if i == 0 else None,
                layer_options={
                    "IDENTIFIER": spec["identifier"],
                    "DESCRIPTION": spec["description"],
                },
            )
        _write_layer_styles(tmp, layers, specs, aliases, classification, decile_cols, gpkg_time)
        con = sqlite3.connect(tmp)
        try:
            with con:
                _write_schema(con, layers, aliases, descriptions, classification, decile_cols)
                _write_metadata(
                    con, layers, specs, metadata, title, areas, classification, gpkg_time
                )
                if qgis_project:
                    _write_project(con, path.name, layers, specs, title, areas)
                sql.set_last_change(con, gpkg_time)
        finally:
            con.close()
    log.info(
        "wrote %s: %s", path, ", ".join(f"{k} ({fmt_count(len(v))})" for k, v in layers.items())
    )
    return path


# ------------------------------------------------------------------------------------ validation
def _prepare_layers(areas, root, domains, assets, green_space, extra_layers) -> dict:
    if not isinstance(areas, gpd.GeoDataFrame):
        msg = f"`areas` must be a GeoDataFrame, got {type(areas).__name__}."
        raise DataError(msg)
    for node in (root, *domains):
        col = f"{node}_decile"
        if col not in areas.columns:
            msg = (
                f"`areas` has no column {col!r} (the decile of index node {node!r}); "
                f"its columns include {_some(areas.columns)}. Pass root=/domains= that match "
                "the index tree, or build the index first."
            )
            raise ColumnError(msg)
    if areas.index.has_duplicates:
        dups = areas.index[areas.index.duplicated()].unique()
        msg = f"`areas` has {fmt_count(len(dups))} duplicate area codes, e.g. {list(dups[:3])}."
        raise DataError(msg)
    id_col = areas.index.name or "area_code"
    if id_col in areas.columns:
        msg = f"`areas` has a column {id_col!r} with the same name as its index; drop one."
        raise ColumnError(msg)
    frame = areas.reset_index(names=id_col)
    frame = frame[[id_col, *[c for c in frame.columns if c != id_col]]]
    frame = _integer_ranks(frame)
    layers: dict[str, gpd.GeoDataFrame] = {"areas": frame}
    if "left_behind" in frame.columns:
        flag = frame["left_behind"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        layers["left_behind"] = frame.loc[flag].reset_index(drop=True)
    else:
        log.info("`areas` has no `left_behind` column; the left_behind layer is not written.")
    if assets is not None:
        if "category" not in assets.columns:
            msg = f"`assets` has no `category` column (columns: {_some(assets.columns)})."
            raise ColumnError(msg)
        layers["assets"] = assets
    if green_space is not None:
        layers["green_space"] = green_space
    for name, layer in (extra_layers or {}).items():
        _check_layer_name(name, layers)
        layers[name] = layer
    out = {}
    for name, layer in layers.items():
        out[name] = _check_frame(name, layer)
    return out


def _check_layer_name(name, layers) -> None:
    if not isinstance(name, str) or not _LAYER_NAME.match(name):
        msg = (
            f"extra layer name {name!r} is not usable as a GeoPackage table name; use a letter "
            "then letters, digits or underscores (at most 63 characters)."
        )
        raise OutputError(msg)
    low = name.lower()
    taken = [n for n in (*BUILTIN_LAYERS, *layers) if n.lower() == low]
    if taken or low in RESERVED_TABLES or low.startswith(("gpkg_", "rtree_", "sqlite_")):
        msg = (
            f"extra layer name {name!r} clashes with the layer or table {taken[0] if taken else low!r} "
            f"that the GeoPackage already holds (reserved: {', '.join(BUILTIN_LAYERS)}, "
            "layer_styles, qgis_projects, gpkg_*, rtree_*, sqlite_*). Rename it."
        )
        raise OutputError(msg)


def _check_frame(name: str, frame) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"layer {name!r} must be a GeoDataFrame, got {type(frame).__name__}."
        raise DataError(msg)
    if frame.crs is None:
        msg = f"layer {name!r} has no CRS; set it with `.set_crs(...)` before writing."
        raise CRSError(msg)
    geom = frame.geometry
    if name != "areas":  # areas already carry their id column; others keep a named index
        unnamed = isinstance(frame.index, pd.RangeIndex) or frame.index.name is None
        frame = frame.reset_index(drop=unnamed)
    cols = [c for c in frame.columns if c != frame.geometry.name]
    bad = [c for c in cols if not isinstance(c, str) or not c.strip() or "\x00" in c]
    if bad:
        msg = f"layer {name!r} has column names that are not non-empty strings: {bad!r}."
        raise ColumnError(msg)
    reserved = [c for c in cols if c.lower() in RESERVED_COLUMNS]
    if reserved:
        msg = (
            f"layer {name!r} has column {reserved[0]!r}, which GDAL reserves for the "
            "GeoPackage feature id / geometry column; rename it (e.g. `df.rename(columns="
            f"{{{reserved[0]!r}: {reserved[0] + '_value'!r}}})`)."
        )
        raise ColumnError(msg)
    folded: dict[str, list[str]] = {}
    for c in cols:
        folded.setdefault(c.casefold(), []).append(c)
    clashes = [v for v in folded.values() if len(v) > 1]
    if clashes:
        msg = (
            f"layer {name!r} has column names that differ only by case, which SQLite treats "
            f"as the same column: {'; '.join(' / '.join(v) for v in clashes)}. Rename them."
        )
        raise ColumnError(msg)
    for c in cols:
        s = frame[c]
        if s.dtype == object:
            kind = pd.api.types.infer_dtype(s, skipna=True)
            if kind not in _ALLOWED_OBJECT:
                types = sorted({type(v).__name__ for v in s.dropna().head(1000)})
                msg = (
                    f"layer {name!r} column {c!r} holds values of types {', '.join(types)} "
                    f"({kind}); a GeoPackage field has one type. Convert it, e.g. "
                    f"`df[{c!r}].astype(str)` or `pd.to_numeric(df[{c!r}])`."
                )
                raise ColumnError(msg)
            if kind in ("mixed-integer-float", "integer", "floating"):
                frame = frame.assign(**{c: pd.to_numeric(s)})
            elif kind == "boolean":
                frame = frame.assign(**{c: s.astype("boolean")})
    if len(geom) and geom.isna().all():
        msg = f"layer {name!r} has no geometries."
        raise GeometryError(msg)
    return frame


def _integer_ranks(frame):
    """Ranks and deciles as nullable integers where every value is a whole number."""
    out = {}
    for c in frame.columns:
        if isinstance(c, str) and c.endswith(("_rank", "_decile")):
            s = frame[c]
            if pd.api.types.is_float_dtype(s.dtype):
                v = s.to_numpy(dtype="float64", na_value=np.nan)
                finite = v[~np.isnan(v)]
                if np.all(finite == np.round(finite)):
                    out[c] = s.astype("Int64")
    return frame.assign(**out) if out else frame


def _some(cols, n: int = 8) -> str:
    cols = [str(c) for c in cols]
    return ", ".join(cols[:n]) + (f" and {len(cols) - n:,} more" if len(cols) > n else "")


def _portable(value):
    """Replace absolute file paths by their file names so metadata does not depend on the machine."""
    if isinstance(value, Mapping):
        return {_portable(str(k)): _portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_portable(v) for v in value]
    if isinstance(value, PurePath):
        return value.name if value.is_absolute() else value.as_posix()
    if isinstance(value, str) and "://" not in value and len(value) > 1:
        if os.path.isabs(value) and ("/" in value[1:] or "\\" in value):
            return PurePath(value).name
    return value


# --------------------------------------------------------------------------- aliases / layers
def _fill_texts(aliases, descriptions, frame, root, domains, id_name) -> None:
    n = len(frame)
    nodes = (root, *domains)
    defaults = {
        id_name or "area_code": ("Area code", "The area's code (the unique id of each area)."),
        "name": ("Area name", "The area's name."),
        "population": ("Population", "Residents of the area (the population base)."),
        "left_behind": (
            "Left Behind area",
            "True where the area is in the most deprived decile and the highest-need decile "
            "of the index, as the recipe defines Left Behind.",
        ),
    }
    for node in nodes:
        label = aliases.get(node) or (
            node.upper() if len(node) <= 4 else node.replace("_", " ").capitalize()
        )
        what = "index" if node == root else "domain"
        defaults[f"{node}_score"] = (
            f"{label} score",
            f"Score of the {label} {what}; higher = higher need.",
        )
        defaults[f"{node}_rank"] = (
            f"{label} rank",
            f"Rank of the {label} {what} score among {n:,} areas; 1 = highest need; "
            "tied scores share the lowest rank (min).",
        )
        defaults[f"{node}_decile"] = (
            f"{label} decile",
            f"Decile of the {label} {what} rank, ceil(10 x rank / N); 1 = highest need "
            "(most in need 10%), 10 = lowest need.",
        )
    for col in frame.columns:
        if isinstance(col, str) and col.endswith("_coverage") and col not in defaults:
            base = col[: -len("_coverage")]
            label = aliases.get(base, base)
            defaults[col] = (
                f"{label} coverage",
                f"Share (0-1) of the area backed by data for {label}.",
            )
    for col, (label, desc) in defaults.items():
        aliases.setdefault(col, label)
        descriptions.setdefault(col, desc)


def _layer_specs(layers, classification, title, root, aliases, descriptions, metadata) -> dict:
    specs = {}
    licence = metadata.get("licences") or metadata.get("licenses") or metadata.get("license")
    attribution = metadata.get("attribution")
    tail = ""
    if attribution:
        tail += f" Attribution: {_flat(attribution)}."
    if licence:
        tail += f" Licences: {_flat(licence)}."
    for name, frame in layers.items():
        kind = _kind(frame, name)
        if name == "areas":
            ident = f"{title}: areas"
            desc = (
                f"{title} for {len(frame):,} areas: indicators, domain and index scores, ranks, "
                f"deciles (1 = highest need) and data-quality columns. Styled by "
                f"{aliases.get(classification.column, classification.column)}."
            )
        elif name == "left_behind":
            ident = f"{title}: Left Behind areas"
            desc = f"The {len(frame):,} areas flagged Left Behind (outlined)."
        elif name == "assets":
            ident = f"{title}: community assets"
            desc = f"{len(frame):,} community assets, coloured by category."
        elif name == "green_space":
            ident = f"{title}: green space"
            desc = f"{len(frame):,} green space areas."
        else:
            ident = f"{title}: {name}"
            desc = f"{len(frame):,} features ({name})."
        specs[name] = {"kind": kind, "identifier": ident, "description": desc + tail}
    return specs


def _flat(v) -> str:
    if isinstance(v, Mapping):
        return "; ".join(f"{k}: {_flat(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return "; ".join(_flat(x) for x in v)
    return str(v)


def _kind(frame, name) -> str:
    types = frame.geometry.geom_type.dropna().unique()
    kinds = {qml.geometry_kind(t) for t in types}
    if len(kinds) > 1:
        msg = (
            f"layer {name!r} mixes geometry types ({', '.join(sorted(types))}); a GeoPackage "
            "layer holds one. Split it into one layer per type."
        )
        raise GeometryError(msg)
    return kinds.pop() if kinds else "polygon"


# ----------------------------------------------------------------------------------- styles
def _style_for(name, frame, kind, aliases, classification, decile_cols):
    fields = ["fid", *[c for c in frame.columns if c != frame.geometry.name]]
    field_aliases = {f: aliases[f] for f in fields if f in aliases}
    value_maps = None
    if name == "areas" or name == "left_behind":
        pairs = [(label, f"{i + 1}") for i, label in enumerate(classification.labels)]
        value_maps = {c: pairs for c in decile_cols if c in frame.columns}
    if name == "areas":
        renderer = qml.graduated_renderer(classification, kind)
        sld = qml.classification_sld(name, classification, kind)
    elif name == "left_behind":
        renderer = qml.single_renderer(
            kind, qml.LEFT_BEHIND_COLOR, outline=qml.LEFT_BEHIND_COLOR, width=0.8, fill=False
        )
        sld = qml.to_sld(
            name,
            [("Left Behind", None, "#ffffff")],
            kind=kind,
            outline=qml.LEFT_BEHIND_COLOR,
            width=2.0,
            fill=False,
        )
    elif name == "assets":
        style = category_style("category", frame["category"])
        renderer = qml.categorized_renderer(style, kind)
        sld = qml.category_sld(name, style, kind)
    elif name == "green_space":
        renderer = qml.single_renderer(
            kind, qml.GREEN_SPACE_COLOR, outline=qml.GREEN_SPACE_COLOR, alpha=0.7
        )
        sld = qml.to_sld(name, [("Green space", None, qml.GREEN_SPACE_COLOR)], kind=kind)
    else:
        renderer = qml.single_renderer(
            kind, qml.DEFAULT_COLOR, width=1.4 if kind == "point" else None
        )
        sld = qml.to_sld(name, [(name, None, qml.DEFAULT_COLOR)], kind=kind)
    root = qml.qml_root(
        renderer, kind=kind, fields=fields, aliases=field_aliases, value_maps=value_maps
    )
    return root, sld


def _write_layer_styles(tmp, layers, specs, aliases, classification, decile_cols, gpkg_time):
    rows = []
    for name, frame in layers.items():
        root, sld = _style_for(
            name, frame, specs[name]["kind"], aliases, classification, decile_cols
        )
        specs[name]["qml_root"] = root
        rows.append(
            {
                "f_table_catalog": "",
                "f_table_schema": "",
                "f_table_name": name,
                "f_geometry_column": "geom",
                "styleName": name,
                "styleQML": qml.to_qml(ET.fromstring(ET.tostring(root))),
                "styleSLD": sld,
                "useAsDefault": True,
                "description": f"cni-geo default style for {name}",
                "owner": "",
                "ui": "",
                "update_time": pd.Timestamp(gpkg_time),
            }
        )
    styles = pd.DataFrame(rows)
    pyogrio.write_dataframe(
        styles,
        tmp,
        layer="layer_styles",
        driver="GPKG",
        layer_options={"FID": "id", "DESCRIPTION": "QGIS layer styles"},
    )


# ----------------------------------------------------------------------------- sql tables
def _write_schema(con, layers, aliases, descriptions, classification, decile_cols) -> None:
    domains = {
        "decile": (
            "Decile, 1 = highest need",
            [(f"{i + 1}", label) for i, label in enumerate(classification.labels)],
        )
    }
    constraint = dict.fromkeys(decile_cols, "decile")
    if "assets" in layers:
        cats = category_style("category", layers["assets"]["category"]).categories
        domains["asset_category"] = ("Asset category", [(c, c) for c in cats])
    rows = []
    for name, frame in layers.items():
        for c in frame.columns:
            if c == frame.geometry.name:
                continue
            cons = constraint.get(c) if name in ("areas", "left_behind") else None
            if name == "assets" and c == "category":
                cons = "asset_category"
            if c in aliases or c in descriptions or cons:
                rows.append((name, c, aliases.get(c), descriptions.get(c), cons))
    sql.write_enum_domains(con, domains)
    sql.write_data_columns(con, rows)


def _write_metadata(con, layers, specs, metadata, title, areas, classification, gpkg_time):
    provenance = {
        "title": title,
        "cni_geo_version": metadata.get("version", __version__),
        "crs": crs_label(areas.crs),
        "layers": {n: len(f) for n, f in layers.items()},
        "classification": {
            "column": classification.column,
            "lower": list(classification.lower),
            "upper": list(classification.upper),
            "labels": list(classification.labels),
            "colors": list(classification.colors),
            "nodata_label": classification.nodata_label,
            "nodata_color": classification.nodata_color,
        },
        **metadata,
    }
    doc = json.dumps(provenance, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    entries = [(PROVENANCE_URI, "application/json", doc, "geopackage", None)]
    for name in layers:
        xml = _qgis_layer_metadata(name, specs[name], provenance, areas)
        entries.append((QGIS_METADATA_URI, "text/xml", xml, "table", name))
    sql.write_metadata(con, entries, timestamp=gpkg_time)


def _qgis_layer_metadata(name, spec, provenance, areas) -> str:
    """QGIS layer metadata (the XML QGIS itself stores in ``gpkg_metadata``)."""
    root = ET.Element("qgis", {"version": qml.QGIS_VERSION})
    ET.SubElement(root, "identifier").text = spec["identifier"]
    ET.SubElement(root, "parentidentifier").text = provenance["title"]
    ET.SubElement(root, "language").text = "en"
    ET.SubElement(root, "type").text = "dataset"
    ET.SubElement(root, "title").text = spec["identifier"]
    ET.SubElement(root, "abstract").text = spec["description"]
    kw = ET.SubElement(root, "keywords", {"vocabulary": "cni-geo"})
    for k in ("Community Needs Index", "social infrastructure", name):
        ET.SubElement(kw, "keyword").text = k
    ET.SubElement(root, "links")
    ET.SubElement(root, "fees")
    lic = provenance.get("licences") or provenance.get("licenses") or provenance.get("license")
    for item in lic if isinstance(lic, list | tuple) else ([lic] if lic else []):
        ET.SubElement(root, "license").text = _flat(item)
    if provenance.get("attribution"):
        ET.SubElement(root, "rights").text = _flat(provenance["attribution"])
    ET.SubElement(root, "encoding")
    srs = ET.SubElement(ET.SubElement(root, "crs"), "spatialrefsys")
    ET.SubElement(srs, "authid").text = provenance["crs"]
    hist = [
        f"Written by cni-geo {provenance['cni_geo_version']} at {build_timestamp()}.",
        "Provenance (recipe, input hashes, conventions): the JSON document in gpkg_metadata "
        f"with md_standard_uri {PROVENANCE_URI}.",
    ]
    for key in ("recipe", "conventions", "inputs"):
        if key in provenance:
            hist.append(f"{key}: {json.dumps(provenance[key], sort_keys=True, default=str)}")
    for h in hist:
        ET.SubElement(root, "history").text = h
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )


def _write_project(con, filename, layers, specs, title, areas) -> None:
    order = [n for n in layers if n not in BUILTIN_LAYERS]  # extra layers on top
    order += [n for n in ("assets", "left_behind", "green_space", "areas") if n in layers]
    geom = {"point": "Point", "line": "Line", "polygon": "Polygon"}
    plist = [
        ProjectLayer(
            name=n,
            title=specs[n]["identifier"].split(": ", 1)[-1].capitalize(),
            geometry=geom[specs[n]["kind"]],
            style=specs[n]["qml_root"],
            abstract=specs[n]["description"],
        )
        for n in order
    ]
    crs = areas.crs
    epsg = crs.to_epsg()
    authid = f"EPSG:{epsg}" if epsg else ""
    bounds = tuple(float(b) for b in areas.total_bounds) if len(areas) else (0.0, 0.0, 1.0, 1.0)
    xml = project_xml(
        plist, filename=filename, title=title, authid=authid, wkt=crs.to_wkt(), extent=bounds
    )
    sql.write_project(
        con, PROJECT_NAME, project_qgz(xml, name=PROJECT_NAME), timestamp=build_timestamp()
    )


__all__ = ["write_geopackage"]
