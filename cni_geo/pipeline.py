"""Wire the rooms for a recipe: sources -> population -> indicators -> index -> outputs.

The pipeline holds no algorithm of its own: it reads what the recipe names, calls the rooms'
functions in order, times each stage, and hands the areas result frame to the writers.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import __version__
from ._util import atomic_output, build_timestamp, crs_label, file_sha256, fmt_count
from .errors import ColumnError, OutputExistsError, RecipeError
from .recipe import IndicatorSpec, Recipe, load_recipe

log = logging.getLogger(__name__)

ATTRIBUTION = (
    "Contains OS data (c) Crown copyright and database right; Contains National Statistics "
    "data (c) Crown copyright and database right; (c) OpenStreetMap contributors (ODbL)"
)
DATA_LICENCES = (
    "Input data under their own licences (e.g. OGL v3, ODbL 1.0); see the recipe's sources."
)


@dataclass
class Stage:
    name: str
    seconds: float
    peak_rss_mb: float


@dataclass
class BuildResult:
    """What a build produced: the areas result frame, the index result and the files."""

    recipe: Recipe
    areas: gpd.GeoDataFrame
    index: object
    files: dict[str, Path]
    stages: list[Stage] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Timer:
    def __init__(self):
        self.stages: list[Stage] = []

    def run(self, name: str, func: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        log.info("%s ...", name)
        value = func(*args, **kwargs)
        stage = Stage(name, round(time.perf_counter() - t0, 3), round(_peak_rss_mb(), 1))
        self.stages.append(stage)
        log.info("%s done in %.2f s (peak RSS %.0f MB)", name, stage.seconds, stage.peak_rss_mb)
        return value


def output_paths(recipe: Recipe, out: Path | None = None) -> dict[str, Path]:
    """The files a build writes: ``<name>.gpkg``, ``<name>_map.html``, ``<name>.csv``, report."""
    folder = Path(out) if out is not None else recipe.outputs.folder
    name = recipe.name
    paths = {}
    if recipe.outputs.gpkg:
        paths["gpkg"] = folder / f"{name}.gpkg"
    if recipe.outputs.map:
        paths["map"] = folder / f"{name}_map.html"
        paths["embed"] = folder / f"{name}_embed.html"
        paths["png"] = folder / f"{name}_map.png"
    if recipe.outputs.csv:
        paths["csv"] = folder / f"{name}.csv"
    paths["report"] = folder / f"{name}_report.json"
    return paths


# --------------------------------------------------------------------------------------------
# Sources


class _Sources:
    """Reads each source once, on first use, through the sources room.

    It also carries the execution engine: :meth:`chunked` runs a per-row measure locally or on
    a Dask cluster (:func:`cni_geo.engine.map_chunks`) with identical results.
    """

    def __init__(self, recipe: Recipe, *, engine: str = "local", scheduler: str | None = None):
        self.recipe = recipe
        self.engine = engine
        self.scheduler = scheduler
        self._cache: dict[str, object] = {}

    def chunked(self, func: Callable, frame, *args, **kwargs):
        if self.engine == "local":
            return func(frame, *args, **kwargs)
        from .engine import map_chunks

        return map_chunks(
            func, frame, *args, engine=self.engine, scheduler=self.scheduler, **kwargs
        )

    def __call__(self, name: str):
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]

    def _read(self, name: str):
        from . import sources as src

        spec = self.recipe.sources[name]
        crs = self.recipe.crs
        log.info("reading source %s (%s) from %s", name, spec.kind, spec.path)
        if spec.kind == "areas":
            return src.read_areas(
                spec.path,
                layer=spec.layer,
                id=spec.id,
                name=spec.label,
                crs=spec.crs,
                working_crs=crs,
            )
        if spec.kind == "points":
            return src.read_points(
                spec.path,
                layer=spec.layer,
                id=spec.id,
                x=spec.x,
                y=spec.y,
                crs=spec.crs,
                working_crs=crs,
            )
        if spec.kind == "assets":
            return src.read_assets(
                spec.path,
                layer=spec.layer,
                category=spec.category or "category",
                working_crs=crs,
                keep_polygons=True,
            )
        if spec.kind == "table":
            return src.read_table(spec.path, id=spec.id)
        if spec.kind == "raster":
            src.check_raster(spec.path, working_crs=crs)
            return spec.path
        if spec.kind == "osm":
            osm = src.read_osm_assets(spec.path, working_crs=crs, keep_polygons=True)
            # polygon features keep their shape (distance to a park's edge, area shares);
            # their points stand in for them elsewhere, so drop those from the points
            points = osm.points
            if osm.polygons is not None and len(osm.polygons):
                points = points.drop(index=osm.polygons.index, errors="ignore")
                polys = osm.polygons[[c for c in points.columns if c in osm.polygons.columns]]
                points = pd.concat([points, polys])
            return gpd.GeoDataFrame(points, geometry="geometry", crs=crs)
        if spec.kind == "roads":
            return spec.path  # the road graph reads (and caches) it itself
        raise AssertionError(spec.kind)  # the recipe validator allows only the kinds above

    def used_paths(self) -> dict[str, Path]:
        return {n: self.recipe.sources[n].path for n in self._cache}


def _filtered(frame, flt: dict, key: str, source: str):
    if not flt:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    for col, values in flt.items():
        if col not in frame.columns:
            present = ", ".join(map(str, frame.columns.drop("geometry", errors="ignore")))
            msg = f"{key}.filter: source {source!r} has no column {col!r}; columns present: {present}."
            raise ColumnError(msg)
        keep &= frame[col].astype("string").isin(values).fillna(False).to_numpy(dtype=bool)
    out = frame.loc[keep]
    if len(out) == 0:
        log.warning("%s: the filter %s matches no feature of source %r.", key, flt, source)
    return out


# --------------------------------------------------------------------------------------------
# Population base


@dataclass
class _Population:
    points: gpd.GeoDataFrame  # population points with `population` and `unit` columns
    by_unit: pd.Series  # residents per unit, on the units index


def _population(recipe: Recipe, units: gpd.GeoDataFrame, read) -> _Population | None:
    from . import geography

    spec = recipe.population
    if spec is None:
        return None
    base = read(spec.source)
    if spec.table is not None:
        counts = _column(read(spec.table), spec.column, "population", spec.table)
        _warn_unjoined(counts.index, base.index, "population.table", spec.table, spec.source)
        base = base.assign(**{spec.column: counts.reindex(base.index)})
    if spec.column not in base.columns:
        present = ", ".join(map(str, base.columns.drop("geometry", errors="ignore")))
        msg = f"population.column: source {spec.source!r} has no column {spec.column!r}; columns present: {present}."
        raise ColumnError(msg)
    if recipe.sources[spec.source].kind == "areas":
        points = geography.population_points(base, population=spec.column, how=spec.points)
    else:
        points = base
    points = (
        points.rename(columns={spec.column: "population"})
        if spec.column != "population"
        else points
    )
    unit = read.chunked(geography.assign_to_areas, points, units)
    points = points.assign(unit=unit)
    by_unit = points.groupby("unit")["population"].sum().reindex(units.index).fillna(0.0)
    by_unit.name = "population"
    empty = int((by_unit <= 0).sum())
    if empty:
        log.warning(
            "%s units have no residents in the population base.", fmt_count(empty, len(units))
        )
    return _Population(points=points, by_unit=by_unit)


# --------------------------------------------------------------------------------------------
# Indicators


def _indicator(
    spec: IndicatorSpec, units: gpd.GeoDataFrame, pop: _Population | None, read, graphs: dict
) -> dict[str, pd.Series]:
    """Compute one indicator; returns {column: Series on the units index} (value + quality)."""
    from . import indicators as ind

    key = f"indicators.{spec.key}"
    p = spec.params
    name = spec.key
    if spec.kind in (
        "count",
        "nearest_distance",
        "share_within",
        "area_share",
        "gravity",
        "two_step_fca",
    ):
        assets = _filtered(read(spec.source), p.get("filter"), key, spec.source)
        _warn_outside(assets, units, key, spec.source)
        if spec.kind in ("count", "share_within", "gravity", "two_step_fca"):
            # each asset counts once, where it is: polygons by their point on surface
            assets = assets.set_geometry(assets.geometry.representative_point())
    if spec.kind == "count":
        counts = read.chunked(
            ind.count_within, units, assets, buffer=p["buffer"], weight=p.get("weight")
        )
        if p["per"] == "residents":
            value = ind.per_1000(counts, pop.by_unit)
        elif p["per"] == "km2":
            value = ind.per_km2(counts, units)
        else:
            value = counts.astype("float64")
        return {name: value}
    if spec.kind == "nearest_distance":
        network = None
        if "network" in p:
            network = _graph(spec, read, graphs)
        if p["from"] == "population":
            origins, weights, groups = pop.points, pop.points["population"], pop.points["unit"]
        else:
            origins = gpd.GeoDataFrame(
                geometry=units.geometry.representative_point(), crs=units.crs
            )
            weights, groups = None, pd.Series(units.index, index=units.index)
        kwargs = {"k": p["k"], "max_distance": p.get("max_distance")}
        if network is not None:  # the road graph stays in this process
            dist = ind.nearest_distance(origins, assets, network=network, **kwargs)
        else:
            dist = read.chunked(ind.nearest_distance, origins, assets, **kwargs)
        value = ind.weighted_aggregate(
            dist, groups, weights=weights, how=p["aggregate"], q=p.get("q")
        )
        out = {name: value.reindex(units.index)}
        if network is not None or p.get("max_distance") is not None:
            # quality: the share of each unit's residents with no asset in reach (NaN distance)
            w = weights if weights is not None else pd.Series(1.0, index=dist.index)
            lost = w.where(dist.isna(), 0.0).groupby(groups).sum()
            out[f"{name}_unreachable"] = (lost / w.groupby(groups).sum()).reindex(units.index)
        return out
    if spec.kind in ("gravity", "two_step_fca"):
        # supply per asset: a column (e.g. GP list size, pupil places) or 1 each
        supply = p.get("supply")
        if supply is None:
            assets = assets.assign(_supply=1.0)
            supply = "_supply"
        origins = pop.points
        common = {"cutoff": p["cutoff"], "decay": p["decay"], "param": p.get("param")}
        if spec.kind == "two_step_fca":
            per_point = ind.two_step_fca(
                origins, assets, demand="population", supply=supply, **common
            )
        else:
            per_point = ind.gravity_access(origins, assets, supply=supply, **common)
        value = ind.weighted_aggregate(
            per_point,
            origins["unit"],
            weights=origins["population"],
            how=p["aggregate"],
            q=p.get("q"),
        )
        return {name: value.reindex(units.index).rename(name)}
    if spec.kind == "share_within":
        value = ind.share_within(
            pop.points, assets, p["distance"], population="population", areas_of="unit"
        )
        return {name: value.reindex(units.index)}
    if spec.kind == "area_share":
        polygonal = assets.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
        if not polygonal.all():
            log.info(
                "%s: %s features of %r are points or lines and have no area; left out of the share.",
                key,
                fmt_count(int((~polygonal).sum()), len(assets)),
                spec.source,
            )
        return {name: ind.area_share(units, assets.loc[polygonal])}
    if spec.kind == "zonal":
        stat = p["stat"]
        kwargs = {}
        if stat == "weighted_mean":
            kwargs["weights"] = read(p["weights"])
        if stat == "share_above":
            kwargs["threshold"] = p["threshold"]
        zs = ind.zonal_stats(units, read(spec.source), stats=(stat,), **kwargs)
        value = zs[stat]
        if p["per"] == "km2":
            value = ind.per_km2(value, units)
        elif p["per"] == "residents":
            value = ind.per_1000(value, pop.by_unit)
        return {name: value.rename(name), f"{name}_coverage": zs["coverage"]}
    if spec.kind == "table":
        return _table_indicator(spec, units, pop, read)
    raise AssertionError(spec.kind)


def _warn_outside(assets, units, key: str, source: str) -> None:
    """Warn when no feature of a source lies within the units' extent (swapped x/y, wrong CRS)."""
    if len(assets) == 0:
        return
    x0, y0, x1, y1 = units.total_bounds
    b = assets.geometry.bounds
    inside = (b["maxx"] >= x0) & (b["minx"] <= x1) & (b["maxy"] >= y0) & (b["miny"] <= y1)
    if not inside.any():
        log.warning(
            "%s: %s features of source %r lie outside the units' extent; check their "
            "coordinates and CRS (longitude and latitude swapped?).",
            key,
            fmt_count(len(assets), len(assets)),
            source,
        )


