"""Benchmark: write the national areas frame (33,755 LSOAs x 60 columns) as a styled GeoPackage.

Compares, in the same run and on the same frame:

- ``write_geopackage`` (areas + Left Behind + styles + field descriptions + domains + metadata
  + QGIS project; the full product);
- ``GeoDataFrame.to_file`` (geopandas through pyogrio, the areas layer only, no styling);
- ``pyogrio.write_dataframe(use_arrow=True)`` (the areas layer only, no styling).

Run: ``.venv/bin/python benchmarks/gpkg.py [N_AREAS] [N_VERTICES]``
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cni_geo.export.gpkg import write_geopackage  # noqa: E402


def national_frame(n: int, vertices: int, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    k = np.arange(n)
    cx = 100_000 + (k % side) * 1500.0
    cy = 100_000 + (k // side) * 1500.0
    # irregular polygons of `vertices` vertices around each centre
    ang = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    rad = 600 + 100 * rng.random((n, vertices))
    xs = cx[:, None] + rad * np.cos(ang)
    ys = cy[:, None] + rad * np.sin(ang)
    coords = np.stack([xs, ys], axis=-1)
    coords = np.concatenate([coords, coords[:, :1]], axis=1)
    geom = shapely.polygons(coords)
    cols: dict[str, object] = {
        "name": [f"Area {i}" for i in k],
        "population": rng.integers(1000, 3000, n),
    }
    nodes = ["cni", "civic", "connected", "engaged"]
    n_ind = 60 - 2 - 3 * len(nodes) - 1
    for j in range(n_ind // 2):
        cols[f"ind_{j:02d}"] = rng.random(n) * 100
        cols[f"ind_{j:02d}_coverage"] = rng.random(n)
    for node in nodes:
        score = rng.random(n) * 100
        rank = pd.Series(-score).rank(method="min").to_numpy()
        cols[f"{node}_score"] = score
        cols[f"{node}_rank"] = rank
        cols[f"{node}_decile"] = np.ceil(10 * rank / n)
    cols["left_behind"] = rng.random(n) < 0.1
    while len(cols) < 60:
        cols[f"extra_{len(cols)}"] = rng.random(n)
    index = pd.Index([f"E01{i:06d}" for i in k], name="lsoa_code")
    return gpd.GeoDataFrame(cols, geometry=geom, crs="EPSG:27700", index=index)


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 33_755
    vertices = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    areas = national_frame(n, vertices)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
        f" pyogrio {pyogrio.__version__}, GDAL {pyogrio.__gdal_version_string__}"
    )
    print(f"frame: {len(areas):,} areas x {areas.shape[1] - 1} columns, {vertices} vertices each")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        i = iter(range(100))

        def ours():
            write_geopackage(
                d / f"ours{next(i)}.gpkg",
                areas,
                root="cni",
                domains=["civic", "connected", "engaged"],
                metadata={"recipe": "bench", "licences": ["OGL v3"]},
            )

        def to_file():
            areas.reset_index().to_file(d / f"gpd{next(i)}.gpkg", layer="areas", driver="GPKG")

        def arrow():
            pyogrio.write_dataframe(
                areas.reset_index(), d / f"arrow{next(i)}.gpkg", layer="areas", use_arrow=True
            )

        t_ours = best_of(ours)
        t_gpd = best_of(to_file)
        t_arrow = best_of(arrow)
    print()
    print("| writer | what is written | seconds (best of 3) | ratio to ours |")
    print("|---|---|---|---|")
    print(
        f"| cni_geo write_geopackage | areas + left_behind + styles + metadata + project "
        f"| {t_ours:.2f} | 1.00 |"
    )
    print(f"| geopandas to_file (pyogrio) | areas only | {t_gpd:.2f} | {t_gpd / t_ours:.2f} |")
    print(
        f"| pyogrio write_dataframe arrow | areas only | {t_arrow:.2f} | {t_arrow / t_ours:.2f} |"
    )


if __name__ == "__main__":
    main()
