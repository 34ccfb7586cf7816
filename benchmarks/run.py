"""The national benchmark: cni-geo against peer tools on a synthetic England and Wales.

    python benchmarks/run.py                  # generate (or reuse) the case, build, run peers
    python benchmarks/run.py --scale 0.05     # a quick 5% case in <cache>/england-0.05
    python benchmarks/run.py --no-build       # peers and our library functions only
    python benchmarks/run.py --engine dask --scheduler tcp://host:8786
    python benchmarks/run.py --growth         # time vs 1x / 2x / 4x the postcodes

1. Generates the case with benchmarks/synthetic_england.py (skipped when present).
2. Writes ``england.yaml`` (a national recipe) into the cache folder and runs
   ``cni-geo build`` on it, then reads the per-stage wall time and peak RSS from the run
   report ``<name>_report.json`` (``stages: [{name, seconds, peak_rss_mb}]``).
3. Runs, in the same run, our library functions and the peer tools on the same stages and
   prints ratios (peer time / our time; > 1 means we are faster):

   | stage | ours | peers |
   |---|---|---|
   | nearest distance, 1.7 M postcodes x 3 categories | indicators.nearest_distance | geopandas sjoin_nearest, scipy cKDTree |
   | point in polygon, postcodes -> LSOA | geography.assign_to_areas | geopandas sjoin |
   | counts within 1 km of each LSOA, 5 groups | indicators.count_within | geopandas buffer + sjoin |
   | ward -> LSOA areal interpolation | reapportion.area_weighted | tobler area_interpolate |
   | raster sum per LSOA | indicators.zonal_stats | exactextract, rasterstats |
   | web map of the LSOAs | export.webmap.write_web_map | geopandas explore (folium) |

The machine line and the tables are printed as Markdown, ready for benchmarks/results/.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import synthetic_england  # noqa: E402

DISTANCE_CATEGORIES = ("gp", "pharmacy", "food_shop")
COUNT_GROUPS = ("community_space", "education", "sport_leisure", "culture", "green_space")

RECIPE = """\
# National benchmark recipe (written by benchmarks/run.py). Schema: docs/recipe.md.
schema: 1
name: england
title: Community Needs Index - synthetic England and Wales
crs: EPSG:27700
engine: {engine}

sources:
  oa: {{kind: areas, path: boundaries.gpkg, layer: oa, id: oa_code}}
  lsoa: {{kind: areas, path: boundaries.gpkg, layer: lsoa, id: lsoa_code, name: lsoa_name}}
  wards: {{kind: areas, path: boundaries.gpkg, layer: ward, id: ward_code, name: ward_name}}
  assets: {{kind: assets, path: assets.gpkg, layer: assets, category: category}}
  postcodes: {{kind: points, path: postcodes.csv, x: easting, y: northing, crs: EPSG:27700, id: postcode}}
  population_raster: {{kind: raster, path: population_100m.tif}}
  turnout: {{kind: table, path: turnout_ward.csv, id: ward_code}}
  broadband: {{kind: table, path: broadband_oa.csv, id: oa_code}}
  imd: {{kind: table, path: imd_lsoa.csv, id: lsoa_code}}

units: {{source: lsoa}}

# Where people live: the 1.7 M postcodes with their residents (the AHAH way).
population: {{source: postcodes, column: residents}}

indicators:
{indicators}
index:
  root: cni
  nodes:
    cni: {{children: [civic, connect, engaged], combine: sum, weights: equal, transform: none}}
    civic: {{combine: sum, weights: equal, transform: exp, normalise: rankit}}
    connect: {{combine: sum, weights: equal, transform: exp, normalise: rankit}}
    engaged: {{combine: sum, weights: equal, transform: exp, normalise: rankit}}

left_behind: {{source: imd, score: imd_score}}

outputs:
  folder: out
  gpkg: true
  map: true
  csv: true
  self_contained: true
