"""Refresh docs/img/*.png from the demo's web map (not run by the tests).

    make demo && .venv/bin/python docs/make_screenshots.py [out/demo/<map>.html]

Opens the map in headless Chromium with no network and saves docs/img/webmap.png (overall
index) and docs/img/webmap-domain.png (the first domain layer).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    if len(sys.argv) > 1:
        page_path = Path(sys.argv[1])
    else:
        found = sorted((ROOT / "out" / "demo").glob("*.html"))
        if not found:
            sys.exit("no map in out/demo: run `make demo` first or pass the map's path")
        page_path = found[0]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("chromium is not installed")
    img = ROOT / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.route(
            "**/*",
            lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort(),
        )
        page.goto(page_path.resolve().as_uri())
        page.wait_for_function("window.cniMap !== undefined", timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(img / "webmap.png"))
        radios = page.locator(".leaflet-control-layers-base input[type=radio]")
        if radios.count() > 1:
            radios.nth(1).check()
            page.wait_for_timeout(500)
            page.screenshot(path=str(img / "webmap-domain.png"))
        browser.close()
    print(f"wrote screenshots of {page_path} to {img}")


if __name__ == "__main__":
    main()
