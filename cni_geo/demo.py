"""The embedded synthetic demo region: a fictional county ("Demoshire") generated from a seed.

:func:`generate_region` writes boundaries (OA/LSOA/MSOA-like units that nest, wards that do
not), assets, roads, a 100 m population raster and tables at other geographies, all in
EPSG:27700. The same seed gives the same features, attributes and raster values (not always
the same bytes: GeoPackage and GeoTIFF headers change with GDAL versions).

Regenerate the files shipped in the repository with::

    python -m cni_geo.demo --out . --overwrite

Example
-------
>>> from pathlib import Path
>>> from cni_geo.demo import generate_region
>>> paths = generate_region(Path("/tmp/demo"), overwrite=True)  # doctest: +SKIP
>>> sorted(paths)  # doctest: +SKIP
['assets', 'boundaries', 'broadband', 'charities', 'imd', 'population', 'readme', 'roads', 'turnout']
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
from pathlib import Path

import numpy as np
import shapely

from ._demo_assets import CATEGORY_GROUPS, build_assets, build_charities
from ._demo_geometry import TOWNS, Geography, build_geography, dissolve, rng_for
from ._demo_roads import build_roads
from ._util import atomic_output

log = logging.getLogger(__name__)

CRS = "EPSG:27700"
DEFAULT_SEED = 2019
COUNTY_NAME = "Demoshire"
NODATA = -1.0

FILES = {
    "boundaries": "boundaries/demo/demo_boundaries.gpkg",
    "assets": "data/demo/assets.gpkg",
    "roads": "data/demo/roads.gpkg",
    "population": "data/demo/population_100m.tif",
    "turnout": "data/demo/turnout_ward.csv",
    "broadband": "data/demo/broadband_oa.csv",
    "charities": "data/demo/charities.csv",
    "imd": "data/demo/imd_lsoa.csv",
    "readme": "data/demo/README.md",
}

__all__ = ["CATEGORY_GROUPS", "DEFAULT_SEED", "FILES", "generate_region", "main"]

_COMPASS = (
    "East",
    "North East",
    "North",
    "North West",
    "West",
    "South West",
    "South",
    "South East",
)


# --- codes and names --------------------------------------------------------------------------


def _nearest(places, xy: np.ndarray) -> np.ndarray:
    pxy = np.array([[p.x, p.y] for p in places])
    return np.argmin(((xy[:, None, :] - pxy[None]) ** 2).sum(axis=2), axis=1)


def _order_north_to_south(xy: np.ndarray) -> np.ndarray:
    return np.lexsort((xy[:, 0], -xy[:, 1]))


def _areas(geo: Geography) -> dict:
    """Codes, names and populations of OAs, LSOAs and MSOAs (ONS-like numbering)."""
    n_oa = len(geo.oa_geom)
    n_l = int(geo.oa_lsoa.max()) + 1
    n_m = int(geo.oa_msoa.max()) + 1
    lsoa_geom = dissolve(geo.oa_geom, geo.oa_lsoa, n_l)
    msoa_geom = dissolve(geo.oa_geom, geo.oa_msoa, n_m)
    lsoa_msoa = np.zeros(n_l, dtype=np.int64)
    lsoa_msoa[geo.oa_lsoa] = geo.oa_msoa

    towns = [p for p in geo.places if p.kind == "town"]
    m_xy = shapely.get_coordinates(shapely.point_on_surface(msoa_geom))
    m_town = _nearest(towns, m_xy)
    m_number = np.zeros(n_m, dtype=np.int64)
    for t in range(len(towns)):
        members = np.flatnonzero(m_town == t)
        m_number[members[_order_north_to_south(m_xy[members])]] = np.arange(1, len(members) + 1)
    m_order = np.lexsort((m_number, m_town))
    m_code = np.empty(n_m, dtype=object)
    m_name = np.empty(n_m, dtype=object)
    for rank, m in enumerate(m_order):
        m_code[m] = f"X02{rank + 1:06d}"
        m_name[m] = f"{towns[m_town[m]].name} {m_number[m]:03d}"

    l_xy = shapely.get_coordinates(shapely.point_on_surface(lsoa_geom))
    l_code = np.empty(n_l, dtype=object)
    l_name = np.empty(n_l, dtype=object)
    next_code = 1
    for m in m_order:
        members = np.flatnonzero(lsoa_msoa == m)
        for k, li in enumerate(members[_order_north_to_south(l_xy[members])]):
            l_code[li] = f"X01{next_code:06d}"
            l_name[li] = f"{m_name[m]}{chr(ord('A') + k)}"
            next_code += 1

    oa_code = np.empty(n_oa, dtype=object)
    l_rank = np.argsort(l_code)
    next_code = 1
    for li in l_rank:
        members = np.flatnonzero(geo.oa_lsoa == li)
        for o in members[_order_north_to_south(geo.oa_seed[members])]:
            oa_code[o] = f"X00{next_code:06d}"
            next_code += 1

    expected = np.bincount(geo.owner.ravel(), geo.density.ravel(), minlength=n_oa + 1)[1:]
    oa_pop = np.maximum(np.round(expected), 1).astype(np.int64)
    return {
        "oa_code": oa_code,
        "oa_pop": oa_pop,
        "lsoa_geom": lsoa_geom,
        "lsoa_code": l_code,
        "lsoa_name": l_name,
        "lsoa_pop": np.bincount(geo.oa_lsoa, oa_pop, n_l).astype(np.int64),
        "lsoa_msoa": lsoa_msoa,
        "msoa_geom": msoa_geom,
        "msoa_code": m_code,
        "msoa_name": m_name,
        "msoa_pop": np.bincount(geo.oa_msoa, oa_pop, n_m).astype(np.int64),
    }


def _ward_names(geo: Geography) -> tuple[np.ndarray, np.ndarray]:
    """Ward codes and names: the nearest settlement, with a compass point where it has several."""
    xy = shapely.get_coordinates(shapely.point_on_surface(geo.ward_geom))
    near = _nearest(geo.places, xy)
    names = np.empty(len(xy), dtype=object)
    for k in np.unique(near):
        members = np.flatnonzero(near == k)
        p = geo.places[k]
        if len(members) == 1:
            names[members[0]] = p.name
            continue
        for w in members:
            dx, dy = xy[w, 0] - p.x, xy[w, 1] - p.y
            if np.hypot(dx, dy) < 0.6 * p.sigma:
                names[w] = f"{p.name} Central"
            else:
                sector = int(np.round(np.arctan2(dy, dx) / (np.pi / 4))) % 8
                names[w] = f"{p.name} {_COMPASS[sector]}"
    # still-duplicated names take the nearest village as a second part ("X & Y")
    villages = [p for p in geo.places if p.kind == "village"]
    second = _nearest(villages, xy)
    seen: dict[str, int] = {}
    for w in np.argsort(names, kind="stable"):
        base = names[w]
        if list(names).count(base) > 1 and not base.startswith(villages[second[w]].name):
            names[w] = f"{base} & {villages[second[w]].name}"
        seen[names[w]] = seen.get(names[w], 0) + 1
        if seen[names[w]] > 1:
            names[w] = f"{names[w]} {seen[names[w]]}"
    order = np.argsort(names, kind="stable")
    codes = np.empty(len(xy), dtype=object)
    codes[order] = [f"X05{i + 1:06d}" for i in range(len(xy))]
    return codes, names


# --- writers ----------------------------------------------------------------------------------


def _write_gpkg(path: Path, layers: dict, *, overwrite: bool) -> None:
    import geopandas as gpd
    import pyogrio

    with atomic_output(path, overwrite=overwrite) as tmp:
        for layer, (columns, geometry, sort_key) in layers.items():
            gdf = gpd.GeoDataFrame(columns, geometry=list(geometry), crs=CRS)
            gdf = gdf.sort_values(sort_key, kind="stable").reset_index(drop=True)
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")


def _write_csv(path: Path, header: list[str], rows: list[list], *, overwrite: bool) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8", newline="")


def _write_raster(path: Path, values: np.ndarray, geo: Geography, *, overwrite: bool) -> None:
    import rasterio

    profile = {
        "driver": "GTiff",
        "width": geo.grid.width,
        "height": geo.grid.height,
        "count": 1,
        "dtype": "float32",
        "crs": CRS,
        "transform": geo.grid.transform,
        "nodata": NODATA,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with atomic_output(path, overwrite=overwrite) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(values.astype("float32"), 1)
            dst.update_tags(
                description="Residents per 100 m cell (synthetic demo county)",
                units="persons",
            )


# --- the region -------------------------------------------------------------------------------


def generate_region(
    root: str | Path, *, seed: int = DEFAULT_SEED, overwrite: bool = False
) -> dict[str, Path]:
    """Write the synthetic demo county under ``root`` and return its files by name.

    Parameters
    ----------
    root
        Folder receiving ``boundaries/demo/...`` and ``data/demo/...`` (created when missing).
    seed
        Random seed; the same seed gives the same features, attributes and raster values.
    overwrite
        Replace existing files; otherwise an existing file raises
        :class:`~cni_geo.errors.OutputExistsError`.

    Returns
    -------
    dict
        ``boundaries``, ``assets``, ``roads``, ``population``, ``turnout``, ``broadband``,
        ``charities``, ``imd``, ``readme`` -> path (see :data:`FILES`).
    """
    root = Path(root)
    paths = {name: root / rel for name, rel in FILES.items()}
    if not overwrite:
        from .errors import OutputExistsError

        existing = [str(p) for p in paths.values() if p.exists()]
        if existing:
            msg = (
                f"{len(existing)} demo file(s) already exist under {root} (first: {existing[0]}); "
                "pass overwrite=True (--overwrite) to regenerate them."
            )
            raise OutputExistsError(msg)

    log.info("building the demo geography (seed %d)", seed)
    geo = build_geography(seed)
    areas = _areas(geo)
    ward_code, ward_name = _ward_names(geo)
    oa_code = areas["oa_code"]
    n_oa = len(oa_code)

    # population raster: each OA's residents spread over its cells in proportion to density
    owner = geo.owner
    weight = np.bincount(owner.ravel(), geo.density.ravel(), minlength=n_oa + 1)
    pop_with_zero = np.concatenate([[0.0], areas["oa_pop"].astype(float)])
    share = np.where(weight > 0, pop_with_zero / np.where(weight > 0, weight, 1.0), 0.0)
    raster = np.where(owner > 0, geo.density * share[owner], NODATA)

    lsoa_code_of_oa = areas["lsoa_code"][geo.oa_lsoa]
    msoa_code_of_oa = areas["msoa_code"][geo.oa_msoa]
    _write_gpkg(
        paths["boundaries"],
        {
            "oa": (
                {
                    "oa_code": oa_code,
                    "lsoa_code": lsoa_code_of_oa,
                    "msoa_code": msoa_code_of_oa,
                    "population": areas["oa_pop"],
                },
                geo.oa_geom,
                "oa_code",
            ),
            "lsoa": (
                {
                    "lsoa_code": areas["lsoa_code"],
                    "lsoa_name": areas["lsoa_name"],
                    "msoa_code": areas["msoa_code"][areas["lsoa_msoa"]],
                    "population": areas["lsoa_pop"],
                },
                areas["lsoa_geom"],
                "lsoa_code",
            ),
            "msoa": (
                {
                    "msoa_code": areas["msoa_code"],
                    "msoa_name": areas["msoa_name"],
                    "population": areas["msoa_pop"],
                },
                areas["msoa_geom"],
                "msoa_code",
            ),
            "ward": ({"ward_code": ward_code, "ward_name": ward_name}, geo.ward_geom, "ward_code"),
        },
        overwrite=overwrite,
    )
    _write_raster(paths["population"], raster, geo, overwrite=overwrite)

    log.info("building roads and assets")
    roads = build_roads(geo, seed)
    road_order = np.lexsort(
        (
            shapely.get_coordinates(shapely.get_point(roads["geometry"], 0))[:, 0],
            shapely.get_coordinates(shapely.get_point(roads["geometry"], 0))[:, 1],
            roads["road_class"],
        )
    )
    road_id = np.empty(len(road_order), dtype=object)
    road_id[road_order] = [f"R{i + 1:06d}" for i in range(len(road_order))]
    _write_gpkg(
        paths["roads"],
        {
            "roads": (
                {"road_id": road_id, "road_class": roads["road_class"], "oneway": roads["oneway"]},
                roads["geometry"],
                "road_id",
            )
        },
        overwrite=overwrite,
    )

    assets = build_assets(geo, roads, seed)
    cats = list(CATEGORY_GROUPS)
    a_xy = shapely.get_coordinates(np.array([a["geometry"] for a in assets], dtype=object))
    a_order = np.lexsort((a_xy[:, 0], -a_xy[:, 1], [cats.index(a["category"]) for a in assets]))
    for rank, i in enumerate(a_order):
        assets[i]["asset_id"] = f"A{rank + 1:05d}"
    green = [a for a in assets if a["polygon"] is not None]

    def _cols(items):
        return {
            "asset_id": [a["asset_id"] for a in items],
            "name": [a["name"] for a in items],
            "category": [a["category"] for a in items],
            "group": [CATEGORY_GROUPS[a["category"]] for a in items],
        }

    _write_gpkg(
        paths["assets"],
        {
            "assets": (_cols(assets), [a["geometry"] for a in assets], "asset_id"),
            "green_space": (_cols(green), [a["polygon"] for a in green], "asset_id"),
        },
        overwrite=overwrite,
    )

    charities = build_charities(geo, seed)
    c_xy = np.array([[c["x"], c["y"]] for c in charities])
    c_order = _order_north_to_south(c_xy)
    _write_csv(
        paths["charities"],
        ["charity_id", "name", "easting", "northing"],
        [
            [f"DC{k + 1:06d}", charities[i]["name"], f"{c_xy[i, 0]:.0f}", f"{c_xy[i, 1]:.0f}"]
            for k, i in enumerate(c_order)
        ],
        overwrite=overwrite,
    )

    tables = _tables(geo, areas, ward_code, ward_name, raster, seed)
    for name, (header, rows) in tables.items():
        if name.startswith("_"):
            continue
        _write_csv(paths[name], header, rows, overwrite=overwrite)

    readme = _readme(geo, areas, ward_code, tables, assets, green, roads, len(charities), seed)
    with atomic_output(paths["readme"], overwrite=overwrite) as tmp:
        tmp.write_text(readme, encoding="utf-8", newline="")
    log.info("demo region written under %s", root)
    return paths


def _tables(geo, areas, ward_code, ward_name, raster, seed) -> dict:
    """Broadband by OA, turnout by ward (one ward left out), IMD-like scores by LSOA."""
    from rasterio import features

    rng = rng_for(seed, 50)
    n_oa = len(areas["oa_code"])
    cells = np.bincount(geo.owner.ravel(), minlength=n_oa + 1)[1:]
    pop = areas["oa_pop"]
    density = pop / (shapely.area(geo.oa_geom) / 1e6)
    s = np.clip((np.log10(density) - 1.3) / 2.0, 0.0, 1.0)
    speed = np.clip((5.0 + 95.0 * s) * rng.lognormal(0.0, 0.2, n_oa), 1.5, 400.0)
    slow = np.clip(100.0 * np.exp(-speed / 15.0) * rng.lognormal(0.0, 0.3, n_oa), 0.0, 100.0)
    premises = np.maximum(np.round(pop / rng.uniform(2.1, 2.6, n_oa)), 1).astype(int)
    del cells
    order = np.argsort(areas["oa_code"])
    broadband = (
        ["oa_code", "premises", "avg_download_mbps", "pct_below_10mbps"],
        [
            [areas["oa_code"][i], str(premises[i]), f"{speed[i]:.1f}", f"{slow[i]:.1f}"]
            for i in order
        ],
    )

    # wards: residents by cell centre, deprivation lowers turnout
    n_w = len(ward_code)
    wowner = features.rasterize(
        zip(geo.ward_geom, range(1, n_w + 1), strict=True),
        out_shape=geo.owner.shape,
        transform=geo.grid.transform,
        fill=0,
        dtype="int32",
    )
    residents = np.where(raster > 0, raster, 0.0)
    w_pop = np.bincount(wowner.ravel(), residents.ravel(), n_w + 1)[1:]
    w_dep = np.bincount(wowner.ravel(), (residents * geo.deprivation).ravel(), n_w + 1)[1:] / w_pop
    electorate = np.round(0.79 * w_pop).astype(int)
    turnout = np.clip(44.0 - 30.0 * w_dep + rng.normal(0, 3, n_w), 15.0, 75.0)
    votes = np.round(electorate * turnout / 100.0).astype(int)
    missing = int(np.argmax(shapely.area(geo.ward_geom)))  # uncontested: no poll
    turnout_rows = [
        [ward_code[i], str(electorate[i]), str(votes[i]), f"{100.0 * votes[i] / electorate[i]:.2f}"]
        for i in np.argsort(ward_code)
        if i != missing
    ]

    # IMD-like: deprivation field, remoteness and noise; rank 1 = most deprived
    n_l = len(areas["lsoa_code"])
    lsoa_of_cell = np.where(geo.owner > 0, geo.oa_lsoa[np.maximum(geo.owner, 1) - 1] + 1, 0)
    l_pop = np.bincount(lsoa_of_cell.ravel(), residents.ravel(), n_l + 1)[1:]
    l_dep = np.bincount(lsoa_of_cell.ravel(), (residents * geo.deprivation).ravel(), n_l + 1)[1:]
    l_dep = l_dep / l_pop
    l_xy = shapely.get_coordinates(shapely.point_on_surface(areas["lsoa_geom"]))
    towns = [p for p in geo.places if p.kind == "town"]
    remote = np.min([np.hypot(l_xy[:, 0] - t.x, l_xy[:, 1] - t.y) / 10_000 for t in towns], axis=0)
    score = (6.0 + 55.0 * l_dep + 4.0 * np.clip(remote, 0, 1.5)) * rng.lognormal(0, 0.12, n_l)
    score = np.round(score, 3)
    by_code = np.argsort(areas["lsoa_code"])
    rank_order = by_code[np.argsort(-score[by_code], kind="stable")]
    rank = np.empty(n_l, dtype=int)
    rank[rank_order] = np.arange(1, n_l + 1)
    imd = (
        ["lsoa_code", "imd_score", "imd_rank", "imd_decile"],
        [
            [
                areas["lsoa_code"][i],
                f"{score[i]:.3f}",
                str(rank[i]),
                str(math.ceil(10 * rank[i] / n_l)),
            ]
            for i in by_code
        ],
    )
    return {
        "broadband": broadband,
        "turnout": (["ward_code", "electorate", "votes", "turnout_pct"], turnout_rows),
        "imd": imd,
        "_missing_ward": (ward_code[missing], ward_name[missing]),
    }


def _readme(geo, areas, ward_code, tables, assets, green, roads, n_charities, seed) -> str:
    missing_code, missing_name = tables.pop("_missing_ward")
    towns = ", ".join(f"{name} (~{pop:,})" for name, _, _, pop, _ in TOWNS)
    cats = {}
    for a in assets:
        cats[a["category"]] = cats.get(a["category"], 0) + 1
    cat_lines = "\n".join(f"| {c} | {g} | {cats.get(c, 0):,} |" for c, g in CATEGORY_GROUPS.items())
    classes, counts = np.unique(roads["road_class"], return_counts=True)
    road_lines = ", ".join(f"{c} {n:,}" for c, n in zip(classes, counts, strict=True))
    return f"""# Demoshire: the synthetic demo region

