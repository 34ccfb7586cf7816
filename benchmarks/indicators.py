"""Benchmark of cni_geo.indicators against the tools analysts use, on a synthetic England.

Run:  .venv/bin/python benchmarks/indicators.py [--scale 1.0] [--quick]

Synthetic case (scale 1): 33,750 Voronoi areas (edges densified to 100 m) over a square of
~130,000 km2, 1.7 M uniform population points, 200,000 point assets in 10 categories, a
100 m float32 raster over the whole square. Peers: geopandas.sjoin_nearest and raw scipy
cKDTree (nearest), geopandas sjoin on buffered areas (counts), exactextract default and tuned
and rasterstats (zonal), pysal `access` (2SFCA). Timings are wall-clock on this machine;
rasterstats runs on a subset of areas and is extrapolated linearly (it is a per-feature loop).
Not collected by pytest (the file name does not start with test_).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import scipy.sparse
import shapely
from rasterio.transform import from_origin
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cni_geo.indicators import count_within, nearest_distance, two_step_fca, zonal_stats  # noqa: E402

CRS = "EPSG:27700"
ROWS: list[tuple[str, str, float, str]] = []


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def timed(label, fn, *, peer=None, note=""):
    gc.collect()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    ROWS.append((label, peer or "cni-geo", dt, note))
    print(
        f"{label:<42} {peer or 'cni-geo':<34} {dt:8.2f} s   peak RSS {peak_gb():.2f} GB {note}",
        flush=True,
    )
    return out, dt


def make_case(scale: float, seed: int = 1):
    rng = np.random.default_rng(seed)
    side = 360_000.0 * np.sqrt(scale)  # 130,000 km2 at scale 1
    x0, y0 = 100_000.0, 100_000.0
    n_areas = int(33_750 * scale)
    seeds = shapely.points(rng.uniform(x0, x0 + side, n_areas), rng.uniform(y0, y0 + side, n_areas))
    frame = shapely.box(x0, y0, x0 + side, y0 + side)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = shapely.segmentize(cells, 100.0)
    areas = gpd.GeoDataFrame(
        geometry=cells,
        index=pd.Index([f"E{i:08d}" for i in range(len(cells))], name="code"),
        crs=CRS,
    )
    n_pts = int(1_700_000 * scale)
    points = gpd.GeoDataFrame(
        {"pop": rng.integers(1, 60, n_pts).astype(float)},
        geometry=shapely.points(
            rng.uniform(x0, x0 + side, n_pts), rng.uniform(y0, y0 + side, n_pts)
        ),
        crs=CRS,
    )
    n_assets = int(200_000 * scale)
    assets = gpd.GeoDataFrame(
        {"cat": rng.integers(0, 10, n_assets).astype(str), "cap": rng.integers(50, 1500, n_assets)},
        geometry=shapely.points(
            rng.uniform(x0, x0 + side, n_assets), rng.uniform(y0, y0 + side, n_assets)
        ),
        crs=CRS,
    )
    return areas, points, assets, (x0, y0, side)


def make_raster(path, bounds, seed=2):
    x0, y0, side = bounds
    n = int(np.ceil(side / 100.0))
    rng = np.random.default_rng(seed)
    arr = rng.gamma(2.0, 20.0, size=(n, n)).astype("float32")
    arr[rng.random((n, n)) < 0.01] = -9999  # some nodata
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=CRS,
        transform=from_origin(x0, y0 + n * 100.0, 100.0, 100.0),
        nodata=-9999,
        tiled=True,
        blockxsize=512,
        blockysize=512,
    ) as ds:
        ds.write(arr, 1)
    return n * n


def england(folder: Path) -> None:
    """Zonal, counts and point-in-polygon on the synthetic England of benchmarks/run.py."""
    import pyogrio
    from exactextract import exact_extract

    from cni_geo.geography import assign_to_areas
    from cni_geo.indicators import _counts
    from cni_geo.indicators._zonal import _WKBSource

    def cpu(label, fn, peer=None):
        c = time.process_time()
        out, dt = timed(label, fn, peer=peer)
        print(f"   cpu {time.process_time() - c:.2f} s", flush=True)
        return out, dt

    tif = folder / "population_100m.tif"
    with rasterio.open(tif) as ds:
        wkt = ds.crs.to_wkt()
    for layer in ("lsoa", "oa"):
        areas = pyogrio.read_dataframe(folder / "boundaries.gpkg", layer=layer, use_arrow=True)
        g = np.asarray(areas.geometry.array)
        label = f"zonal sum+mean, {len(g):,} {layer}"
        ours, _ = cpu(label, lambda areas=areas: zonal_stats(areas, tif, stats=("sum", "mean")))
        ee, _ = cpu(
            label,
            lambda g=g: exact_extract(
                str(tif),
                _WKBSource(shapely.to_wkb(g), np.arange(len(g)), wkt),
                ["sum", "mean"],
                include_cols=["id"],
                strategy="raster-sequential",
                output="pandas",
            ),
            peer="exactextract tuned (WKB, raster-sequential; = before)",
        )
        rel = np.nanmax(np.abs(ours["sum"].to_numpy() - ee["sum"].to_numpy()) / ee["sum"].abs())
        print(f"  max relative difference of the sums vs exactextract: {rel:.2g}")
        if layer == "lsoa":
            cpu(
                label,
                lambda areas=areas: exact_extract(
                    str(tif), areas, ["sum", "mean"], output="pandas"
                ),
                peer="exactextract default (GeoDataFrame)",
            )
    lsoa = pyogrio.read_dataframe(folder / "boundaries.gpkg", layer="lsoa", use_arrow=True)
    lsoa = lsoa.set_index("lsoa_code")
    assets = pyogrio.read_dataframe(folder / "assets.gpkg", layer="assets", use_arrow=True)
    label = f"count within 1 km, {len(lsoa):,} x {len(assets):,}, by group"
    ours, _ = cpu(label, lambda: count_within(lsoa, assets, buffer=1000.0, by="group"))
    fast = _counts._points_within
    _counts._points_within = lambda a, p, tree, b: tree.query(a, predicate="dwithin", distance=b)
    before, _ = cpu(
        label,
        lambda: count_within(lsoa, assets, buffer=1000.0, by="group"),
        peer="cni-geo before (STRtree dwithin)",
    )
    _counts._points_within = fast
    assert (before.to_numpy() == ours.to_numpy()).all()

    def sjoin_counts():
        buf = gpd.GeoDataFrame(geometry=lsoa.geometry.buffer(1000.0), crs=lsoa.crs)
        j = gpd.sjoin(buf, assets[["group", "geometry"]], predicate="intersects")
        return j.groupby([j.index, "group"]).size().unstack(fill_value=0).reindex(lsoa.index)

    cpu(label, sjoin_counts, peer="geopandas buffer + sjoin")
    pc = pd.read_csv(folder / "postcodes.csv", engine="pyarrow")
    postcodes = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(pc["easting"], pc["northing"]), crs=lsoa.crs
    )
    label = f"postcodes -> LSOA, {len(postcodes):,}"
    cpu(label, lambda: assign_to_areas(postcodes, lsoa))
    cpu(
        label,
        lambda: gpd.sjoin(postcodes, lsoa[["geometry"]], predicate="within"),
        peer="geopandas sjoin within",
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--england",
        type=Path,
        default=None,
        help="time zonal/counts/assign on the synthetic England folder "
        "(benchmarks/synthetic_england.py, e.g. ~/.cache/cni-geo/england) and stop",
    )
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--quick", action="store_true", help="skip the slowest peers (sjoin x10)")
    ap.add_argument("--oa", action="store_true", help="also zonal stats over 188,880 output areas")
    ap.add_argument("--rasterstats-n", type=int, default=1500)
    ap.add_argument("--access-all", action="store_true", help="2SFCA supply = all 200,000 assets")
    ap.add_argument(
        "--only", default="nearest,counts,zonal,access", help="comma-separated sections to run"
    )
    args = ap.parse_args()
    only = set(args.only.split(","))
    warnings.simplefilter("ignore")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"load average: {os.getloadavg()}")
    if args.england is not None:
        england(args.england.expanduser())
        print_table()
        return
    t = time.perf_counter()
    areas, points, assets, bounds = make_case(args.scale)
    print(
        f"case: {len(areas):,} areas, {len(points):,} points, {len(assets):,} assets "
        f"(built in {time.perf_counter() - t:.1f} s)"
    )

    # ------------------------------------------------------------------ nearest
    if "nearest" in only:
        _, ours1 = timed(
            "nearest, 1 category", lambda: nearest_distance(points, assets[assets["cat"] == "0"])
        )
        ours_d, ours10 = timed(
            "nearest, 10 categories", lambda: nearest_distance(points, assets, by="cat")
        )

        def kd(cats):
            pxy = shapely.get_coordinates(points.geometry.array)
            out = []
            for c in cats:
                sub = assets[assets["cat"] == c]
                out.append(cKDTree(shapely.get_coordinates(sub.geometry.array)).query(pxy)[0])
            return out

        kd_d, kd1 = timed("nearest, 1 category", lambda: kd(["0"]), peer="scipy cKDTree (1 thread)")
        kd_d, kd10 = timed(
            "nearest, 10 categories",
            lambda: kd([str(i) for i in range(10)]),
            peer="scipy cKDTree (1 thread)",
        )
        assert np.allclose(ours_d["0"].to_numpy(), kd_d[0])

        def sj(cats):
            for c in cats:
                gpd.sjoin_nearest(
                    points[["geometry"]],
                    assets.loc[assets["cat"] == c, ["geometry"]],
                    distance_col="d",
                )

        _, sj1 = timed("nearest, 1 category", lambda: sj(["0"]), peer="geopandas.sjoin_nearest")
        if not args.quick:
            _, sj10 = timed(
                "nearest, 10 categories",
                lambda: sj([str(i) for i in range(10)]),
                peer="geopandas.sjoin_nearest",
            )
        else:
            sj10 = sj1 * 10
            ROWS.append(
                ("nearest, 10 categories", "geopandas.sjoin_nearest", sj10, "(1 category x 10)")
            )

    # ------------------------------------------------------------------ counts
    if "counts" in only:
        ours_c, _ = timed(
            "count within 1 km, 10 categories",
            lambda: count_within(areas, assets, buffer=1000, by="cat"),
        )
        _, _ = timed("count within 1 km, total", lambda: count_within(areas, assets, buffer=1000))

        def sjoin_count():
            buf = gpd.GeoDataFrame(geometry=areas.buffer(1000), index=areas.index, crs=CRS)
            j = gpd.sjoin(assets[["cat", "geometry"]], buf, predicate="within")
            return j.groupby(["code", "cat"]).size().unstack(fill_value=0)

        ref_c, _ = timed(
            "count within 1 km, 10 categories", sjoin_count, peer="geopandas buffer + sjoin"
        )
        ref_c = ref_c.reindex(index=areas.index, columns=ours_c.columns, fill_value=0)
        agree = float((ref_c.to_numpy() == ours_c.to_numpy()).mean())
        print(
            f"  counts agree with buffer+sjoin on {agree:.4%} of cells (buffer polygons are approximate arcs)"
        )

    # ------------------------------------------------------------------ zonal
    if "zonal" in only:
        tmp = Path(tempfile.mkdtemp(prefix="cni_bench_"))
        rpath = tmp / "r.tif"
        ncell = make_raster(rpath, bounds)
        print(f"raster: {ncell:,} cells of 100 m")
        import exactextract

        ours_z, _ = timed(
            "zonal sum+mean, areas", lambda: zonal_stats(areas, rpath, stats=("sum", "mean"))
        )
        ee_def, _ = timed(
            "zonal sum+mean, areas",
            lambda: exactextract.exact_extract(str(rpath), areas, ["sum", "mean"], output="pandas"),
            peer="exactextract default",
        )
        timed(
            "zonal sum+mean, areas",
            lambda: exactextract.exact_extract(
                str(rpath), areas, ["sum", "mean"], output="pandas", strategy="raster-sequential"
            ),
            peer="exactextract raster-sequential (GeoJSON)",
        )
        assert np.allclose(ours_z["sum"].to_numpy(), ee_def["sum"].to_numpy(), equal_nan=True)
        try:
            from rasterstats import zonal_stats as rs_zonal

            n = min(args.rasterstats_n, len(areas))
            sub = areas.iloc[:n]
            _, dt = timed(
                f"zonal sum+mean, {n:,} areas",
                lambda: rs_zonal(sub, str(rpath), stats=["sum", "mean"]),
                peer="rasterstats",
            )
            ROWS.append(
                (
                    "zonal sum+mean, areas",
                    "rasterstats (extrapolated)",
                    dt * len(areas) / n,
                    f"from {n:,} areas",
                )
            )
            print(
                f"  rasterstats extrapolated to {len(areas):,} areas: {dt * len(areas) / n:.1f} s"
            )
        except ImportError:
            print("  rasterstats not installed: skipped")
        if args.oa:
            rng = np.random.default_rng(5)
            x0, y0, side = bounds
            n_oa = int(188_880 * args.scale)
            seeds = shapely.points(
                rng.uniform(x0, x0 + side, n_oa), rng.uniform(y0, y0 + side, n_oa)
            )
            frame = shapely.box(x0, y0, x0 + side, y0 + side)
            cells = shapely.get_parts(
                shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame)
            )
            oas = gpd.GeoDataFrame(
                geometry=shapely.segmentize(shapely.intersection(cells, frame), 50.0), crs=CRS
            )
            timed(
                "zonal sum+mean, output areas",
                lambda: zonal_stats(oas, rpath, stats=("sum", "mean")),
            )
            timed(
                "zonal sum+mean, output areas",
                lambda: exactextract.exact_extract(
                    str(rpath), oas, ["sum", "mean"], output="pandas"
                ),
                peer="exactextract default",
            )
            del oas

    # ------------------------------------------------------------------ 2SFCA
    if "access" in only:
        demand = gpd.GeoDataFrame(
            {"pop": np.full(len(areas), 1500.0)},
            geometry=areas.geometry.representative_point(),
            index=areas.index,
            crs=CRS,
        )
        supply = assets if args.access_all else assets[assets["cat"] == "0"]
        cutoff = 5000.0
        sdm = cKDTree(shapely.get_coordinates(demand.geometry.array)).sparse_distance_matrix(
            cKDTree(shapely.get_coordinates(supply.geometry.array)), cutoff, output_type="ndarray"
        )
        costs = pd.DataFrame(
            {
                "origin": demand.index.to_numpy()[sdm["i"]],
                "destination": supply.index.to_numpy()[sdm["j"]],
                "cost": sdm["v"],
            }
        )
        print(
            f"2SFCA matrix: {len(demand):,} x {len(supply):,}, {len(costs):,} pairs within {cutoff:,.0f} m"
        )
        ours_a, _ = timed(
            "2SFCA on the OD table",
            lambda: two_step_fca(
                demand, supply, demand="pop", supply="cap", cutoff=cutoff, costs=costs
            ),
        )
        od = scipy.sparse.csr_matrix(
            (sdm["v"], (sdm["i"], sdm["j"])), shape=(len(demand), len(supply))
        )
        ours_sparse, t_sparse = timed(
            "2SFCA on the sparse OD matrix",
            lambda: two_step_fca(
                demand, supply, demand="pop", supply="cap", cutoff=cutoff, costs=od
            ),
        )
        diff = np.nanmax(np.abs(ours_sparse.to_numpy() - ours_a.to_numpy()))
        print(f"  max |sparse matrix - OD table| = {diff:.3g}")
        timed(
            "2SFCA straight line (builds the matrix)",
            lambda: two_step_fca(demand, supply, demand="pop", supply="cap", cutoff=cutoff),
        )
        try:
            import access

            def pysal():
                a = access.Access(
                    demand_df=pd.DataFrame({"pop": demand["pop"]}),
                    demand_value="pop",
                    supply_df=pd.DataFrame({"cap": supply["cap"].astype(float)}),
                    supply_value="cap",
                    cost_df=costs,
                    cost_origin="origin",
                    cost_dest="destination",
                    cost_name="cost",
                )
                return a.two_stage_fca(max_cost=cutoff)

            ref_a, t_access = timed("2SFCA on the OD table", pysal, peer="pysal access")
            print(f"  pysal access / ours on the sparse matrix: {t_access / t_sparse:.1f}x")
            ref = ref_a.iloc[:, 0].reindex(demand.index).fillna(0).to_numpy()
            print(f"  max |ours - access| = {np.nanmax(np.abs(ours_a.to_numpy() - ref)):.3g}")
        except ImportError:
            print("  pysal access not installed: skipped")

    print_table()


def print_table():
    print("\n| step | tool | seconds | ratio (peer / cni-geo) |\n|---|---|---:|---:|")
    ours = {label: dt for label, tool, dt, _ in ROWS if tool == "cni-geo"}
    for label, tool, dt, note in ROWS:
        base = ours.get(label)
        ratio = "" if tool == "cni-geo" or base is None else f"{dt / base:.1f}x"
        print(f"| {label} | {tool} {note} | {dt:.2f} | {ratio} |")
    print(f"\npeak RSS of the whole run: {peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