def _column(table: pd.DataFrame, column: str, key: str, source: str) -> pd.Series:
    if column not in table.columns:
        present = ", ".join(map(str, table.columns))
        msg = (
            f"{key}.column: table {source!r} has no column {column!r}; columns present: {present}."
        )
        raise ColumnError(msg)
    values = table[column]
    if not pd.api.types.is_numeric_dtype(values):
        msg = f"{key}.column: column {column!r} of table {source!r} is not numeric."
        raise ColumnError(msg)
    return values.astype("float64")


def _table_indicator(spec, units, pop, read) -> dict[str, pd.Series]:
    from . import reapportion as rp

    key = f"indicators.{spec.key}"
    p = spec.params
    values = _column(read(spec.source), p["column"], key, spec.source)
    name = spec.key
    if p["method"] == "lookup":
        extra = ~values.index.isin(units.index)
        if extra.any():
            log.warning(
                "%s: %s codes in table %r are not among the units and are ignored (first: %r).",
                key,
                fmt_count(int(extra.sum()), len(values)),
                spec.source,
                values.index[extra][0],
            )
        joined = values.reindex(units.index)
        missing = int(joined.isna().sum())
        if missing:
            log.warning(
                "%s: %s units have no row in table %r; their value is NaN.",
                key,
                fmt_count(missing, len(units)),
                spec.source,
            )
        return {name: joined.rename(name)}
    via = read(p["via"])
    _warn_unjoined(values.index, via.index, key, spec.source, p["via"])
    if p["method"] == "aggregate":
        if p["lookup"] not in via.columns:
            present = ", ".join(map(str, via.columns.drop("geometry", errors="ignore")))
            msg = f"{key}.lookup: source {p['via']!r} has no column {p['lookup']!r}; columns present: {present}."
            raise ColumnError(msg)
        lookup = via[p["lookup"]].astype("string")
        fine = values.reindex(via.index)
        if p["how"] == "weighted_mean":
            weights = _via_population(via, pop)
        else:
            weights = pd.Series(1.0, index=via.index)
        out = rp.aggregate(
            fine,
            lookup,
            how=p["how"],
            weights=weights if p["how"] == "weighted_mean" else None,
            nan=p["nan"],
        )
        if isinstance(out, pd.DataFrame):
            out = out.iloc[:, 0]
        # coverage: the share of each unit's residents (or fine units) with a value
        backed = weights.where(fine.notna(), 0.0).groupby(lookup).sum()
        coverage = (backed / weights.groupby(lookup).sum()).reindex(units.index)
        _warn_partial(coverage, key, spec.source, name)
        return {name: out.reindex(units.index).rename(name), f"{name}_coverage": coverage}
    source = via[["geometry"]].assign(**{name: values.reindex(via.index)})
    kw = {"extensive": [name]} if p["how"] == "sum" else {"intensive": [name]}
    kw["nan"] = p["nan"]
    if p["method"] == "area_weighted":
        res = rp.area_weighted(source, units, **kw)
    else:
        points = pop.points[["population", "geometry"]]
        res = rp.population_weighted(
            source, units, population=points, population_column="population", **kw
        )
    coverage = res[f"{name}_coverage"] if f"{name}_coverage" in res.columns else res["coverage"]
    coverage = coverage.reindex(units.index)
    _warn_partial(coverage, key, spec.source, name)
    return {name: res[name].reindex(units.index), f"{name}_coverage": coverage}