"""


def national_recipe(engine: str = "local") -> str:
    """The national recipe text (paths relative to the cache folder it is written into)."""
    lines = []
    for group in COUNT_GROUPS:
        lines += [
            f"  {group}:",
            "    kind: count",
            "    source: assets",
            f"    filter: {{group: {group}}}",
            "    buffer: 1000",
            "    per: residents",
            "    direction: low",
            "    domain: civic",
        ]
    for cat in (*DISTANCE_CATEGORIES, "secondary_school"):
        lines += [
            f"  {cat}_distance:",
            "    kind: nearest_distance",
            "    source: assets",
            f"    filter: {{category: {cat}}}",
            "    from: population",
            "    aggregate: mean",
            "    direction: high",
            "    domain: connect",
        ]
    lines += [
        "  broadband_speed:",
        "    kind: table",
        "    source: broadband",
        "    column: avg_download_mbps",
        "    method: aggregate",
        "    via: oa",
        "    lookup: lsoa_code",
        "    how: weighted_mean",
        "    direction: low",
        "    domain: connect",
        "  population_density:",
        "    kind: zonal",
        "    source: population_raster",
        "    stat: sum",
        "    per: km2",
        "    direction: low",
        "    domain: connect",
        "  turnout:",
        "    kind: table",
        "    source: turnout",
        "    column: turnout_pct",
        "    method: population_weighted",
        "    via: wards",
        "    direction: low",
        "    domain: engaged",
    ]
    return RECIPE.format(engine=engine, indicators="\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
# helpers


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_line() -> str:
    import geopandas
    import shapely

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, geopandas "
        f"{geopandas.__version__}, shapely {shapely.__version__}, numpy {np.__version__}, "
        f"pandas {pd.__version__}"
    )


REPEAT = 1  # set by --repeat: best of N runs for ours and every peer alike


def timed(func: Callable[[], object], repeat: int | None = None) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat or REPEAT):
        gc.collect()
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
    return best, result


def optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


class Table:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, stage: str, tool: str, seconds: float | None, note: str = "") -> None:
        self.rows.append({"stage": stage, "tool": tool, "seconds": seconds, "note": note})
        shown = "skipped" if seconds is None else f"{seconds:8.2f} s"
        print(f"  {stage:<28} {tool:<34} {shown}  {note}", flush=True)

    def markdown(self) -> str:
        out = ["| stage | tool | seconds | vs cni-geo | note |", "|---|---|---:|---:|---|"]
        ours = {r["stage"]: r["seconds"] for r in self.rows if r["tool"].startswith("cni-geo")}
        for r in self.rows:
            s = r["seconds"]
            base = ours.get(r["stage"])
            ratio = ""
            if s is not None and base and not r["tool"].startswith("cni-geo"):
                ratio = f"{s / base:.1f}x"
            secs = "-" if s is None else f"{s:.2f}"
            out.append(f"| {r['stage']} | {r['tool']} | {secs} | {ratio} | {r['note']} |")
        return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# peers on the same stages


def load_case(folder: Path):
    import geopandas as gpd
    import pyogrio

    t0 = time.perf_counter()
    lsoa = pyogrio.read_dataframe(folder / "boundaries.gpkg", layer="lsoa", use_arrow=True)
    lsoa = lsoa.set_index("lsoa_code")
    ward = pyogrio.read_dataframe(folder / "boundaries.gpkg", layer="ward", use_arrow=True)
    ward = ward.set_index("ward_code")
    assets = pyogrio.read_dataframe(folder / "assets.gpkg", layer="assets", use_arrow=True)
    assets = assets.set_index("asset_id")
    pc = pd.read_csv(folder / "postcodes.csv", engine="pyarrow")
    postcodes = gpd.GeoDataFrame(
        pc.drop(columns=["easting", "northing"]),
        geometry=gpd.points_from_xy(pc["easting"], pc["northing"]),
        crs=lsoa.crs,
        index=pd.Index(pc["postcode"], name="postcode"),
    ).drop(columns=["postcode"])
    turnout = pd.read_csv(folder / "turnout_ward.csv", index_col="ward_code")
    ward = ward.join(turnout)
    print(f"  loaded the case in {time.perf_counter() - t0:.1f} s", flush=True)
    return lsoa, ward, assets, postcodes


def run_peers(folder: Path, table: Table, *, skip: set[str], engine: str, scheduler) -> None:
    import geopandas as gpd

    from cni_geo.engine import map_chunks

    lsoa, ward, assets, postcodes = load_case(folder)
    indicators = optional("cni_geo.indicators")
    geography = optional("cni_geo.geography")
    reapportion = optional("cni_geo.reapportion")
    webmap = optional("cni_geo.export.webmap")
    n_pc = len(postcodes)
    kw = {"engine": engine, "scheduler": scheduler} if engine == "dask" else {}

    # ---- nearest distance
    stage = f"nearest distance ({n_pc / 1e6:.1f} M x {len(DISTANCE_CATEGORIES)})"
    dest = assets[assets["category"].isin(DISTANCE_CATEGORIES)]
    ours = None
    if indicators is not None:
        t, ours = timed(
            lambda: map_chunks(indicators.nearest_distance, postcodes, dest, by="category", **kw)
        )
        table.add(stage, f"cni-geo nearest_distance ({engine})", t)
    from scipy.spatial import cKDTree

    def kdtree_all():
        # both tools start from the same GeoDataFrames: coordinates are taken inside the timing
        xy = np.column_stack([postcodes.geometry.x, postcodes.geometry.y])
        out = {}
        for cat in DISTANCE_CATEGORIES:
            sel = dest[dest["category"] == cat]
            tree = cKDTree(np.column_stack([sel.geometry.x, sel.geometry.y]))
            out[cat] = tree.query(xy, workers=-1)[0]
        return pd.DataFrame(out, index=postcodes.index)

    t, ref = timed(kdtree_all)
    note = ""
    if ours is not None:
        diff = float(np.nanmax(np.abs(ours[list(DISTANCE_CATEGORIES)].to_numpy() - ref.to_numpy())))
        note = f"max diff vs cni-geo {diff:.2g} m"
    table.add(stage, "scipy cKDTree (workers=-1)", t, note)
    if "sjoin_nearest" not in skip:

        def sjoin_all():
            out = {}
            pts = postcodes[["geometry"]]
            for cat in DISTANCE_CATEGORIES:
                sel = dest.loc[dest["category"] == cat, ["geometry"]]
                j = gpd.sjoin_nearest(pts, sel, distance_col="d")
                out[cat] = j["d"].groupby(level=0).first()
            return pd.DataFrame(out).reindex(postcodes.index)

        t, peer = timed(sjoin_all)
        diff = float(np.nanmax(np.abs(peer.to_numpy() - ref.to_numpy())))
        table.add(stage, "geopandas sjoin_nearest", t, f"max diff vs cKDTree {diff:.2g} m")
    del ours, ref
    gc.collect()

    # ---- point in polygon
    stage = f"postcodes -> LSOA ({n_pc / 1e6:.1f} M)"
    ours = None
    if geography is not None:
        t, ours = timed(lambda: map_chunks(geography.assign_to_areas, postcodes, lsoa, **kw))
        table.add(stage, f"cni-geo assign_to_areas ({engine})", t)
    # a fresh geometry array each run, so sjoin builds its spatial index as ours builds its tree
    # (a cached `sindex` on the postcodes from an earlier stage would hide that cost)
    t, peer = timed(
        lambda: gpd.sjoin(
            gpd.GeoDataFrame(geometry=postcodes.geometry.values.copy(), index=postcodes.index),
            lsoa[["geometry"]],
            predicate="within",
        )
    )
    note = ""
    if ours is not None:
        peer_codes = peer["lsoa_code"].groupby(level=0).first().reindex(postcodes.index)
        note = f"{int((peer_codes.astype(str) != ours.astype(str)).sum()):,} disagree"
    table.add(stage, "geopandas sjoin within", t, note)
    del ours, peer
    gc.collect()

    # ---- counts within 1 km
    stage = f"counts in/within 1 km ({len(lsoa):,} x {len(assets) / 1e3:.0f} k)"
    ours = None
    if indicators is not None:
        t, ours = timed(
            lambda: map_chunks(
                indicators.count_within, lsoa, assets, buffer=1000.0, by="group", **kw
            )
        )
        table.add(stage, f"cni-geo count_within ({engine})", t)

    def sjoin_counts():
        buf = gpd.GeoDataFrame(geometry=lsoa.geometry.buffer(1000.0), crs=lsoa.crs)
        j = gpd.sjoin(buf, assets[["group", "geometry"]], predicate="intersects")
        return j.groupby([j.index, "group"]).size().unstack(fill_value=0).reindex(lsoa.index)

    t, peer = timed(sjoin_counts)
    note = "buffer is polygonal (quad_segs=16)"
    if ours is not None:
        cols = [c for c in COUNT_GROUPS if c in peer.columns and c in ours.columns]
        diff = int(np.abs(peer[cols].fillna(0).to_numpy() - ours[cols].to_numpy()).max())
        note += f"; max count diff {diff}"
    table.add(stage, "geopandas buffer + sjoin", t, note)
    del ours, peer
    gc.collect()

    # ---- areal interpolation ward -> LSOA
    stage = f"ward -> LSOA areal ({len(ward):,} -> {len(lsoa):,})"
    ours = None
    if reapportion is not None:
        t, ours = timed(
            lambda: reapportion.area_weighted(
                ward, lsoa, extensive=["electorate", "votes"], intensive=["turnout_pct"]
            )
        )
        table.add(stage, "cni-geo area_weighted", t)
    if "tobler" not in skip:
        from tobler.area_weighted import area_interpolate

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, peer = timed(
                lambda: area_interpolate(
                    ward,
                    lsoa,
                    extensive_variables=["electorate", "votes"],
                    intensive_variables=["turnout_pct"],
                    allocate_total=False,
                )
            )
        note = ""
        if ours is not None:
            diff = float(
                np.nanmax(np.abs(peer["turnout_pct"].to_numpy() - ours["turnout_pct"].to_numpy()))
            )
            note = f"max turnout diff {diff:.2g}"
        table.add(stage, "tobler area_interpolate", t, note)
    del ours
    gc.collect()

    # ---- zonal statistics
    tif = folder / "population_100m.tif"
    stage = f"raster sum per LSOA ({len(lsoa):,})"
    ours = None
    if indicators is not None:
        t, ours = timed(lambda: indicators.zonal_stats(lsoa, tif, stats=("sum",)))
        table.add(stage, "cni-geo zonal_stats", t)
    from exactextract import exact_extract

    t, ee = timed(
        lambda: exact_extract(
            str(tif), lsoa.reset_index(), ["sum"], include_cols=["lsoa_code"], output="pandas"
        )
    )
    note = ""
    if ours is not None:
        diff = float(np.nanmax(np.abs(ee["sum"].to_numpy() - ours["sum"].to_numpy())))
        note = f"max diff vs cni-geo {diff:.3g}"
    table.add(stage, "exactextract", t, note)
    if "rasterstats" not in skip:
        from rasterstats import zonal_stats as rs_zonal

        n_rs = len(lsoa) if "rasterstats-full" in skip or len(lsoa) <= 5000 else 5000
        sub = lsoa.iloc[:: max(1, len(lsoa) // n_rs)].iloc[:n_rs]
        t, _ = timed(lambda: rs_zonal(sub.geometry.values, str(tif), stats=["sum"], nodata=-9999))
        scaled = t * len(lsoa) / len(sub)
        note = (
            ""
            if len(sub) == len(lsoa)
            else f"timed on {len(sub):,} areas, scaled x{len(lsoa) / len(sub):.1f}"
        )
        table.add(stage, "rasterstats (cell centres)", scaled, note)

    # ---- web map
    stage = f"web map ({len(lsoa):,} areas)"
    out_dir = folder / "bench_out"
    out_dir.mkdir(exist_ok=True)
    mapped = lsoa.assign(
        cni_score=np.linspace(0, 100, len(lsoa)),
        cni_rank=np.arange(1, len(lsoa) + 1),
        cni_decile=np.ceil(10 * np.arange(1, len(lsoa) + 1) / len(lsoa)).astype(int),
        name=lsoa["lsoa_name"],
    )
    if webmap is not None:
        try:
            t, _ = timed(
                lambda: webmap.write_web_map(out_dir / "ours.html", mapped, overwrite=True)
            )
            size = (out_dir / "ours.html").stat().st_size / 2**20
            table.add(stage, "cni-geo write_web_map", t, f"{size:.1f} MB")
        except Exception as exc:  # noqa: BLE001 - report and go on
            table.add(stage, "cni-geo write_web_map", None, f"failed: {exc}"[:120])
    if "explore" not in skip:

        def explore():
            m = mapped[["cni_decile", "lsoa_name", "geometry"]].explore(
                column="cni_decile", categorical=True
            )
            m.save(str(out_dir / "explore.html"))

        t, _ = timed(explore)
        size = (out_dir / "explore.html").stat().st_size / 2**20
        table.add(stage, "geopandas explore (folium)", t, f"{size:.1f} MB")


def run_growth(folder: Path, table: Table, *, engine: str, scheduler) -> None:
    """Time nearest distance and point-in-polygon with 1x, 2x and 4x the postcodes."""
    import geopandas as gpd

    from cni_geo.engine import map_chunks

    indicators = optional("cni_geo.indicators")
    geography = optional("cni_geo.geography")
    if indicators is None or geography is None:
        print("  growth: cni_geo.indicators / geography not importable; skipped")
        return
    lsoa, _, assets, postcodes = load_case(folder)
    dest = assets[assets["category"].isin(DISTANCE_CATEGORIES)]
    rng = np.random.default_rng(1)
    base_xy = np.column_stack([postcodes.geometry.x, postcodes.geometry.y])
    kw = {"engine": engine, "scheduler": scheduler} if engine == "dask" else {}
    for factor in (1, 2, 4):
        xy = np.concatenate(
            [base_xy + rng.normal(0, 30, base_xy.shape) * (k > 0) for k in range(factor)]
        )
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=lsoa.crs)
        n = f"{len(pts) / 1e6:.1f} M points"
        rss0 = peak_rss_mb()
        t, _ = timed(
            lambda pts=pts: map_chunks(indicators.nearest_distance, pts, dest, by="category", **kw)
        )
        table.add(
            f"growth {factor}x nearest",
            f"cni-geo ({engine})",
            t,
            f"{n}; peak RSS {peak_rss_mb():.0f} MB (was {rss0:.0f})",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, _ = timed(lambda pts=pts: map_chunks(geography.assign_to_areas, pts, lsoa, **kw))
        table.add(f"growth {factor}x assign", f"cni-geo ({engine})", t, n)
        del pts, xy
        gc.collect()


# ---------------------------------------------------------------------------------------------
# the build


def run_build(folder: Path, *, engine: str, scheduler: str | None) -> list[dict] | None:
    recipe = folder / "england.yaml"
    recipe.write_text(national_recipe(engine))
    cmd = [sys.executable, "-m", "cni_geo", "build", str(recipe), "--overwrite", "--engine", engine]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    print("  $ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd] if Path("/usr/bin/time").exists() else cmd,
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"  cni-geo build failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return None
    peak = None
    if Path("/usr/bin/time").exists():
        try:
            peak = int(proc.stderr.strip().splitlines()[-1]) / 1024
        except (ValueError, IndexError):
            peak = None
    reports = sorted((folder / "out").glob("*_report.json"))
    stages = json.loads(reports[-1].read_text()).get("stages", []) if reports else []
    print(f"  whole build: {wall:.1f} s wall, peak RSS {peak or float('nan'):.0f} MB")
    print("| stage | seconds | peak RSS (MB) |\n|---|---:|---:|")
    for s in stages:
        print(f"| {s['name']} | {s['seconds']:.2f} | {s['peak_rss_mb']:.0f} |")
    return [{"name": "whole build (wall)", "seconds": wall, "peak_rss_mb": peak}, *stages]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help="case folder (default: the cache)")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--engine", choices=["local", "dask"], default="local")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address")
    p.add_argument("--no-build", action="store_true", help="skip `cni-geo build`")
    p.add_argument("--no-peers", action="store_true", help="skip the per-stage comparison")
    p.add_argument("--growth", action="store_true", help="time 1x/2x/4x the postcodes")
    p.add_argument(
        "--repeat", type=int, default=1, help="best of N runs for every tool (default 1)"
    )
    p.add_argument(
        "--skip",
        default="",
        help="comma list of peers to skip: sjoin_nearest,tobler,rasterstats,explore; "
        "'rasterstats-full' times rasterstats on every area instead of a 5,000 sample",
    )
    args = p.parse_args(argv)
    global REPEAT
    REPEAT = max(1, args.repeat)
    folder = args.out or (
        synthetic_england.DEFAULT_OUT
        if args.scale == 1.0
        else synthetic_england.DEFAULT_OUT.with_name(f"england-{args.scale:g}")
    )
    folder = folder.expanduser()
    print(f"machine: {machine_line()}")
    t0 = time.perf_counter()
    manifest = synthetic_england.run(folder, scale=args.scale)
    state = "reused" if manifest.get("reused") else f"generated in {time.perf_counter() - t0:.0f} s"
    print(f"case: {folder} ({state}): {json.dumps(manifest['counts'])}")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if not args.no_build:
        print("\n## cni-geo build")
        run_build(folder, engine=args.engine, scheduler=args.scheduler)
    if not args.no_peers:
        print("\n## same stages, cni-geo library against peers")
        table = Table()
        run_peers(folder, table, skip=skip, engine=args.engine, scheduler=args.scheduler)
        print("\n" + table.markdown())
    if args.growth:
        print("\n## growth with the number of points")
        table = Table()
        run_growth(folder, table, engine=args.engine, scheduler=args.scheduler)
        print("\n" + table.markdown())
    print(f"\npeak RSS of this process: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
