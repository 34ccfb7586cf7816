"""QGIS layer styles (QML) and OGC SLD built from the shared classification.

The QML written here follows the structure QGIS 3.22 itself writes with
``QgsVectorLayer.exportNamedStyle`` (checked against a style saved by QGIS 3.22.16), reduced to
the parts a default style needs: the renderer, the field aliases and the layer geometry type.
QGIS fills every element that is left out with its defaults when it loads the style.

There is no Python library that writes QML without QGIS itself (PyQGIS is not importable from
a virtualenv), so the XML is built here with :mod:`xml.etree.ElementTree`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from .classify import CategoryStyle, Classification

QGIS_VERSION = "3.22.0"
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"

#: QGIS ``layerGeometryType``: 0 point, 1 line, 2 polygon.
GEOMETRY_KIND = {"point": 0, "line": 1, "polygon": 2}
_SYMBOL_TYPE = {"point": "marker", "line": "line", "polygon": "fill"}

OUTLINE_COLOR = "#232323"
LEFT_BEHIND_COLOR = "#e7298a"
GREEN_SPACE_COLOR = "#74c476"
DEFAULT_COLOR = "#7f7f7f"


def rgba(color: str, alpha: int = 255) -> str:
    """``#rrggbb`` -> ``r,g,b,a`` as QGIS writes colours."""
    c = color.lstrip("#")
    r, g, b = int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    return f"{r},{g},{b},{alpha}"


def geometry_kind(geom_type: str) -> str:
    """``Polygon``/``MultiPolygon`` -> ``polygon`` and so on."""
    t = geom_type.lower()
    if "polygon" in t:
        return "polygon"
    if "line" in t:
        return "line"
    return "point"


# --------------------------------------------------------------------------------------- symbols
def _layer_props(kind: str, color: str, *, outline: str, width: float, fill: bool = True) -> dict:
    if kind == "polygon":
        return {
            "color": rgba(color),
            "joinstyle": "bevel",
            "offset": "0,0",
            "offset_unit": "MM",
            "outline_color": rgba(outline),
            "outline_style": "solid" if width > 0 else "no",
            "outline_width": f"{width:g}",
            "outline_width_unit": "MM",
            "style": "solid" if fill else "no",
        }
    if kind == "line":
        return {
            "capstyle": "square",
            "joinstyle": "bevel",
            "line_color": rgba(color),
            "line_style": "solid",
            "line_width": f"{width:g}",
            "line_width_unit": "MM",
            "offset": "0",
            "offset_unit": "MM",
        }
    return {
        "angle": "0",
        "color": rgba(color),
        "joinstyle": "bevel",
        "name": "circle",
        "offset": "0,0",
        "offset_unit": "MM",
        "outline_color": rgba(outline),
        "outline_style": "solid",
        "outline_width": "0.2",
        "outline_width_unit": "MM",
        "scale_method": "diameter",
        "size": f"{width:g}",
        "size_unit": "MM",
    }


def _symbol(
    parent: ET.Element,
    name: str,
    kind: str,
    color: str,
    *,
    outline: str = OUTLINE_COLOR,
    width: float | None = None,
    fill: bool = True,
    alpha: float = 1.0,
) -> ET.Element:
    if width is None:
        width = {"polygon": 0.26, "line": 0.5, "point": 2.4}[kind]
    cls = {"polygon": "SimpleFill", "line": "SimpleLine", "point": "SimpleMarker"}[kind]
    sym = ET.SubElement(
        parent,
        "symbol",
        {
            "type": _SYMBOL_TYPE[kind],
            "name": name,
            "alpha": f"{alpha:g}",
            "clip_to_extent": "1",
            "force_rhr": "0",
        },
    )
    lay = ET.SubElement(sym, "layer", {"class": cls, "pass": "0", "locked": "0", "enabled": "1"})
    props = _layer_props(kind, color, outline=outline, width=width, fill=fill)
    opt = ET.SubElement(lay, "Option", {"type": "Map"})
    for k, v in props.items():
        ET.SubElement(opt, "Option", {"type": "QString", "name": k, "value": v})
    for k, v in props.items():  # the older form, read by QGIS < 3.16
        ET.SubElement(lay, "prop", {"k": k, "v": v})
    return sym