def _warn_partial(coverage: pd.Series, key: str, source: str, name: str) -> None:
    """Counted warning for units only partly backed by a reapportioned table."""
    partial = int((coverage < 1 - 1e-9).sum())
    if partial:
        log.warning(
            "%s: %s units are only partly backed by data from %r (see %s_coverage).",
            key,
            fmt_count(partial, len(coverage)),
            source,
            name,
        )


def _via_population(via: gpd.GeoDataFrame, pop: _Population | None) -> pd.Series:
    """Residents of each `via` area: its own population column, else the population points in it."""
    if "population" in via.columns:
        return via["population"].astype("float64")
    from . import geography

    inside = geography.assign_to_areas(pop.points, via)
    return pop.points["population"].groupby(inside).sum().reindex(via.index).fillna(0.0)


def _warn_unjoined(table_ids, area_ids, key, table, areas) -> None:
    table_ids = pd.Index(table_ids.astype(str))
    area_ids = pd.Index(area_ids.astype(str))
    no_area = int((~table_ids.isin(area_ids)).sum())
    no_row = int((~area_ids.isin(table_ids)).sum())
    if no_area:
        log.warning(
            "%s: %s codes in table %r are not in source %r and are ignored.",
            key,
            fmt_count(no_area, len(table_ids)),
            table,
            areas,
        )
    if no_row:
        log.warning(
            "%s: %s areas of %r have no row in table %r (no data, not 0).",
            key,
            fmt_count(no_row, len(area_ids)),
            areas,
            table,
        )