**Everything here is synthetic.** Demoshire is a fictional county of
{int(areas["oa_pop"].sum()):,} residents with fictional names and codes; no file describes a real
place. It exists so that `cni-geo demo` exercises every step of the Community Needs Index
(distances, counts, densities, raster statistics, reapportioning, aggregation, the index,
Left Behind flags) on data that look like a real county, without downloads.

Generated by `cni_geo.demo.generate_region` (seed {seed}); regenerate with

    python -m cni_geo.demo --out . --overwrite

from the repository root. The same seed gives the same features, attributes and raster values
(the bytes of GeoPackages and GeoTIFFs may differ between GDAL versions).
`tests/test_demo_region.py` checks that.

All coordinates are British National Grid (EPSG:27700), rounded to 1 m for boundaries and
roads, around easting 404,000-457,000 and northing 251,000-289,000. Towns: {towns};
{sum(p.kind == "village" for p in geo.places)} villages and countryside.

## Boundaries: `boundaries/demo/demo_boundaries.gpkg`

| layer | units | columns |
|---|---|---|
| `oa` | {len(areas["oa_code"]):,} output-area-like units (`X00000001`...) | `oa_code`, `lsoa_code`, `msoa_code`, `population` |
| `lsoa` | {len(areas["lsoa_code"]):,} LSOA-like units (`X01000001`...) | `lsoa_code`, `lsoa_name`, `msoa_code`, `population` |
| `msoa` | {len(areas["msoa_code"]):,} MSOA-like units (`X02000001`...) | `msoa_code`, `msoa_name`, `population` |
| `ward` | {len(ward_code):,} wards (`X05000001`...) | `ward_code`, `ward_name` |