# ------------------------------------------------------------------------------------- renderers
def quote_field(name: str) -> str:
    """A QGIS expression reference to a field: ``"name"`` with inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def nodata_sentinel(classification: Classification) -> float:
    """The value NULLs are mapped to so the no-data class is a range of the graduated renderer."""
    return float(min(classification.lower)) - 1.0


def graduated_renderer(classification: Classification, kind: str = "polygon") -> ET.Element:
    """A graduated renderer with one range per class and a no-data range.

    QGIS's graduated renderer draws nothing for NULL, so the renderer classifies the expression
    ``coalesce("col", sentinel)`` and a last range ``[sentinel, sentinel]`` carries the no-data
    colour and label: the legend then lists every class of the shared classification plus
    "No data", in that order.
    """
    sentinel = nodata_sentinel(classification)
    attr = f"coalesce({quote_field(classification.column)}, {sentinel:g})"
    r = ET.Element(
        "renderer-v2",
        {
            "type": "graduatedSymbol",
            "graduatedMethod": "GraduatedColor",
            "attr": attr,
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    ranges = ET.SubElement(r, "ranges")
    symbols = ET.SubElement(r, "symbols")
    bounds = [*zip(classification.lower, classification.upper, strict=True), (sentinel, sentinel)]
    labels = [*classification.labels, classification.nodata_label]
    colors = [*classification.colors, classification.nodata_color]
    for i, ((lo, hi), label, color) in enumerate(zip(bounds, labels, colors, strict=True)):
        ET.SubElement(
            ranges,
            "range",
            {
                "lower": f"{lo:.15f}",
                "upper": f"{hi:.15f}",
                "label": label,
                "symbol": str(i),
                "render": "true",
            },
        )
        _symbol(symbols, str(i), kind, color)
    method = ET.SubElement(r, "classificationMethod", {"id": "Custom"})
    ET.SubElement(method, "symmetricMode", {"enabled": "0", "symmetrypoint": "0", "astride": "0"})
    ET.SubElement(
        method,
        "labelFormat",
        {"format": "%1 - %2", "labelprecision": "0", "trimtrailingzeroes": "1"},
    )
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return r


def categorized_renderer(style: CategoryStyle, kind: str = "point") -> ET.Element:
    """A categorized renderer: one category per value and a grey "Other" for anything else."""
    r = ET.Element(
        "renderer-v2",
        {
            "type": "categorizedSymbol",
            "attr": style.column,
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    cats = ET.SubElement(r, "categories")
    symbols = ET.SubElement(r, "symbols")
    items = [*style.mapping().items(), ("", DEFAULT_COLOR)]
    for i, (value, color) in enumerate(items):
        ET.SubElement(
            cats,
            "category",
            {"value": value, "label": value or "Other", "symbol": str(i), "render": "true"},
        )
        _symbol(symbols, str(i), kind, color)
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return r


def single_renderer(
    kind: str,
    color: str,
    *,
    outline: str = OUTLINE_COLOR,
    width: float | None = None,
    fill: bool = True,
    alpha: float = 1.0,
) -> ET.Element:
    """A single-symbol renderer."""
    r = ET.Element(
        "renderer-v2",
        {
            "type": "singleSymbol",
            "symbollevels": "0",
            "forceraster": "0",
            "enableorderby": "0",
            "referencescale": "-1",
        },
    )
    symbols = ET.SubElement(r, "symbols")
    _symbol(symbols, "0", kind, color, outline=outline, width=width, fill=fill, alpha=alpha)
    ET.SubElement(r, "rotation")
    ET.SubElement(r, "sizescale")
    return r


# ------------------------------------------------------------------------------------------ QML
def qml_root(
    renderer: ET.Element,
    *,
    kind: str,
    fields: Sequence[str],
    aliases: Mapping[str, str],
    value_maps: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> ET.Element:
    """The ``<qgis>`` element of a layer style.

    ``fields`` are the layer's attribute fields in the order QGIS lists them (``fid`` first);
    ``aliases`` maps a field to its alias; ``value_maps`` maps a field to ``(label, value)``
    pairs shown by a "Value Map" editor widget in forms and the attribute table.
    """
    root = ET.Element(
        "qgis",
        {
            "version": QGIS_VERSION,
            "styleCategories": "AllStyleCategories",
            "labelsEnabled": "0",
            "hasScaleBasedVisibilityFlag": "0",
            "minScale": "100000000",
            "maxScale": "0",
            "readOnly": "0",
        },
    )
    root.append(renderer)
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.SubElement(root, "layerOpacity").text = "1"
    ET.SubElement(root, "legend", {"type": "default-vector", "showLabelLegend": "0"})
    if value_maps:
        conf = ET.SubElement(root, "fieldConfiguration")
        for field, pairs in value_maps.items():
            f = ET.SubElement(conf, "field", {"name": field, "configurationFlags": "None"})
            w = ET.SubElement(f, "editWidget", {"type": "ValueMap"})
            c = ET.SubElement(ET.SubElement(w, "config"), "Option", {"type": "Map"})
            lst = ET.SubElement(c, "Option", {"type": "List", "name": "map"})
            for label, value in pairs:
                m = ET.SubElement(lst, "Option", {"type": "Map"})
                ET.SubElement(m, "Option", {"type": "QString", "name": label, "value": value})
    al = ET.SubElement(root, "aliases")
    for i, field in enumerate(fields):
        ET.SubElement(
            al, "alias", {"index": str(i), "field": field, "name": aliases.get(field, "")}
        )
    ET.SubElement(root, "layerGeometryType").text = str(GEOMETRY_KIND[kind])
    return root


def to_qml(root: ET.Element) -> str:
    """Serialise a ``<qgis>`` element with the QGIS doctype."""
    ET.indent(root, space=" ")
    return DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------------------------------------ SLD
_SLD = "http://www.opengis.net/sld"
_OGC = "http://www.opengis.net/ogc"
_SE = "http://www.opengis.net/se"
ET.register_namespace("", _SLD)
ET.register_namespace("ogc", _OGC)
ET.register_namespace("se", _SE)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")


def _se(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, f"{{{_SE}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _sld_symbolizer(rule, kind: str, color: str, *, outline: str, width: float, fill: bool):
    if kind == "polygon":
        sym = _se(rule, "PolygonSymbolizer")
        if fill:
            _se(_se(sym, "Fill"), "SvgParameter", color, name="fill")
        stroke = _se(sym, "Stroke")
        _se(stroke, "SvgParameter", outline, name="stroke")
        _se(stroke, "SvgParameter", f"{width:g}", name="stroke-width")
    elif kind == "line":
        sym = _se(rule, "LineSymbolizer")
        stroke = _se(sym, "Stroke")
        _se(stroke, "SvgParameter", color, name="stroke")
        _se(stroke, "SvgParameter", f"{width:g}", name="stroke-width")
    else:
        sym = _se(rule, "PointSymbolizer")
        mark = _se(_se(sym, "Graphic"), "Mark")
        _se(mark, "WellKnownName", "circle")
        _se(_se(mark, "Fill"), "SvgParameter", color, name="fill")
        stroke = _se(mark, "Stroke")
        _se(stroke, "SvgParameter", outline, name="stroke")
        _se(sym.find(f"{{{_SE}}}Graphic"), "Size", f"{width:g}")


def _sld_filter(rule, op: str, column: str, value=None):
    flt = ET.SubElement(rule, f"{{{_OGC}}}Filter")
    cmp_ = ET.SubElement(flt, f"{{{_OGC}}}{op}")
    ET.SubElement(cmp_, f"{{{_OGC}}}PropertyName").text = column
    if op == "PropertyIsBetween":
        lo, hi = value
        ET.SubElement(
            ET.SubElement(cmp_, f"{{{_OGC}}}LowerBoundary"), f"{{{_OGC}}}Literal"
        ).text = lo
        ET.SubElement(
            ET.SubElement(cmp_, f"{{{_OGC}}}UpperBoundary"), f"{{{_OGC}}}Literal"
        ).text = hi
    elif value is not None:
        ET.SubElement(cmp_, f"{{{_OGC}}}Literal").text = value


def to_sld(
    layer: str,
    rules: Sequence[tuple[str, tuple[str, str, str | None] | None, str]],
    *,
    kind: str,
    outline: str = OUTLINE_COLOR,
    width: float | None = None,
    fill: bool = True,
) -> str:
    """An SLD 1.1 document: ``rules`` are ``(title, filter, colour)`` with ``filter`` either
    ``None`` (every feature), ``("PropertyIsEqualTo", column, literal)``,
    ``("PropertyIsBetween", column, (lower, upper))`` or ``("PropertyIsNull", column, None)``. Sizes are in pixels as SLD has no millimetres."""
    if width is None:
        width = {"polygon": 1.0, "line": 2.0, "point": 7.0}[kind]
    doc = ET.Element(
        f"{{{_SLD}}}StyledLayerDescriptor",
        {
            "version": "1.1.0",
            "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation": (
                "http://www.opengis.net/sld "
                "http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"
            ),
        },
    )
    nl = ET.SubElement(doc, f"{{{_SLD}}}NamedLayer")
    _se(nl, "Name", layer)
    us = ET.SubElement(nl, f"{{{_SLD}}}UserStyle")
    _se(us, "Name", layer)
    fts = _se(us, "FeatureTypeStyle")
    for title, flt, color in rules:
        rule = _se(fts, "Rule")
        _se(rule, "Name", title)
        _se(_se(rule, "Description"), "Title", title)
        if flt is not None:
            _sld_filter(rule, flt[0], flt[1], flt[2])
        _sld_symbolizer(rule, kind, color, outline=outline, width=width, fill=fill)
    ET.indent(doc, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(doc, encoding="unicode") + "\n"


def classification_sld(layer: str, classification: Classification, kind: str = "polygon") -> str:
    """SLD rules for each class (equal-to for integer classes, else between) and no data."""
    rules = []
    for lo, hi, label, color in zip(
        classification.lower,
        classification.upper,
        classification.labels,
        classification.colors,
        strict=True,
    ):
        if lo == hi:
            rules.append((label, ("PropertyIsEqualTo", classification.column, f"{lo:g}"), color))
        else:
            rules.append(
                (label, ("PropertyIsBetween", classification.column, (f"{lo:g}", f"{hi:g}")), color)
            )
    rules.append(
        (
            classification.nodata_label,
            ("PropertyIsNull", classification.column, None),
            classification.nodata_color,
        )
    )
    return to_sld(layer, rules, kind=kind)


def category_sld(layer: str, style: CategoryStyle, kind: str = "point") -> str:
    """SLD rules, one per category value."""
    rules = [
        (value, ("PropertyIsEqualTo", style.column, value), color)
        for value, color in style.mapping().items()
    ]
    return to_sld(layer, rules, kind=kind)