def _cache_dir() -> Path:
    """Where built road graphs are cached (keyed by the input file's hash): $CNI_GEO_CACHE or
    ~/.cache/cni-geo."""
    return Path(os.environ.get("CNI_GEO_CACHE") or Path.home() / ".cache" / "cni-geo")


def _graph(spec: IndicatorSpec, read, graphs: dict):
    from . import network

    key = (spec.params["network"], spec.params["profile"])
    if key not in graphs:
        source = read.recipe.sources[spec.params["network"]]
        graphs[key] = network.build_graph(
            source.path,
            profile=spec.params["profile"],
            layer=source.layer,
            working_crs=read.recipe.crs,
            cache_dir=_cache_dir() / "graphs",
        )
    return graphs[key]


# --------------------------------------------------------------------------------------------
# The build


def _relpath(path: Path, folder: Path) -> str:
    try:
        return os.path.relpath(path, folder)
    except ValueError:  # another drive on Windows
        return Path(path).name


def provenance(recipe: Recipe, used: dict[str, Path], extra: dict | None = None) -> dict:
    """Version, recipe, inputs (relative paths and content hashes), CRS, time, attribution."""
    folder = recipe.folder
    prov = {
        "cni_geo_version": __version__,
        "recipe": {
            "name": recipe.name,
            "path": Path(recipe.path).name if recipe.path else None,
            "sha256": file_sha256(recipe.path) if recipe.path else None,
        },
        "inputs": {
            name: {"path": _relpath(path, folder), "sha256": file_sha256(path)}
            for name, path in sorted(used.items())
        },
        "crs": recipe.crs,
        "built": build_timestamp(),
        "attribution": ATTRIBUTION,
        "licences": {"code": "MIT", "data": DATA_LICENCES},
    }
    if extra:
        prov.update(extra)
    return prov


