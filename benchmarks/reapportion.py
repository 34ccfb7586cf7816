"""Benchmark cni_geo.reapportion against tobler's area_interpolate on an England-size case.

A synthetic country is generated in this script (no downloads): a 360 x 360 km square
(about England's 130,000 km2) with residents clustered in towns, tessellated three times by
Voronoi cells of seed points drawn from the residents (so small units in towns, big ones in the
country): ~33,750 LSOA-like units, ~188,880 OA-like units and ~7,000 ward-like units that do
not nest with either. Boundaries are densified to ~25 m vertex spacing so intersections cost
what real boundaries cost. A 100 m population raster covers the square.

Run:  .venv/bin/python benchmarks/reapportion.py [--scale 1.0] [--skip-oa]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import warnings

import geopandas as gpd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np
import shapely

SIDE = 360_000.0


def towns(rng, n, n_towns=400):
    """Seed points: 70% around towns (lognormal sizes), 30% spread over the country."""
    centres = rng.uniform(0, SIDE, (n_towns, 2))
    size = rng.lognormal(0, 1.2, n_towns)
    k = int(n * 0.7)
    which = rng.choice(n_towns, k, p=size / size.sum())
    spread = 1500 + 6000 * np.sqrt(size[which] / size.max())
    pts = centres[which] + rng.normal(0, 1, (k, 2)) * spread[:, None]
    pts = np.vstack([pts, rng.uniform(0, SIDE, (n - k, 2))])
    return np.clip(pts, 1, SIDE - 1)


def tessellate(rng, n, prefix, densify):
    pts = towns(rng, n)
    pts = np.unique(np.round(pts, 1), axis=0)
    frame = shapely.box(0, 0, SIDE, SIDE)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = cells[shapely.area(cells) > 0]
    if densify:
        cells = shapely.segmentize(cells, densify)
    idx = [f"{prefix}{i:06d}" for i in range(len(cells))]
    return gpd.GeoDataFrame(geometry=cells, index=idx, crs="EPSG:27700")


def raster(path, rng, res=100.0):
    import rasterio
    from rasterio.transform import from_origin

    n = int(SIDE / res)
    pts = towns(rng, 3_000_000)
    hist, _, _ = np.histogram2d(pts[:, 1], pts[:, 0], bins=n, range=[[0, SIDE], [0, SIDE]])
    data = (hist[::-1] * (56e6 / hist.sum())).astype("float32")
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=n,
        width=n,
        count=1,
        dtype="float32",
        crs="EPSG:27700",
        transform=from_origin(0, SIDE, res, res),
        tiled=True,
        compress="deflate",
        nodata=-1,
    ) as ds:
        ds.write(data, 1)


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t, out


def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--skip-oa", action="store_true")
    ap.add_argument("--densify", type=float, default=25.0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from tobler.area_weighted import area_interpolate

    from cni_geo.reapportion import area_weighted, overlap_table, population_weighted

    global SIDE
    rng = np.random.default_rng(42)
    s = args.scale
    SIDE = 360_000.0 * np.sqrt(s)  # keep England's unit sizes at smaller scales
    t0 = time.perf_counter()
    lsoa = tessellate(rng, int(33_750 * s), "L", args.densify)
    wards = tessellate(rng, int(7_000 * s), "W", args.densify)
    lsoa["pop"] = rng.integers(1000, 3000, len(lsoa)).astype("float64")
    lsoa["rate"] = rng.uniform(0, 1, len(lsoa))
    rows = []
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}; scale {s}; generated in {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"LSOA-like {len(lsoa):,}, wards {len(wards):,}, "
        f"vertices per LSOA {shapely.get_num_coordinates(lsoa.geometry.array).mean():.0f}"
    )

    def case(name, src, tgt):
        t_tab, table = timed(overlap_table, src, tgt)
        t_ours, out = timed(area_weighted, src, tgt, extensive=["pop"], intensive=["rate"])
        t_tob, ref = timed(
            area_interpolate,
            src,
            tgt,
            extensive_variables=["pop"],
            intensive_variables=["rate"],
            n_jobs=1,
        )
        os.environ["CNI_GEO_THREADS"] = "1"
        t_one, _ = timed(area_weighted, src, tgt, extensive=["pop"], intensive=["rate"])
        os.environ.pop("CNI_GEO_THREADS")
        t_reuse, _ = timed(
            area_weighted, src, tgt, extensive=["pop"], intensive=["rate"], table=table
        )
        both = out["coverage"].to_numpy() > 0
        rel = np.nanmax(
            np.abs(out["rate"].to_numpy()[both] - ref["rate"].to_numpy()[both])
            / np.abs(ref["rate"].to_numpy()[both])
        )
        rows.append(
            (
                name,
                len(src),
                len(tgt),
                table.matrix.nnz,
                t_ours,
                t_one,
                t_tob,
                t_ours / t_tob,
                t_one / t_tob,
                t_reuse,
                rel,
            )
        )
        print(
            f"{name}: ours {t_ours:.2f} s (table {t_tab:.2f} s, reuse {t_reuse:.3f} s), "
            f"1 thread {t_one:.2f} s, tobler {t_tob:.2f} s, ratio {t_ours / t_tob:.2f}; max rel diff (rate) {rel:.1e}",
            flush=True,
        )
        return t_ours

    t_area = case("LSOA -> wards, area-weighted", lsoa, wards)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "pop100m.tif")
        t_r, _ = timed(raster, path, rng)
        print(f"raster 100 m ({int(SIDE / 100):,}^2 cells) written in {t_r:.1f} s")
        t_pop, out = timed(
            population_weighted, lsoa, wards, population=path, extensive=["pop"], intensive=["rate"]
        )
        print(
            f"LSOA -> wards, population-weighted (100 m raster): {t_pop:.2f} s, "
            f"{t_pop / t_area:.2f}x our area-weighted time",
            flush=True,
        )
    pts = lsoa[["pop"]].set_geometry(lsoa.representative_point())
    t_pts, _ = timed(
        population_weighted, lsoa, wards, population=pts, population_column="pop", extensive=["pop"]
    )
    print(f"LSOA -> wards, population-weighted (points, one per LSOA): {t_pts:.2f} s")
    if not args.skip_oa:
        oa = tessellate(rng, int(188_880 * s), "O", args.densify / 2)
        oa["pop"] = rng.integers(100, 500, len(oa)).astype("float64")
        oa["rate"] = rng.uniform(0, 1, len(oa))
        case("OA -> wards, area-weighted", oa, wards)
    print(f"peak memory (max RSS of this process): {maxrss_mb():,.0f} MB")
    print()
    print(
        "| case | sources | targets | pieces | cni-geo s | cni-geo 1 thread s | tobler n_jobs=1 s"
        " | ratio | ratio 1 thread | reuse table s | max rel diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]:,} | {r[2]:,} | {r[3]:,} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.2f}"
            f" | {r[7]:.2f} | {r[8]:.2f} | {r[9]:.3f} | {r[10]:.1e} |"
        )
    print(
        f"| LSOA -> wards, population-weighted, 100 m raster | {len(lsoa):,} | {len(wards):,} |"
        f" | {t_pop:.2f} | | | {t_pop / t_area:.2f}x our area-weighted | | | |"
    )


if __name__ == "__main__":
    main()
