"""The web map in a real headless Chromium with no network (file:// only)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from PIL import Image
from test_webmap import EVIL, X0, Y0, grid

from cni_geo.export.webmap import write_web_map

playwright_api = pytest.importorskip("playwright.sync_api")

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--proxy-server=127.0.0.1:9",  # belt and braces: anything not routed below goes nowhere
]


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    return grid(12, 10)


@pytest.fixture(scope="module")
def session(areas, chromium, tmp_path_factory):
    """A page with the map loaded; records console errors, page errors, dialogs and requests."""
    folder = tmp_path_factory.mktemp("browser")
    assets = gpd.GeoDataFrame(
        {"category": ["library", "park", "library"], "name": ["Lib <one>", "Park", "Lib two"]},
        geometry=gpd.points_from_xy([X0 + 500, X0 + 4500, X0 + 8500], [Y0 + 500] * 3),
        crs="EPSG:27700",
    )
    path = write_web_map(
        folder / "map.html",
        areas,
        domains=("civic", "connect"),
        assets=assets,
        aliases={"civic": "Civic assets", "connect": "Connectedness"},
    )
    events = {"errors": [], "dialogs": [], "blocked": []}
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.on(
            "console",
            lambda m: events["errors"].append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: events["errors"].append(str(e)))
        page.on("dialog", lambda d: (events["dialogs"].append(d.message), d.dismiss()))

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                events["blocked"].append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(path.as_uri())
        page.wait_for_function("window.cniMap !== undefined", timeout=20_000)
        page.wait_for_timeout(300)
        yield page, events, folder
        browser.close()


def legend_visible(page, layer: str) -> bool:
    return page.evaluate(
        "id => { const d = document.querySelector(`.cni-legend[data-layer='${id}']`);"
        " return !!d && getComputedStyle(d).display !== 'none'; }",
        layer,
    )


def test_loads_offline_without_errors(session):
    page, events, _ = session
    assert events["errors"] == []
    assert events["blocked"] == []
    assert events["dialogs"] == []


def test_one_path_per_area(session, areas):
    page, _, _ = session
    assert page.locator("path.cni-area").count() == len(areas)
    # the Left Behind outline: two strokes per flagged area
    assert page.locator("path.cni-lb").count() == 2 * int(areas["left_behind"].sum())


def test_legends_follow_their_layers(session):
    page, events, _ = session
    assert legend_visible(page, "cni")
    assert not legend_visible(page, "civic")
    assert "1 (highest need)" in page.locator(".cni-legend[data-layer='cni']").inner_text()
    page.get_by_label("Civic assets").check()
    assert legend_visible(page, "civic") and not legend_visible(page, "cni")
    assert page.locator("path.cni-area-civic").count() > 0
    assert page.locator("path.cni-area-cni").count() == 0
    page.get_by_label("Left Behind").uncheck()
    assert not legend_visible(page, "left_behind")
    assert page.locator("path.cni-lb").count() == 0
    assert not legend_visible(page, "asset:library")
    page.get_by_label("Assets: library").check()
    assert legend_visible(page, "asset:library")
    assert page.locator(".cni-pin, .cni-cluster").count() >= 1
    page.get_by_label("Assets: library").uncheck()
    page.get_by_label("Left Behind").check()
    page.get_by_label("Community Needs Index").check()
    assert legend_visible(page, "cni") and legend_visible(page, "left_behind")
    assert events["errors"] == []


def test_tooltip_shows_the_escaped_name(session, areas):
    page, events, _ = session
    i = list(areas.index).index(areas.index[3])
    box = page.evaluate(
        """i => { let found = null;
          window.cniMap.map.eachLayer(l => { if (l.feature && l.feature.properties.i === i
              && l._path && l._path.classList.contains('cni-area')) found = l; });
          const r = found._path.getBoundingClientRect();
          return [r.x + r.width / 2, r.y + r.height / 2]; }""",
        i,
    )
    page.mouse.move(box[0], box[1])
    tip = page.locator(".leaflet-tooltip .cni-tip")
    tip.wait_for(timeout=5_000)
    assert tip.locator(".name").inner_text() == EVIL
    assert tip.locator("script").count() == 0
    assert areas.index[3] in tip.inner_text()
    assert events["dialogs"] == []
    page.mouse.move(5, 400)


def test_search_by_code_opens_the_area(session, areas):
    page, _, _ = session
    code = areas.index[42]
    page.get_by_placeholder("Search area name or code").fill(code)
    page.locator(".cni-search li").first.click()
    popup = page.locator(".leaflet-popup-content .cni-tip")
    popup.wait_for(timeout=5_000)
    assert code in popup.inner_text()
    assert areas.loc[code, "name"] in popup.inner_text()


def test_screenshot_is_not_blank(session, areas):
    page, _, folder = session
    shot = folder / "map.png"
    page.screenshot(path=str(shot))
    img = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(img, axis=0, return_counts=True)
    assert len(colours) > 50
    assert counts.max() / counts.sum() < 0.5