def build(
    recipe: Recipe | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = False,
    engine: str | None = None,
    scheduler: str | None = None,
) -> BuildResult:
    """Run a recipe end to end and write its outputs.

    Parameters
    ----------
    recipe
        A :class:`~cni_geo.recipe.Recipe` or the path of a recipe file.
    out
        Output folder; overrides the recipe's ``outputs.folder``.
    overwrite
        Replace existing outputs. Without it, existing files are refused *before* any work.
    progress
        Show a progress bar over the indicators (the CLI turns it on).
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    if recipe.units is None:
        msg = f"{recipe.path}: an index-only recipe cannot be built; use `cni-geo index TABLE --recipe ...`."
        raise RecipeError(msg)
    paths = output_paths(recipe, Path(out) if out is not None else None)
    if not overwrite:
        for p in paths.values():
            if p.exists():
                msg = f"{p} already exists; pass --overwrite (overwrite=True) to replace it."
                raise OutputExistsError(msg)
    from .engine import check_engine

    engine = check_engine(engine or recipe.engine)
    timer = _Timer()
    read = _Sources(recipe, engine=engine, scheduler=scheduler)
    units = timer.run("read units", read, recipe.units.source)
    pop = timer.run("population base", _population, recipe, units, read)

    columns: dict[str, pd.Series] = {}
    graphs: dict = {}
    bar = tqdm(
        recipe.indicators.values(),
        desc="indicators",
        unit="ind",
        disable=not progress,
        leave=False,
    )
    t0 = time.perf_counter()
    for spec in bar:
        bar.set_postfix_str(spec.key)
        columns.update(
            timer.run(f"indicator {spec.key}", _indicator, spec, units, pop, read, graphs)
        )
    log.info("indicators done in %.2f s", time.perf_counter() - t0)
    table = pd.DataFrame(columns, index=units.index)

    deprivation, dep_kind, dep_n = None, "score", None
    if recipe.left_behind is not None:
        lb = recipe.left_behind
        dep_table = read(lb.source)
        col = lb.score or lb.rank
        dep_kind = "score" if lb.score else "rank"
        deprivation = _column(dep_table, col, "left_behind", lb.source)
        dep_n = lb.n
    from .index import build_index, recipe_uncertainty

    population = pop.by_unit if pop is not None else None
    result = timer.run(
        "index",
        build_index,
        table[[i for i in recipe.indicators]],
        recipe.index,
        population=population,
        deprivation=deprivation,
        deprivation_kind=dep_kind,
        deprivation_n=dep_n,
    )
    areas = _areas_frame(recipe, units, population, table, result, read)
    unc = timer.run("uncertainty", recipe_uncertainty, table[list(recipe.indicators)], recipe.index)
    extra_prov = {"conventions": result.metadata(), "weights": _jsonable(result.weights)}
    if unc is not None:
        for col, values in unc.area_columns().items():
            areas[col] = values.reindex(areas.index)
        extra_prov["uncertainty"] = _jsonable(unc.metadata())

    used = read.used_paths()
    prov = provenance(recipe, used, extra_prov)
    extra = {}
    if recipe.outputs.population_layer and pop is not None:
        extra["population"] = pop.points[["population", "unit", "geometry"]].reset_index(drop=True)
    files = timer.run("outputs", _write_outputs, recipe, areas, read, paths, prov, overwrite, extra)
    report = {
        "provenance": prov,
        "stages": [s.__dict__ for s in timer.stages],
        "units": len(units),
        "indicators": list(recipe.indicators),
        "files": {k: p.name for k, p in files.items()},
        "diagnostics": _jsonable(getattr(result, "diagnostics", {})),
    }
    if "report" in paths:
        import json

        with atomic_output(paths["report"], overwrite=True) as tmp:
            text = json.dumps(report, indent=2, sort_keys=True, default=str)
            tmp.write_text(text + "\n", encoding="utf-8")
        files["report"] = paths["report"]
    return BuildResult(recipe, areas, result, files, timer.stages, prov)


def _jsonable(value):
    if isinstance(value, pd.DataFrame):
        return {str(k): _jsonable(v) for k, v in value.to_dict().items()}
    if isinstance(value, pd.Series):
        return {str(k): _jsonable(v) for k, v in value.to_dict().items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _areas_frame(recipe, units, population, table, result, read) -> gpd.GeoDataFrame:
    parts = []
    if recipe.units.names_source is not None:
        names = read(recipe.units.names_source)
        col = recipe.units.names_column
        if col not in names.columns:
            present = ", ".join(map(str, names.columns))
            msg = f"units.names.column: table {recipe.units.names_source!r} has no column {col!r}; columns present: {present}."
            raise ColumnError(msg)
        parts.append(names[col].reindex(units.index).astype("string").rename("name"))
    elif "name" in units.columns:
        parts.append(units["name"].astype("string"))
    if population is not None:
        parts.append(population)
    parts.append(table)
    scores = result.scores
    parts.append(scores)
    frame = pd.concat(parts, axis=1)
    areas = gpd.GeoDataFrame(frame, geometry=units.geometry, crs=units.crs)
    areas.index.name = units.index.name
    return areas


def labels(recipe: Recipe, areas: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Short aliases and one-sentence descriptions for every column of the areas frame."""
    aliases: dict[str, str] = {"name": "Area name", "population": "Residents"}
    desc: dict[str, str] = {
        "name": "Name of the area.",
        "population": "Usual residents in the population base.",
        "left_behind": "Left Behind: in the highest-need 10% on the index and the most deprived 10% on the deprivation table.",
    }
    aliases["left_behind"] = "Left Behind"
    for spec in recipe.indicators.values():
        aliases[spec.key] = spec.label
        need = (
            "higher values mean more need"
            if spec.direction == "high"
            else "lower values mean more need"
        )
        desc[spec.key] = f"{spec.description} ({need})."
        aliases[f"{spec.key}_coverage"] = f"{spec.label}: coverage"
        desc[f"{spec.key}_coverage"] = f"Share of the area backed by data for {spec.key}."
        aliases[f"{spec.key}_unreachable"] = f"{spec.label}: share unreachable"
        desc[f"{spec.key}_unreachable"] = (
            f"Share of residents with no asset in reach for {spec.key} (left out of its mean)."
        )
        aliases[f"{spec.key}_imputed"] = f"{spec.label}: imputed"
        desc[f"{spec.key}_imputed"] = f"True where {spec.key} had no data and was imputed."
    uncertain = {
        "_rank_median": (
            "median rank over the uncertainty runs",
            "Median rank over the Monte Carlo runs (weights, normalisation, dropped indicators).",
        ),
        "_rank_p05": (
            "rank, 5th percentile",
            "5th percentile of the rank over the Monte Carlo runs.",
        ),
        "_rank_p95": (
            "rank, 95th percentile",
            "95th percentile of the rank over the Monte Carlo runs.",
        ),
        "_p_decile1": (
            "probability of decile 1",
            "Share of the Monte Carlo runs in which the area is in decile 1.",
        ),
    }
    root = recipe.index_raw.get("root", "cni")
    for suffix, (short, sentence) in uncertain.items():
        aliases[f"{root}{suffix}"] = f"Index {short}"
        desc[f"{root}{suffix}"] = sentence
    for col in areas.columns:
        for suffix, text in (
            ("_score", "score"),
            ("_rank", "rank (1 = highest need)"),
            ("_decile", "decile (1 = highest need)"),
        ):
            if col.endswith(suffix) and col not in aliases:
                node = col[: -len(suffix)]
                node_raw = recipe.index_raw.get("nodes", {}).get(node) or {}
                if node_raw.get("label"):
                    title = node_raw["label"]
                elif node == recipe.index_raw.get("root"):
                    title = "Index"
                else:
                    title = node.replace("_", " ").title()
                aliases[col] = f"{title} {text}"
                desc[col] = f"{title} {text}."
    return aliases, desc


