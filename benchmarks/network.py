"""Benchmark: road-network nearest distance (cni_geo.network) vs networkx and shapely.

    .venv/bin/python benchmarks/network.py [--side 1750] [--origins 1700000] [--nx-side 700]
        [--before REV] [--england DIR] [--no-strtree]

1. Camden: build the walk graph from the real OSM extract and compute the nearest-by-road
   distance from all 749 output areas to every asset category.
2. Synthetic grid of side x side nodes (100 m blocks, >= 3 M nodes at side 1750) with N random
   origins and three categories of 2,000 random assets: graph build, then one
   ``nearest_distance`` call per category (the first pays for the segment index and snapping
   the origins; the others reuse the origins' snap from the graph's cache). scipy's
   ``dijkstra(indices=asset nodes, min_only=True)`` is timed beside it as the bare search.
3. Peers in their own processes: networkx ``multi_source_dijkstra_path_length`` on a grid of
   ``--nx-side`` (it needs several GB at national scale), and shapely ``STRtree.query_nearest``
   snapping the same origins to the same segments (what cni_geo used before), whose distances
   are compared with ours.
4. ``--england DIR``: the synthetic England and Wales of benchmarks/synthetic_england.py
   (4.8 M road edges in roads.gpkg, 1.7 M postcodes, assets.gpkg): the graph built from the
   file (no cache) and nearest-by-road for 3 categories (gp, pharmacy, park).
5. ``--before REV``: the same grid/England stages with ``cni_geo/network.py`` as it was at git
   revision REV (read with ``git show``), imported beside the current package.

Every stage prints wall and CPU seconds: the machine is shared, and CPU time is the steadier
figure when other jobs load it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENGLAND = Path(os.environ.get("CNI_GEO_CACHE", Path.home() / ".cache" / "cni-geo")) / "england"
CATEGORIES = ("gp", "pharmacy", "park")


def grid_roads(side: int, step: float = 100.0):
    import geopandas as gpd
    import shapely

    k = np.arange(side) * step
    lines = [shapely.LineString(np.column_stack([np.full(side, x), k])) for x in k]
    lines += [shapely.LineString(np.column_stack([k, np.full(side, y)])) for y in k]
    return gpd.GeoDataFrame({"road_class": ["residential"] * len(lines)}, geometry=lines, crs=27700)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


class Clock:
    """Wall and CPU seconds per stage."""

    def __init__(self):
        self.stages = {}

    def __call__(self, name, fn, *args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(*args, **kwargs)
        self.stages[name] = (time.perf_counter() - t, time.process_time() - c)
        return out


def network_module(before: str | None):
    """The current ``cni_geo.network``, or the one at git revision ``before``."""
    if not before:
        import cni_geo.network as mod

        return mod
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{before}:cni_geo/network.py"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "network_before.py"
    path.write_text(src)
    import cni_geo

    spec = importlib.util.spec_from_file_location("cni_geo._network_before", path)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = cni_geo.__name__
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def camden():
    from cni_geo.network import build_graph
    from cni_geo.sources import read_areas, read_osm_assets

    data = Path(os.environ.get("CNI_GEO_SHARED_DATA", ROOT.parent / "shared" / "data")) / "camden"
    pbf = data / "osm" / "camden.osm.pbf"
    clock = Clock()
    g = clock("build", build_graph, pbf, profile="walk")
    assets = read_osm_assets(pbf).points
    oa = read_areas(data / "boundaries" / "Camden_oa11.shp")
    origins = oa.set_geometry(oa.representative_point())
    d = clock("nearest_all", g.nearest_distance, origins, assets, by="category")
    return {"nodes": g.n_nodes, "edges": g.n_edges, "categories": d.shape[1],
            "origins": len(origins), "stages": clock.stages}  # fmt: skip


def grid_case(side: int, n_origins: int, n_assets: int, seed: int = 1):
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    ext = (side - 1) * 100.0
    origins = gpd.GeoDataFrame(
        geometry=shapely.points(rng.uniform(0, ext, (n_origins, 2))), crs=27700
    )
    cats = {
        f"cat{i}": gpd.GeoDataFrame(
            geometry=shapely.points(rng.uniform(0, ext, (n_assets, 2))), crs=27700
        )
        for i in range(3)
    }
    return grid_roads(side), origins, cats


def england_case(folder: Path):
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    pc = pd.read_csv(folder / "postcodes.csv", engine="pyarrow")
    origins = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(pc["easting"], pc["northing"]),
        crs=27700,
        index=pd.Index(pc["postcode"], name="postcode"),
    )
    assets = pyogrio.read_dataframe(folder / "assets.gpkg", layer="assets", use_arrow=True)
    cats = {c: assets[assets["category"] == c] for c in CATEGORIES}
    return origins, cats


def ours(args):
    """Graph build + one nearest_distance per category, with the chosen implementation."""
    from scipy.sparse.csgraph import dijkstra

    mod = network_module(args.before)
    clock = Clock()
    if args.case == "england":
        origins, cats = england_case(Path(args.england))
        g = clock("build", mod.build_graph, Path(args.england) / "roads.gpkg", layer="roads",
                  working_crs="EPSG:27700")  # fmt: skip
    else:
        roads, origins, cats = grid_case(args.side, args.origins, args.assets)
        g = clock("build", mod.build_graph, roads, profile="walk")
    results = {}
    for i, (name, assets) in enumerate(cats.items()):
        results[name] = clock(f"category {i + 1}", g.nearest_distance, origins, assets)
    out = {"case": args.case, "before": args.before, "nodes": g.n_nodes, "edges": g.n_edges,
           "origins": len(origins), "assets": {k: len(v) for k, v in cats.items()},
           "stages": clock.stages, "peak_gb": peak_gb(),
           "nan": {k: int(v.isna().sum()) for k, v in results.items()},
           "median": {k: float(v.median()) for k, v in results.items()}}  # fmt: skip
    if args.case == "grid":  # the bare search, scipy min_only over the assets' nodes
        src = np.unique(g.snap(next(iter(cats.values())))["node"].to_numpy())
        m = g.matrix("distance", reverse=True)
        clock("scipy min_only search", dijkstra, m, directed=True, indices=src, min_only=True)
        out["stages"] = clock.stages
    tag = f"{args.case}-{'before' if args.before else 'now'}"
    np.save(Path(args.scratch) / f"snap-{tag}.npy", g.snap(origins)["snap_distance"].to_numpy())
    np.save(Path(args.scratch) / f"dist-{tag}.npy", np.column_stack(list(results.values())))
    return out


def strtree_peer(args):
    """shapely STRtree nearest segment for the same origins (the approach cni_geo replaced)."""
    import shapely

    from cni_geo.network import build_graph

    if args.case == "england":
        origins, _ = england_case(Path(args.england))
        g = build_graph(Path(args.england) / "roads.gpkg", layer="roads", working_crs="EPSG:27700")
    else:
        roads, origins, _ = grid_case(args.side, args.origins, args.assets)
        g = build_graph(roads, profile="walk")
    clock = Clock()
    usable = g.snappable_segments()
    segs = clock("segments", lambda: shapely.linestrings(
        np.stack([g.nodes[g.seg_u[usable]], g.nodes[g.seg_v[usable]]], axis=1)))  # fmt: skip
    tree = clock("STRtree build", shapely.STRtree, segs)
    _, dist = clock("query_nearest", tree.query_nearest, origins.geometry.values,
                    return_distance=True, all_matches=False)  # fmt: skip
    ref = Path(args.scratch) / f"snap-{args.case}-now.npy"
    diff = float(np.abs(np.load(ref) - dist).max()) if ref.exists() else None
    return {"stages": clock.stages, "peak_gb": peak_gb(), "max_diff_vs_ours_m": diff}


def networkx_run(side: int, n_assets: int, seed: int = 1):
    """networkx multi-source Dijkstra on a grid graph of the same shape."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    clock = Clock()
    G = clock("build", nx.grid_2d_graph, side, side)
    clock("weights", nx.set_edge_attributes, G, 100.0, "weight")
    nodes = list(G.nodes)
    src = {nodes[i] for i in rng.integers(0, len(nodes), n_assets)}
    d = clock("search", nx.multi_source_dijkstra_path_length, G, src, weight="weight")
    return {"side": side, "nodes": G.number_of_nodes(), "reached": len(d),
            "stages": clock.stages, "peak_gb": peak_gb()}  # fmt: skip


