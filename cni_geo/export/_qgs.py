"""A QGIS project (``.qgz``) that opens the GeoPackage's layers ordered and styled.

QGIS (3.22 and later) can read a project stored in a GeoPackage's ``qgis_projects`` table
(``geopackage:/path/file.gpkg?projectName=NAME``). Layer sources in such a project are written
relative to the GeoPackage's folder (``./file.gpkg|layername=areas``), exactly as QGIS writes
them when it saves a project into a GeoPackage, so the project keeps working when the folder is
moved but not when the file is renamed.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from ._qml import QGIS_VERSION


@dataclass(frozen=True)
class ProjectLayer:
    name: str  # the GeoPackage layer (table) name
    title: str  # the name shown in the layer tree
    geometry: str  # "Point", "Line" or "Polygon"
    style: ET.Element  # the <qgis> root of the layer's QML
    abstract: str = ""


def _crs(parent: ET.Element, authid: str, wkt: str) -> None:
    srs = ET.SubElement(parent, "spatialrefsys", {"nativeFormat": "Wkt"})
    ET.SubElement(srs, "wkt").text = wkt
    ET.SubElement(srs, "proj4")
    ET.SubElement(srs, "srsid").text = "0"
    code = authid.split(":")[-1] if authid.upper().startswith("EPSG:") else "0"
    ET.SubElement(srs, "srid").text = code
    ET.SubElement(srs, "authid").text = authid
    ET.SubElement(srs, "description")
    ET.SubElement(srs, "projectionacronym")
    ET.SubElement(srs, "ellipsoidacronym")
    ET.SubElement(srs, "geographicflag").text = "false"


def project_xml(
    layers: Sequence[ProjectLayer],
    *,
    filename: str,
    title: str,
    authid: str,
    wkt: str,
    extent: tuple[float, float, float, float],
) -> str:
    """The ``.qgs`` XML: ``layers`` are listed top to bottom as they should be drawn."""
    root = ET.Element("qgis", {"projectname": title, "version": QGIS_VERSION})
    ET.SubElement(root, "homePath", {"path": ""})
    ET.SubElement(root, "title").text = title
    _crs(ET.SubElement(root, "projectCrs"), authid, wkt)
    ids = [f"{lay.name}_cni_geo" for lay in layers]
    tree = ET.SubElement(root, "layer-tree-group")
    for lay, lid in zip(layers, ids, strict=True):
        ET.SubElement(
            tree,
            "layer-tree-layer",
            {
                "id": lid,
                "name": lay.title,
                "source": f"./{filename}|layername={lay.name}",
                "providerKey": "ogr",
                "checked": "Qt::Checked",
                "expanded": "1" if lay.name == "areas" else "0",
            },
        )
    canvas = ET.SubElement(root, "mapcanvas", {"name": "theMapCanvas", "annotationsVisible": "1"})
    ET.SubElement(canvas, "units").text = "meters"
    ext = ET.SubElement(canvas, "extent")
    for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), extent, strict=True):
        ET.SubElement(ext, tag).text = repr(float(v))
    ET.SubElement(canvas, "rotation").text = "0"
    _crs(ET.SubElement(canvas, "destinationsrs"), authid, wkt)
    order = ET.SubElement(root, "layerorder")
    for lid in ids:
        ET.SubElement(order, "layer", {"id": lid})
    pl = ET.SubElement(root, "projectlayers")
    for lay, lid in zip(layers, ids, strict=True):
        ml = ET.SubElement(
            pl,
            "maplayer",
            {"type": "vector", "geometry": lay.geometry, "autoRefreshEnabled": "0"},
        )
        ET.SubElement(ml, "id").text = lid
        ET.SubElement(ml, "datasource").text = f"./{filename}|layername={lay.name}"
        ET.SubElement(ml, "layername").text = lay.title
        _crs(ET.SubElement(ml, "srs"), authid, wkt)
        md = ET.SubElement(ml, "resourceMetadata")
        ET.SubElement(md, "title").text = lay.title
        ET.SubElement(md, "abstract").text = lay.abstract
        ET.SubElement(ml, "provider", {"encoding": "UTF-8"}).text = "ogr"
        for child in lay.style:  # renderer, aliases, blending... as in the layer's QML
            ml.append(child)
    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"
    srs = ET.SubElement(props, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", {"type": "int"}).text = "1"
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )


def project_qgz(xml: str, *, name: str) -> bytes:
    """Zip the project as QGIS does (one ``NAME.qgs`` member); a fixed member date so the bytes
    are reproducible."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo(f"{name}.qgs", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, xml.encode("utf-8"))
    return buf.getvalue()
