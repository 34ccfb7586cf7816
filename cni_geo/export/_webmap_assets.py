"""Leaflet and Leaflet.markercluster for the web map: inlined from PyPI XStatic packages or CDNs.

The libraries are ordinary dependencies (``xstatic-leaflet``, ``xstatic-leaflet-markercluster``);
nothing third-party is committed to this repository. ``self_contained`` pages inline the files
(CSS images become ``data:`` URIs, source-map comments are dropped) so they open with no network.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import OutputError


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    licence: str
    copyright: str
    homepage: str
    js: tuple[str, ...]
    css: tuple[str, ...]
    cdn: str


def _xstatic(module: str):
    try:
        return __import__(f"xstatic.pkg.{module}", fromlist=["BASE_DIR"])
    except ImportError as exc:  # pragma: no cover - a declared dependency
        pkg = "xstatic-" + module.replace("_", "-")
        msg = f"the web map needs the Python package {pkg}; install it with `pip install {pkg}`."
        raise OutputError(msg) from exc


@cache
def libraries() -> tuple[Library, ...]:
    """The JavaScript libraries the page loads, with their licences (shown in the page)."""
    leaflet = _xstatic("leaflet")
    cluster = _xstatic("leaflet_markercluster")
    return (
        Library(
            name="Leaflet",
            version=leaflet.VERSION,
            licence="BSD-2-Clause",
            copyright="(c) 2010-2022 Vladimir Agafonkin, (c) 2010-2011 CloudMade",
            homepage="https://leafletjs.com",
            js=("leaflet.js",),
            css=("leaflet.css",),
            cdn=f"https://cdn.jsdelivr.net/npm/leaflet@{leaflet.VERSION}/dist/",
        ),
        Library(
            name="Leaflet.markercluster",
            version=cluster.VERSION,
            licence="MIT",
            copyright="(c) 2012-2019 Dave Leaver, (c) 2012 Smartrak",
            homepage="https://github.com/Leaflet/Leaflet.markercluster",
            js=("leaflet.markercluster.js",),
            css=("MarkerCluster.css", "MarkerCluster.Default.css"),
            cdn=f"https://cdn.jsdelivr.net/npm/leaflet.markercluster@{cluster.VERSION}/dist/",
        ),
    )


def _base_dir(lib: Library) -> Path:
    module = "leaflet" if lib.name == "Leaflet" else "leaflet_markercluster"
    return Path(_xstatic(module).BASE_DIR)


_SOURCEMAP = re.compile(r"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_URL = re.compile(r"url\((['\"]?)(images/[^)'\"]+)\1\)")


def _inline_css(text: str, folder: Path) -> str:
    def repl(match: re.Match) -> str:
        file = folder / match.group(2)
        if not file.exists():
            return "none"
        data = base64.b64encode(file.read_bytes()).decode("ascii")
        return f'url("data:image/png;base64,{data}")'

    return _CSS_URL.sub(repl, text)


def _safe_in_script(text: str) -> str:
    # "</script" inside an inline script would end it early; "<\/" is the same in JS strings.
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


@cache
def head_html(self_contained: bool) -> str:
    """``<style>``/``<script>`` tags (inlined) or ``<link>``/``<script src>`` tags (CDN)."""
    parts: list[str] = []
    for lib in libraries():
        folder = _base_dir(lib)
        for css in lib.css:
            if self_contained:
                text = _inline_css((folder / css).read_text(encoding="utf-8"), folder)
                parts.append(f"<style>/* {lib.name} {lib.version}: {css} */\n{text}\n</style>")
            else:
                parts.append(f'<link rel="stylesheet" href="{lib.cdn}{css}"/>')
        for js in lib.js:
            if self_contained:
                text = _SOURCEMAP.sub("", (folder / js).read_text(encoding="utf-8"))
                parts.append(f"<script>\n{_safe_in_script(text)}\n</script>")
            else:
                parts.append(f'<script src="{lib.cdn}{js}"></script>')
    return "\n".join(parts)
