"""An embeddable web map of the index (folium + Leaflet), small enough for a whole country.

The page is a folium ``Map`` whose default CDN scripts (jQuery, Bootstrap, awesome-markers) are
replaced by exactly what the map needs: Leaflet and Leaflet.markercluster, inlined from PyPI's
XStatic packages when ``self_contained`` (the file then opens with no network). folium's
``GeoJson`` writes one full copy of the geometry and properties per layer; for 33,755 areas and
four layers that is far over budget, so the geometry is embedded **once** (simplified in the
metric CRS with shapely's coverage simplification, rounded, delta-encoded) and a small script
of our own builds each layer from it with ``L.geoJSON`` and a style function by class.

Example
-------
>>> from cni_geo.export.webmap import write_web_map, embed_snippet
>>> write_web_map("out/cni.html", areas, root="cni", domains=("civic", "connect", "engaged"))
>>> print(embed_snippet("cni.html"))
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from .._util import atomic_output, build_timestamp
from ..errors import DataError
from . import _webmap_assets, _webmap_data, _webmap_js

log = logging.getLogger(__name__)

DEFAULT_ATTRIBUTION = (
    "Contains OS data (c) Crown copyright and database right; Contains National Statistics data "
    "(c) Crown copyright and database right; (c) OpenStreetMap contributors (ODbL)"
)

Basemap = Literal["none", "OpenStreetMap", "CartoDB Positron"]
BASEMAPS: dict[str, dict[str, str | None]] = {
    "none": {"url": None, "attribution": ""},
    "OpenStreetMap": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attribution": "&copy; OpenStreetMap contributors",
    },
    "CartoDB Positron": {
        "url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        "attribution": "&copy; OpenStreetMap contributors &copy; CARTO",
    },
}

Renderer = Literal["auto", "svg", "canvas"]
_RENDERERS = ("auto", "svg", "canvas")
SVG_MAX_AREAS = 5_000  # above this, "auto" draws on a canvas: SVG slows down with many paths

DATA_ID = "cni-data"


def _label(node: str) -> str:
    return node.replace("_", " ").strip().capitalize() if node else node


def _labels(root: str, domains: tuple[str, ...], aliases: Mapping[str, str] | None) -> dict:
    aliases = dict(aliases or {})
    labels = dict(aliases)
    for node in (root, *domains):
        labels[node] = aliases.get(node) or aliases.get(f"{node}_score") or _label(node)
    if root not in aliases and f"{root}_score" not in aliases and root.lower() == "cni":
        labels[root] = "Community Needs Index"
    for key, default in (("score", "Score"), ("rank", "Rank"), ("decile", "Decile")):
        labels.setdefault(f"{root}_{key}", default)
    return labels


def _about_html(title: str, sources_text: str | None, attribution: str) -> str:
    libs = "".join(
        f"<li>{html.escape(lib.name)} {html.escape(lib.version)}: {html.escape(lib.copyright)}; "
        f"licence {html.escape(lib.licence)} ({html.escape(lib.homepage)})</li>"
        for lib in _webmap_assets.libraries()
    )
    parts = [f"<p><b>{html.escape(title)}</b></p>"]
    if sources_text:
        parts.append(f"<p><b>Sources.</b> {html.escape(sources_text)}</p>")
    if attribution:
        parts.append(f"<p><b>Attribution.</b> {html.escape(attribution)}</p>")
    parts.append(
        "<p><b>Software.</b> Made with cni-geo (MIT) and folium (MIT). "
        f"Libraries in this page:</p><ul>{libs}</ul>"
    )
    parts.append(f"<p><small>Built {html.escape(build_timestamp())}.</small></p>")
    return "".join(parts)


class _Raw(Element):
    """Text put into the page as it is.

    branca's ``MacroElement.render`` wraps each rendered macro in ``Element(text)``, which
    compiles the text as a Jinja template: with megabytes of data that costs seconds, and an
    area name holding ``{{`` or ``{%`` would be read as template code. This element outputs its
    text verbatim instead.
    """

    _template = Template("{{ this.text }}")

    def __init__(self, text: str):
        super().__init__()
        self.text = text


class _CniLayers(MacroElement):
    """Our styles, data block and script, added after the folium map is created."""

    def __init__(self, *, map_name: str, data_json: str, head_html: str):
        super().__init__()
        self._name = "CniLayers"
        self.head_html = f"{head_html}\n<style>{_webmap_js.CSS}</style>"
        self.data_html = f'<script type="application/json" id="{DATA_ID}">{data_json}</script>'
        self.js = _webmap_js.JS.replace("__MAP__", map_name).replace("__DATAID__", DATA_ID)

    def render(self, **kwargs):
        figure = self.get_root()
        name = self.get_name()
        figure.header.add_child(_Raw(self.head_html), name=name)
        figure.html.add_child(_Raw(self.data_html), name=name)
        figure.script.add_child(_Raw(self.js), name=name)


def render_web_map(
    areas,
    *,
    root: str = "cni",
    domains: Iterable[str] = (),
    assets=None,
    aliases: Mapping[str, str] | None = None,
    title: str = "Community Needs Index",
    attribution: str = DEFAULT_ATTRIBUTION,
    sources_text: str | None = None,
    self_contained: bool = True,
    tolerance: float | None = None,
    basemap: Basemap | None = None,
    basemaps: Iterable[str] | None = None,
    renderer: Renderer = "auto",
    asset_category: str = "category",
    asset_name: str = "name",
) -> tuple[str, dict]:
    """The map page as a string and facts about it; see :func:`write_web_map`."""
    domains = tuple(domains)
    _webmap_data.check_areas(areas, root=root, domains=domains)
    if renderer not in _RENDERERS:
        msg = f"renderer={renderer!r} is not known; choose one of {list(_RENDERERS)}."
        raise DataError(msg)
    if basemap is None:
        basemap = "none" if self_contained else "CartoDB Positron"
    names = list(basemaps) if basemaps is not None else list(BASEMAPS)
    for name in {basemap, *names}:
        if name not in BASEMAPS:
            msg = f"basemap {name!r} is not known; choose one of {list(BASEMAPS)}."
            raise DataError(msg)
    if basemap not in names:
        names.insert(0, basemap)

    labels = _labels(root, domains, aliases)
    payload, facts = _webmap_data.build_payload(
        areas,
        root=root,
        domains=domains,
        labels=labels,
        assets=assets,
        asset_category=asset_category,
        asset_name=asset_name,
        tolerance=tolerance,
    )
    if renderer == "auto":
        renderer = "svg" if payload["n"] <= SVG_MAX_AREAS else "canvas"
    payload.update(
        title=title,
        renderer=renderer,
        basemap=basemap,
        basemaps=[{"name": b, **BASEMAPS[b]} for b in names],
        about_html=_about_html(title, sources_text, attribution),
        attribution_html=html.escape(attribution) if attribution else "",
    )
    (south, west), (north, east) = payload["bounds"]
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=8,
        tiles=None,
        control_scale=True,
        zoom_snap=0.25,
    )
    fmap._id = "cni"  # deterministic variable names: the same input gives the same file
    fmap.default_js = []  # no CDN jQuery/Bootstrap/awesome-markers: we load only what we use
    fmap.default_css = []
    root_el = fmap.get_root()
    root_el.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="title")
    fmap.add_child(
        _CniLayers(
            map_name=fmap.get_name(),
            data_json=_webmap_data.payload_json(payload),
            head_html=_webmap_assets.head_html(self_contained),
        )
    )
    page = root_el.render()
    facts.update(n=payload["n"], renderer=renderer, basemap=basemap)
    return page, facts


def write_web_map(
    path: str | os.PathLike,
    areas,
    *,
    root: str = "cni",
    domains: Iterable[str] = (),
    assets=None,
    aliases: Mapping[str, str] | None = None,
    title: str = "Community Needs Index",
    attribution: str = DEFAULT_ATTRIBUTION,
    sources_text: str | None = None,
    self_contained: bool = True,
    tolerance: float | None = None,
    overwrite: bool = False,
    basemap: Basemap | None = None,
    basemaps: Iterable[str] | None = None,
    renderer: Renderer = "auto",
    asset_category: str = "category",
    asset_name: str = "name",
) -> Path:
    """Write the index as a standalone, embeddable HTML map.

    The overall index and each domain are switchable layers coloured by decile (the shared
    :func:`~cni_geo.export.classify.decile_classification`, with its no-data class), each with a
    legend that shows and hides with its layer; a Left Behind outline layer; asset markers
    clustered by category (off by default); tooltips, search by name or code, fullscreen, a
    basemap choice, title, sources, attribution and the libraries' licences.

    Parameters
    ----------
    path
        The ``.html`` file to write (atomically).
    areas
        The areas result frame (docs/architecture.md): a GeoDataFrame indexed by area code in a
        projected CRS with ``name`` (optional), ``{root}_score/_rank/_decile``,
        ``{domain}_rank/_decile`` for each domain and ``left_behind`` (optional).
    root, domains
        The index tree's root node and its children, in order.
    assets
        Optional GeoDataFrame of assets (any CRS) with a category column ``asset_category``
        and optionally a name column ``asset_name``.
    aliases
        Column or node -> short label (layer names, legend titles, tooltip rows).
    title, attribution, sources_text
        Shown in the page (escaped: plain text, not HTML).
    self_contained
        Inline Leaflet and its plugin so the file opens with no network (default). Otherwise
        the page loads them from a CDN.
    tolerance
        Simplification tolerance in metres in the areas' CRS; ``None`` picks 2% of the median
        area's side (5 to 50 m); 0 keeps every vertex. Shared edges stay shared.
    overwrite
        Replace an existing file.
    basemap, basemaps
        The basemap shown first (default ``"none"`` when self-contained, as tiles need the
        network, else ``"CartoDB Positron"``) and the choices offered (default all of
        :data:`BASEMAPS`).
    renderer
        ``"svg"`` (one DOM path per area), ``"canvas"`` (fast for tens of thousands of areas)
        or ``"auto"`` (SVG up to 5,000 areas).

    Returns
    -------
    Path
        The file written. Its size is logged at INFO level.
    """
    path = Path(path)
    page, facts = render_web_map(
        areas,
        root=root,
        domains=domains,
        assets=assets,
        aliases=aliases,
        title=title,
        attribution=attribution,
        sources_text=sources_text,
        self_contained=self_contained,
        tolerance=tolerance,
        basemap=basemap,
        basemaps=basemaps,
        renderer=renderer,
        asset_category=asset_category,
        asset_name=asset_name,
    )
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(page, encoding="utf-8")
    size = path.stat().st_size
    log.info(
        "Wrote the web map %s: %.2f MB, %s areas, %s of %s vertices kept (tolerance %.1f m), "
        "%s renderer%s.",
        path,
        size / 1e6,
        f"{facts['n']:,}",
        f"{facts['vertices_out']:,}",
        f"{facts['vertices_in']:,}",
        facts["tolerance"],
        facts["renderer"],
        ", self-contained" if self_contained else "",
    )
    return path


def embed_snippet(
    map_filename: str,
    *,
    width: str | int = "100%",
    height: str | int = 600,
    title: str = "Community Needs Index map",
) -> str:
    """An ``<iframe>`` that embeds the map file in a web page or CMS.

    Upload the map next to the page (or give its full URL) and paste the snippet where the map
    should appear. ``allowfullscreen`` lets the fullscreen button work inside the frame.

    >>> embed_snippet("cni.html", height=500)  # doctest: +ELLIPSIS
    '<iframe src="cni.html" title="Community Needs Index map" width="100%" height="500" ...'
    """

    def dim(v) -> str:
        return f"{v}" if isinstance(v, int) else html.escape(str(v), quote=True)

    src = html.escape(str(map_filename), quote=True)
    return (
        f'<iframe src="{src}" title="{html.escape(title, quote=True)}" width="{dim(width)}" '
        f'height="{dim(height)}" style="border:0" loading="lazy" allowfullscreen></iframe>'
    )


__all__ = ["write_web_map", "render_web_map", "embed_snippet", "BASEMAPS", "DEFAULT_ATTRIBUTION"]