OAs nest exactly in LSOAs and LSOAs in MSOAs (shared edges have identical vertices; each level
covers the county without gaps or overlaps). Wards cover the county too but do **not** nest:
many LSOAs straddle two wards. `population` of an LSOA or MSOA is the sum of its OAs. Names
follow the ONS pattern (`Northbridge 003A`); some contain an apostrophe or an ampersand
(`St Aldric's 001A`, `Hale & Thorne`) to exercise escaping.

## Population: `data/demo/population_100m.tif`

Residents per 100 m cell, float32, nodata -1 outside the county, DEFLATE, aligned to the 100 m
grid. Each cell belongs to the OA containing its centre (no centre lies on a boundary); each
OA's population is spread over its cells, so the cell values inside an OA sum to its
`population` (to float32 rounding). Coverage-weighted tools (exactextract) give close, not
identical, sums.

## Assets: `data/demo/assets.gpkg`

Layer `assets` (points; `asset_id`, `name`, `category`, `group`) and layer `green_space`
(polygons of parks, playgrounds and nature reserves with the same columns; their points in
`assets` are the polygons' point-on-surface). Assets cluster in towns and villages; civic
assets are thinner in each town's deprived estate; many LSOAs lack some categories.

| category | group | count |
|---|---|---|
{cat_lines}

## Roads: `data/demo/roads.gpkg`

Layer `roads` (LineStrings; `road_id`, `road_class`, `oneway`): {road_lines}. One connected
network, split at junctions with exactly shared end points; the motorway meets other roads
only at its junctions (it passes over the rest).

## Tables

- `data/demo/turnout_ward.csv`: `ward_code`, `electorate`, `votes`, `turnout_pct`, one row per
  ward **except {missing_code} ({missing_name})**, left out on purpose (an uncontested
  election, so no poll) so that a reapportioned turnout has coverage below 1 there.
- `data/demo/broadband_oa.csv`: `oa_code`, `premises`, `avg_download_mbps`,
  `pct_below_10mbps`; rural output areas are slower.
- `data/demo/charities.csv`: `charity_id`, `name`, `easting`, `northing` ({n_charities:,}
  registered addresses, EPSG:27700; more in towns).
- `data/demo/imd_lsoa.csv`: `lsoa_code`, `imd_score`, `imd_rank` (1 = most deprived within
  Demoshire), `imd_decile` (ceil(10 x rank / N)). Deprivation is highest in one estate per
  town, where civic assets are also thinner and turnout lower, so some LSOAs are in the worst
  decile of both the CNI and this IMD (Left Behind).

Numbers in the CSVs have fixed formats (integers; 1 decimal for broadband, 2 for turnout, 3 for
IMD scores).
"""


def main(argv: list[str] | None = None) -> int:
    """``python -m cni_geo.demo --out DIR [--seed N] [--overwrite]``."""
    parser = argparse.ArgumentParser(
        prog="python -m cni_geo.demo", description="Generate the synthetic demo county."
    )
    parser.add_argument(
        "--out", default=".", help="root folder (files go to boundaries/demo and data/demo)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from .errors import CniGeoError

    try:
        paths = generate_region(Path(args.out), seed=args.seed, overwrite=args.overwrite)
    except CniGeoError as exc:
        parser.exit(exc.exit_code, f"error: {exc}\n")
    for name, path in paths.items():
        log.info("%-10s %s", name, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