def child(args, what: str, **over) -> dict | None:
    argv = {**vars(args), **over, "child": what}
    cmd = [sys.executable, __file__]
    for k, v in argv.items():
        if v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        cmd += [flag] if v is True else [flag, str(v)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"{what} {over} failed:", out.stderr[-3000:])
        return None
    res = json.loads(out.stdout.strip().splitlines()[-1]) | {"wall_s": time.perf_counter() - t0}
    print(f"{what} {over}: {json.dumps(res)}", flush=True)
    return res


def fmt_stages(res: dict) -> str:
    return "; ".join(f"{k} {w:.1f} s (cpu {c:.1f})" for k, (w, c) in res["stages"].items())


def total(res: dict, *names) -> tuple[float, float]:
    st = res["stages"]
    return sum(st[n][0] for n in names), sum(st[n][1] for n in names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=1750)
    ap.add_argument("--origins", type=int, default=1_700_000)
    ap.add_argument("--assets", type=int, default=2_000)
    ap.add_argument("--nx-side", type=int, default=700)
    ap.add_argument("--before", help="git revision of cni_geo/network.py to time as 'before'")
    ap.add_argument("--england", nargs="?", const=str(ENGLAND), help=f"default {ENGLAND}")
    ap.add_argument("--no-strtree", action="store_true", help="skip the shapely STRtree peer")
    ap.add_argument("--no-networkx", action="store_true")
    ap.add_argument("--no-camden", action="store_true")
    ap.add_argument("--case", default="grid", choices=["grid", "england"])
    ap.add_argument("--scratch")
    ap.add_argument("--child", choices=["ours", "strtree", "networkx"])
    args = ap.parse_args()
    if args.child:
        fn = {"ours": lambda: ours(args), "strtree": lambda: strtree_peer(args),
              "networkx": lambda: networkx_run(args.nx_side, args.assets)}[args.child]  # fmt: skip
        print(json.dumps(fn()))
        return
    args.scratch = args.scratch or tempfile.mkdtemp(prefix="cni-network-bench-")
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average at start {load[0]:.2f} {load[1]:.2f}")  # fmt: skip
    if not args.no_camden:
        c = camden()
        print(f"Camden walk graph: {c['nodes']:,} nodes, {c['edges']:,} edges, {c['origins']} OAs x "
              f"{c['categories']} categories: {fmt_stages(c)}")  # fmt: skip
    cases = ["grid"] + (["england"] if args.england else [])
    for case in cases:
        now = child(args, "ours", case=case, before=None)
        before = child(args, "ours", case=case) if args.before else None
        peer = None if args.no_strtree else child(args, "strtree", case=case)
        for label, res in (("now", now), (f"before ({args.before})", before)):
            if res is None:
                continue
            one = total(res, "build", "category 1")
            three = total(res, "build", "category 1", "category 2", "category 3")
            print(f"[{case}] {label}: {fmt_stages(res)}; peak {res['peak_gb']:.2f} GB")
            print(f"[{case}] {label}: build + 1 category {one[0]:.1f} s (cpu {one[1]:.1f}); "
                  f"build + 3 categories {three[0]:.1f} s (cpu {three[1]:.1f})")  # fmt: skip
        if now and before:
            a, b = (np.load(Path(args.scratch) / f"dist-{case}-{t}.npy") for t in ("now", "before"))
            same_nan = bool((np.isnan(a) == np.isnan(b)).all())
            print(f"[{case}] distances now vs before: max |diff| {np.nanmax(np.abs(a - b)):.3g} m, "
                  f"same NaNs: {same_nan}")  # fmt: skip
            for n in ("build", "category 1", "category 2"):
                print(f"[{case}] {n}: before/now wall {before['stages'][n][0] / now['stages'][n][0]:.1f}x, "
                      f"cpu {before['stages'][n][1] / now['stages'][n][1]:.1f}x")  # fmt: skip
        if peer:
            print(f"[{case}] shapely STRtree snapping: {fmt_stages(peer)}; max |diff| vs ours "
                  f"{peer['max_diff_vs_ours_m']} m")  # fmt: skip
    if not args.no_networkx:
        n = child(args, "networkx", case="grid")
        if n:
            print(
                f"networkx on a {args.nx_side}^2 grid: {fmt_stages(n)}; peak {n['peak_gb']:.2f} GB"
            )
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
