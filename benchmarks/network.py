"""Benchmark: road-network nearest distance (cni_geo.network) vs networkx.

    .venv/bin/python benchmarks/network.py [--side 1750] [--origins 1700000] [--nx-side 700]

1. Camden: build the walk graph from the real OSM extract and compute the nearest-by-road
   distance from all 749 output areas to every asset category.
2. Synthetic grid of side x side nodes (100 m blocks, >= 3 M nodes at side 1750) with N random
   origins and one category of assets: graph build, snapping, one multi-source search.
   scipy's `dijkstra(indices=all asset nodes, min_only=True)` is timed beside our virtual
   super-source search (the two agree when snap legs are zero).
3. networkx `multi_source_dijkstra_path_length` on the same kind of grid, in its own process
   (it needs several GB at national scale), at `--nx-side`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def grid_roads(side: int, step: float = 100.0):
    import geopandas as gpd
    import shapely

    k = np.arange(side) * step
    lines = [shapely.LineString(np.column_stack([np.full(side, x), k])) for x in k]
    lines += [shapely.LineString(np.column_stack([k, np.full(side, y)])) for y in k]
    return gpd.GeoDataFrame({"road_class": ["residential"] * len(lines)}, geometry=lines, crs=27700)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def camden():
    from cni_geo.network import build_graph
    from cni_geo.sources import read_areas, read_osm_assets

    data = Path(os.environ.get("CNI_GEO_SHARED_DATA", ROOT.parent / "shared" / "data")) / "camden"
    pbf = data / "osm" / "camden.osm.pbf"
    t0 = time.perf_counter()
    g = build_graph(pbf, profile="walk")
    t_build = time.perf_counter() - t0
    assets = read_osm_assets(pbf).points
    oa = read_areas(data / "boundaries" / "Camden_oa11.shp")
    origins = oa.set_geometry(oa.representative_point())
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = g.nearest_distance(origins, assets, by="category")
    t_near = time.perf_counter() - t0
    return {"nodes": g.n_nodes, "edges": g.n_edges, "categories": d.shape[1], "origins": len(origins),
            "build_s": t_build, "nearest_all_s": t_near}  # fmt: skip


def synthetic(side: int, n_origins: int, n_assets: int, seed: int = 1):
    import geopandas as gpd
    import shapely
    from scipy.sparse.csgraph import dijkstra

    from cni_geo.network import build_graph

    rng = np.random.default_rng(seed)
    roads = grid_roads(side)
    ext = (side - 1) * 100.0
    t0 = time.perf_counter()
    g = build_graph(roads, profile="walk")
    t_build = time.perf_counter() - t0
    origins = gpd.GeoDataFrame(
        geometry=shapely.points(rng.uniform(0, ext, (n_origins, 2))), crs=27700
    )
    assets = gpd.GeoDataFrame(
        geometry=shapely.points(rng.uniform(0, ext, (n_assets, 2))), crs=27700
    )
    t0 = time.perf_counter()
    g.snap(assets)  # builds the segment tree once (reused by the search)
    t_tree = time.perf_counter() - t0
    t0 = time.perf_counter()
    d = g.nearest_distance(origins, assets)
    t_near = time.perf_counter() - t0
    # scipy min_only on node sources, same graph
    src = np.unique(g.snap(assets)["node"].to_numpy())
    m = g.matrix("distance", reverse=True)
    t0 = time.perf_counter()
    dm = dijkstra(m, directed=True, indices=src, min_only=True)
    t_min_only = time.perf_counter() - t0
    return {"side": side, "nodes": g.n_nodes, "edges": g.n_edges, "origins": n_origins, "assets": n_assets,
            "build_s": t_build, "segment_tree_s": t_tree, "nearest_s": t_near,
            "scipy_min_only_search_s": t_min_only, "nan": int(np.isnan(d).sum()),
            "min_only_max": float(np.nanmax(dm)), "peak_gb": peak_gb()}  # fmt: skip


def networkx_run(side: int, n_assets: int, seed: int = 1):
    """Run in a subprocess: networkx multi-source Dijkstra on a grid graph of the same shape."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    G = nx.grid_2d_graph(side, side)
    nx.set_edge_attributes(G, 100.0, "weight")
    t_build = time.perf_counter() - t0
    nodes = list(G.nodes)
    src = {nodes[i] for i in rng.integers(0, len(nodes), n_assets)}
    t0 = time.perf_counter()
    d = nx.multi_source_dijkstra_path_length(G, src, weight="weight")
    t_search = time.perf_counter() - t0
    return {
        "side": side,
        "nodes": G.number_of_nodes(),
        "build_s": t_build,
        "search_s": t_search,
        "reached": len(d),
        "peak_gb": peak_gb(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=1750)
    ap.add_argument("--origins", type=int, default=1_700_000)
    ap.add_argument("--assets", type=int, default=2_000)
    ap.add_argument("--nx-side", type=int, default=700)
    ap.add_argument("--child", choices=["ours", "networkx"])
    args = ap.parse_args()
    if args.child == "networkx":
        print(json.dumps(networkx_run(args.nx_side, args.assets)))
        return
    if args.child == "ours":
        print(json.dumps(synthetic(args.side, args.origins, args.assets)))
        return
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    c = camden()
    print(f"Camden walk graph: {c['nodes']:,} nodes, {c['edges']:,} edges; build {c['build_s']:.2f} s; "
          f"nearest by road for {c['origins']} OAs x {c['categories']} categories {c['nearest_all_s']:.2f} s")  # fmt: skip
    runs = {}
    for name, extra in (("ours", []), ("networkx", [])):
        cmd = [sys.executable, __file__, "--child", name, "--side", str(args.side), "--origins", str(args.origins),
               "--assets", str(args.assets), "--nx-side", str(args.nx_side), *extra]  # fmt: skip
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            print(f"{name} failed:", out.stderr[-2000:])
            continue
        runs[name] = json.loads(out.stdout.strip().splitlines()[-1]) | {"wall_s": wall}
        print(name, runs[name])
    if "ours" in runs and "networkx" in runs:
        o, n = runs["ours"], runs["networkx"]
        per_node_ours = o["nearest_s"] / o["nodes"]
        per_node_nx = n["search_s"] / n["nodes"]
        print(f"search time per node: cni_geo {per_node_ours * 1e6:.2f} us (incl. snapping {o['origins']:,} origins), "
              f"scipy min_only {o['scipy_min_only_search_s'] / o['nodes'] * 1e6:.2f} us, "
              f"networkx {per_node_nx * 1e6:.2f} us; ratio networkx/cni_geo = {per_node_nx / per_node_ours:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