def _write_outputs(recipe, areas, read, paths, prov, overwrite, extra=None) -> dict[str, Path]:
    from .export import table as table_out

    root = recipe.index_raw.get("root", "cni")
    domains = list(recipe.index_raw.get("nodes", {}).get(root, {}).get("children", []))
    aliases, descriptions = labels(recipe, areas)
    assets, green = _asset_layers(recipe, read)
    files: dict[str, Path] = {}
    if "csv" in paths:
        flat = pd.DataFrame(areas.drop(columns="geometry"))
        table_out.write_table(paths["csv"], flat, provenance=prov, overwrite=overwrite)
        files["csv"] = paths["csv"]
    if "gpkg" in paths:
        from .export.gpkg import write_geopackage

        write_geopackage(
            paths["gpkg"],
            areas,
            root=root,
            domains=domains,
            assets=assets,
            green_space=green,
            extra_layers=extra or None,
            aliases=aliases,
            descriptions=descriptions,
            metadata=prov,
            title=recipe.title,
            overwrite=overwrite,
        )
        files["gpkg"] = paths["gpkg"]
    if "map" in paths:
        from .export.webmap import write_web_map

        write_web_map(
            paths["map"],
            areas,
            root=root,
            domains=domains,
            assets=assets,
            aliases=aliases,
            title=recipe.title,
            attribution=ATTRIBUTION,
            self_contained=recipe.outputs.self_contained,
            overwrite=overwrite,
        )
        files["map"] = paths["map"]
    if "embed" in paths:
        from .export.webmap import embed_snippet

        snippet = embed_snippet(paths["map"].name, title=recipe.title)
        with atomic_output(paths["embed"], overwrite=overwrite) as tmp:
            tmp.write_text(
                "<!-- Paste this where the map should appear; upload "
                f"{paths['map'].name} beside the page (see docs/webmap.md). -->\n{snippet}\n",
                encoding="utf-8",
            )
        files["embed"] = paths["embed"]
    if "png" in paths:
        from .export.static_map import write_static_map

        write_static_map(
            paths["png"],
            areas,
            root=root,
            title=recipe.title,
            attribution=ATTRIBUTION,
            overwrite=overwrite,
        )
        files["png"] = paths["png"]
    return files


