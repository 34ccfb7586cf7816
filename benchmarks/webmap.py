"""Benchmark: the web map for 33,755 synthetic LSOA-like areas vs geopandas explore().

    .venv/bin/python benchmarks/webmap.py [--areas 33755] [--out /tmp/cni-webmap-bench]

Synthetic areas: a Voronoi coverage of clustered points over a 420 x 330 km box in EPSG:27700
(towns dense, countryside sparse, like LSOAs), boundaries densified every 15 m and displaced by
a smooth noise field (identical on both sides of a shared edge), so they carry real wiggles to
simplify. Measures: write time (simplification included) and file size of ``write_web_map``;
headless Chromium load time (file://, no network) until the map has drawn; geopandas
``explore()`` + ``save()`` time and size on the same frame. explore() pages load Leaflet from
CDNs, so they cannot be opened offline and their load time is not measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cni_geo.export.webmap import write_web_map


def synthetic_areas(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x0, y0, w, h = 120_000.0, 60_000.0, 420_000.0, 330_000.0
    towns = rng.uniform([x0, y0], [x0 + w, y0 + h], size=(60, 2))
    n_town = int(n * 0.7)
    which = rng.integers(0, len(towns), n_town)
    spread = rng.uniform(2_000, 9_000, len(towns))[which, None]
    pts = np.vstack(
        [
            towns[which] + rng.normal(size=(n_town, 2)) * spread,
            rng.uniform([x0, y0], [x0 + w, y0 + h], size=(n - n_town, 2)),
        ]
    )
    pts = np.clip(pts, [x0 + 1, y0 + 1], [x0 + w - 1, y0 + h - 1])
    pts = np.unique(np.round(pts, 1), axis=0)
    extent = shapely.box(x0, y0, x0 + w, y0 + h)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=extent))
    cells = shapely.intersection(cells, extent)
    cells = cells[shapely.area(cells) > 0][:n]
    dense = shapely.segmentize(cells, 15.0)

    def wiggle(xy):
        x, y = xy[:, 0], xy[:, 1]
        dx = 40 * np.sin(y / 300.0) + 6 * np.sin(x / 23.0 + y / 31.0)
        dy = 40 * np.sin(x / 370.0) + 6 * np.cos(x / 29.0 - y / 17.0)
        return np.column_stack([x + dx, y + dy])

    geoms = shapely.transform(dense, wiggle)
    m = len(geoms)
    codes = pd.Index([f"E0{i:07d}" for i in range(m)], name="lsoa_code")
    data = {"name": [f"Synthetic {i:05d}" for i in range(m)], "population": 1600}
    for node in ("cni", "civic", "connect", "engaged"):
        rank = rng.permutation(m) + 1
        data[f"{node}_score"] = np.round(100 * (m - rank) / m, 4)
        data[f"{node}_rank"] = rank
        data[f"{node}_decile"] = np.ceil(10 * rank / m).astype(int)
    for k in range(12):  # indicator columns that explore() embeds and we do not
        data[f"indicator_{k}"] = rng.random(m)
    data["left_behind"] = (data["cni_decile"] == 1) & (rng.random(m) < 0.3)
    return gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:27700", index=codes)


def load_time(path: Path, chromium: str) -> tuple[float, int, list[str]]:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route(
            "**/*",
            lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort(),
        )
        t = time.perf_counter()
        page.goto(path.as_uri(), timeout=120_000)
        page.wait_for_function("window.cniMap !== undefined", timeout=120_000)
        # wait for two animation frames: the canvas has been painted
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        elapsed = time.perf_counter() - t
        drawn = page.evaluate(
            "() => { let n = 0; window.cniMap.map.eachLayer(l => { if (l.feature && "
            "l.options.className && l.options.className.includes('cni-area')) n++; }); return n; }"
        )
        page.screenshot(path=str(path.with_suffix(".png")))
        browser.close()
    return elapsed, drawn, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--areas", type=int, default=33_755)
    ap.add_argument("--out", type=Path, default=Path("/tmp/cni-webmap-bench"))
    ap.add_argument("--skip-explore", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    t = time.perf_counter()
    areas = synthetic_areas(args.areas)
    n_vertices = int(shapely.get_num_coordinates(np.asarray(areas.geometry.array)).sum())
    print(
        f"synthetic: {len(areas):,} areas, {n_vertices:,} vertices "
        f"({time.perf_counter() - t:.1f} s to generate)"
    )
    domains = ("civic", "connect", "engaged")

    rows = []
    load_before = os.getloadavg()[0]
    t, c = time.perf_counter(), time.process_time()
    ours = write_web_map(args.out / "cni.html", areas, domains=domains, overwrite=True)
    t_ours = time.perf_counter() - t
    cpu_ours = time.process_time() - c
    s_ours = ours.stat().st_size
    rows.append(("cni-geo write_web_map (4 layers, self-contained)", t_ours, s_ours))
    print(
        f"ours: write {t_ours:.1f} s (CPU {cpu_ours:.1f} s), {s_ours / 1e6:.1f} MB; "
        f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    load = None
    if chromium:
        load, drawn, errors = load_time(ours, chromium)
        print(f"ours: headless load {load:.1f} s, {drawn:,} areas drawn, console errors: {errors}")

    if not args.skip_explore:
        t = time.perf_counter()
        m = areas.explore(column="cni_decile", categorical=True, cmap="viridis", tiles=None)
        m.save(args.out / "explore.html")
        t_exp = time.perf_counter() - t
        s_exp = (args.out / "explore.html").stat().st_size
        rows.append(("geopandas explore() (1 layer, CDN libraries)", t_exp, s_exp))
        print(f"explore: write {t_exp:.1f} s, {s_exp / 1e6:.1f} MB")

    print()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {len(areas):,} areas, {n_vertices:,} vertices"
    )
    print("| tool | write s | size MB | load s (headless, offline) |")
    print("|---|---:|---:|---:|")
    for name, secs, size in rows:
        ld = f"{load:.1f}" if name.startswith("cni-geo") and load is not None else "n/a (CDN)"
        print(f"| {name} | {secs:.1f} | {size / 1e6:.1f} | {ld} |")
    if len(rows) == 2:
        print(
            f"\nratios explore/ours: write time {rows[1][1] / rows[0][1]:.1f}x, "
            f"size {rows[1][2] / rows[0][2]:.1f}x"
        )


if __name__ == "__main__":
    main()