def _asset_layers(recipe, read):
    """Point assets and polygon assets (green space) of the sources the recipe used."""
    points, polygons = [], []
    for name, spec in recipe.sources.items():
        if spec.kind not in ("assets", "osm") or name not in read._cache:
            continue
        frame = read(name)
        keep = [c for c in ("name", "category", "group") if c in frame.columns]
        frame = frame[[*keep, "geometry"]]
        # green space keeps its shape; every other asset is shown where it is (a point)
        is_point = frame.geometry.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
        green = ~is_point
        if "group" in frame.columns:
            green &= (frame["group"].astype("string") == "green_space").fillna(False).to_numpy()
        if green.any():
            polygons.append(frame.loc[green])
        if (~green).any():
            rest = frame.loc[~green]
            points.append(rest.set_geometry(rest.geometry.representative_point()))
    assets = pd.concat(points) if points else None
    green = pd.concat(polygons) if polygons else None
    if assets is not None:
        assets = gpd.GeoDataFrame(assets, geometry="geometry", crs=recipe.crs)
    if green is not None:
        green = gpd.GeoDataFrame(green, geometry="geometry", crs=recipe.crs)
    return assets, green


def describe_build(result: BuildResult) -> str:
    """A few lines for the terminal: where the outputs are and what the index found."""
    areas = result.areas
    recipe = result.recipe
    root = recipe.index_raw.get("root", "cni")
    lines = [
        f"Built {recipe.name}: {fmt_count(len(areas))} areas, {len(recipe.indicators)} indicators, CRS {crs_label(areas.crs)}."
    ]
    if "left_behind" in areas.columns:
        lines.append(
            f"Left Behind areas: {int(areas['left_behind'].fillna(False).astype(bool).sum())}."
        )
    if f"{root}_rank" in areas.columns:
        top = areas.sort_values(f"{root}_rank").head(1)
        name = top["name"].iloc[0] if "name" in top.columns else top.index[0]
        lines.append(f"Highest need: {name} ({top.index[0]}).")
    for kind, path in result.files.items():
        lines.append(f"  {kind:7s} {path}")
    return "\n".join(lines)
