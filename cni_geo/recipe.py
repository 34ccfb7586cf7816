"""Parse and validate a YAML recipe into plain typed objects.

The recipe is checked completely before any data is read: unknown keys, missing files, unknown
source names and bad values raise :class:`~cni_geo.errors.RecipeError` naming the key path
(``indicators.gp_distance.source``) and the valid choices. See docs/recipe.md for the schema.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import RecipeError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

SOURCE_KINDS = ("areas", "points", "assets", "table", "raster", "osm", "roads")
INDICATOR_KINDS = {
    "count": "assets (points or polygons) inside each unit or within `buffer` metres of it",
    "nearest_distance": "distance from where people live to the nearest asset",
    "share_within": "share of residents living within `distance` metres of an asset",
    "zonal": "a statistic of a raster over each unit (exact partial-cell coverage)",
    "area_share": "share of each unit's area covered by polygons (e.g. green space)",
    "gravity": "gravity (Hansen) access from where people live to supply within a cutoff",
    "two_step_fca": "two-step floating catchment (2SFCA / E2SFCA): supply per resident",
    "table": "a column of a table, reapportioned to the units when it is at another geography",
}
DIRECTIONS = ("high", "low")
PER_CHOICES = ("residents", "km2", "none")
REAPPORTION_METHODS = ("lookup", "area_weighted", "population_weighted", "aggregate")
AGGREGATE_HOW = ("weighted_mean", "mean", "sum")
ZONAL_STATS = ("sum", "mean", "weighted_mean", "share_above")
POINTS_HOW = ("point_on_surface", "centroid")
ENGINES = ("local", "dask")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


# --------------------------------------------------------------------------------------------
# Typed recipe objects


@dataclass(frozen=True)
class SourceSpec:
    name: str
    kind: str
    path: Path
    layer: str | None = None
    id: str | None = None
    label: str | None = None  # the name column
    crs: str | None = None
    x: str | None = None
    y: str | None = None
    category: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UnitsSpec:
    source: str
    names_source: str | None = None  # a table holding area names, keyed by the unit code
    names_column: str | None = None


@dataclass(frozen=True)
class PopulationSpec:
    source: str
    column: str
    points: str = "point_on_surface"
    table: str | None = None  # a table keyed by the source's codes holding `column`


@dataclass(frozen=True)
class IndicatorSpec:
    key: str
    kind: str
    source: str
    params: Mapping[str, Any]
    direction: str
    domain: str
    label: str
    description: str
    leaf: Mapping[str, Any]


@dataclass(frozen=True)
class LeftBehindSpec:
    source: str
    score: str | None = None
    rank: str | None = None
    n: int | None = None  # N of a national ranking when the table holds a subset of it


@dataclass(frozen=True)
class OutputsSpec:
    folder: Path
    gpkg: bool = True
    map: bool = True
    csv: bool = True
    self_contained: bool = True
    population_layer: bool = False


@dataclass(frozen=True)
class Recipe:
    path: Path | None
    name: str
    title: str
    description: str
    crs: str
    engine: str
    sources: Mapping[str, SourceSpec]
    units: UnitsSpec | None
    population: PopulationSpec | None
    indicators: Mapping[str, IndicatorSpec]
    index: Any  # cni_geo.index.IndexSpec
    index_raw: Mapping[str, Any]
    left_behind: LeftBehindSpec | None
    outputs: OutputsSpec | None
    raw: Mapping[str, Any]

    @property
    def folder(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()


# --------------------------------------------------------------------------------------------
# YAML loading with line numbers for syntax errors and duplicate keys


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, Any] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            msg = (
                f"line {mark.line + 1}, column {mark.column + 1}: duplicate key {key!r}; "
                "each key may appear once in a mapping."
            )
            raise RecipeError(msg)
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        msg = f"recipe {path} does not exist; check the path."
        raise RecipeError(msg) from exc
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read recipe {path}: {exc}"
        raise RecipeError(msg) from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = exc.problem or exc.context or "invalid YAML"
        msg = f"{path}: YAML syntax error at {where}: {problem}."
        raise RecipeError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{path}: YAML error: {exc}"
        raise RecipeError(msg) from None


# --------------------------------------------------------------------------------------------
# Small validation helpers: each names the key path


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _mapping(value, key: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        msg = (
            f"{key}: expected a mapping of keys to values, found {type(value).__name__} {value!r}."
        )
        raise RecipeError(msg)
    return dict(value)


def _show(name) -> str:
    """A user-supplied key as it appears in a key path: plain words bare, others repr()."""
    return (
        name
        if isinstance(name, str) and name.isprintable() and name.strip() == name and name
        else repr(name)
    )


def _check_keys(mapping: Mapping, allowed, key: str, *, required=()) -> None:
    for k in mapping:
        if k not in allowed:
            valid = ", ".join(sorted(allowed))
            shown = _show(k)
            msg = f"{key}.{shown}: unknown key{_suggest(k, allowed)}; valid keys: {valid}."
            raise RecipeError(msg)
    for k in required:
        if k not in mapping or mapping[k] is None:
            msg = f"{key}.{k}: required key is missing."
            raise RecipeError(msg)


def _choice(value, choices, key: str) -> str:
    if value not in choices:
        msg = (
            f"{key}: unknown value {value!r}{_suggest(value, choices)}; "
            f"valid: {', '.join(map(str, choices))}."
        )
        raise RecipeError(msg)
    return value


def _string(value, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"{key}: expected a non-empty text value, found {value!r}."
        raise RecipeError(msg)
    return value


def _number(value, key: str, *, minimum: float | None = None, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{key}: expected a number, found {value!r}."
        raise RecipeError(msg)
    if integer and int(value) != value:
        msg = f"{key}: expected a whole number, found {value!r}."
        raise RecipeError(msg)
    if minimum is not None and value < minimum:
        msg = f"{key}: must be >= {minimum}, found {value!r}."
        raise RecipeError(msg)
    return value


def _bool(value, key: str) -> bool:
    if not isinstance(value, bool):
        msg = f"{key}: expected true or false, found {value!r}."
        raise RecipeError(msg)
    return value


def expand_env(text: str, key: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def repl(match: re.Match) -> str:
        var, default = match.group(1), match.group(2)
        value = os.environ.get(var)
        if value is None or value == "":
            if default is None:
                msg = (
                    f"{key}: environment variable {var} is not set and has no default; "
                    f"set it or write ${{{var}:-default}}."
                )
                raise RecipeError(msg)
            return default
        return value

    return _ENV_RE.sub(repl, text)


def _resolve_path(value, key: str, folder: Path) -> Path:
    text = expand_env(_string(value, key), key)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = folder / path
    return Path(os.path.normpath(path))


# --------------------------------------------------------------------------------------------
# Sections

_SOURCE_KEYS = {"kind", "path", "layer", "id", "name", "crs", "x", "y", "category", "nodata"}
_PARAMS_BY_KIND = {
    "count": {"filter", "buffer", "per", "weight"},
    "nearest_distance": {
        "filter",
        "from",
        "aggregate",
        "q",
        "k",
        "max_distance",
        "network",
        "profile",
    },
    "gravity": {"filter", "supply", "cutoff", "decay", "param", "aggregate", "q"},
    "two_step_fca": {"filter", "supply", "cutoff", "decay", "param", "aggregate", "q"},
    "share_within": {"filter", "distance"},
    "zonal": {"stat", "per", "weights", "threshold"},
    "area_share": {"filter"},
    "table": {"column", "via", "method", "how", "lookup", "nan"},
}
_LEAF_KEYS = {"normalise", "weight", "treatment", "impute"}
_INDICATOR_COMMON = {"kind", "source", "direction", "domain", "label", "description"}
_SOURCE_KIND_FOR = {
    "count": ("assets", "points", "osm"),
    "nearest_distance": ("assets", "points", "osm"),
    "share_within": ("assets", "points", "osm"),
    "zonal": ("raster",),
    "area_share": ("assets", "osm"),
    "table": ("table",),
    "gravity": ("assets", "points", "osm"),
    "two_step_fca": ("assets", "points", "osm"),
}
DECAY_CHOICES = ("power", "exponential", "gaussian", "linear", "step")
AGGREGATE_FROM_POINTS = ("mean", "median", "percentile")


def _parse_sources(raw, folder: Path, *, check_files: bool) -> dict[str, SourceSpec]:
    sources_raw = _mapping(raw, "sources")
    sources: dict[str, SourceSpec] = {}
    for name, spec in sources_raw.items():
        key = f"sources.{_show(name)}"
        if not isinstance(name, str) or not _ID_RE.match(name):
            msg = f"{key}: source names are letters, digits and underscores, found {name!r}."
            raise RecipeError(msg)
        spec = _mapping(spec, key)
        _check_keys(spec, _SOURCE_KEYS, key, required=("kind", "path"))
        kind = _choice(spec["kind"], SOURCE_KINDS, f"{key}.kind")
        path = _resolve_path(spec["path"], f"{key}.path", folder)
        if check_files and not path.exists():
            msg = (
                f"{key}.path: file {path} does not exist; fix the path (relative paths resolve "
                f"against the recipe's folder {folder}) or set the environment variable it uses."
            )
            raise RecipeError(msg)
        if kind in ("areas",) and not spec.get("id"):
            msg = f"{key}.id: required for a source of kind areas (the column holding area codes)."
            raise RecipeError(msg)
        if kind == "table" and not spec.get("id"):
            msg = f"{key}.id: required for a table (the column holding the codes to join on)."
            raise RecipeError(msg)
        for opt in ("layer", "id", "name", "crs", "x", "y", "category"):
            if opt in spec and spec[opt] is not None:
                _string(spec[opt], f"{key}.{opt}")
        if ("x" in spec) != ("y" in spec):
            msg = f"{key}: give both x and y columns, or neither."
            raise RecipeError(msg)
        sources[name] = SourceSpec(
            name=name,
            kind=kind,
            path=path,
            layer=spec.get("layer"),
            id=spec.get("id"),
            label=spec.get("name"),
            crs=spec.get("crs"),
            x=spec.get("x"),
            y=spec.get("y"),
            category=spec.get("category"),
            options={k: v for k, v in spec.items() if k == "nodata"},
        )
    return sources


def _source_ref(value, key: str, sources: Mapping[str, SourceSpec], kinds) -> str:
    name = _string(value, key)
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none defined"
        msg = f"{key}: unknown source {name!r}{_suggest(name, sources)}; known: {known}."
        raise RecipeError(msg)
    if sources[name].kind not in kinds:
        msg = (
            f"{key}: source {name!r} is of kind {sources[name].kind}; "
            f"this needs a source of kind {' or '.join(kinds)}."
        )
        raise RecipeError(msg)
    return name


def _parse_filter(value, key: str) -> dict[str, list]:
    flt = _mapping(value, key)
    out = {}
    for col, vals in flt.items():
        vals = vals if isinstance(vals, list) else [vals]
        if not vals:
            msg = f"{key}.{_show(col)}: give at least one value to keep."
            raise RecipeError(msg)
        out[str(col)] = [str(v) for v in vals]
    return out


def _point_aggregate(spec, key: str) -> dict:
    """How values at population points combine into a unit: mean, median or a percentile."""
    how = _choice(spec.get("aggregate", "mean"), AGGREGATE_FROM_POINTS, f"{key}.aggregate")
    out: dict[str, Any] = {"aggregate": how}
    if how == "percentile":
        out["q"] = _number(spec.get("q"), f"{key}.q", minimum=0)
        if out["q"] > 100:
            msg = f"{key}.q: a percentile between 0 and 100, found {out['q']!r}."
            raise RecipeError(msg)
    elif "q" in spec:
        msg = f"{key}.q: only used with `aggregate: percentile`."
        raise RecipeError(msg)
    return out


def _parse_indicator(key_name: str, spec, sources) -> IndicatorSpec:
    key = f"indicators.{_show(key_name)}"
    if not isinstance(key_name, str) or not _ID_RE.match(key_name):
        msg = f"{key}: indicator names are letters, digits and underscores (they become column names)."
        raise RecipeError(msg)
    spec = _mapping(spec, key)
    if "kind" not in spec:
        msg = f"{key}.kind: required; valid kinds: {', '.join(INDICATOR_KINDS)}."
        raise RecipeError(msg)
    kind = _choice(spec["kind"], tuple(INDICATOR_KINDS), f"{key}.kind")
    allowed = _INDICATOR_COMMON | _LEAF_KEYS | _PARAMS_BY_KIND[kind]
    _check_keys(spec, allowed, key, required=("source", "direction", "domain"))
    source = _source_ref(spec["source"], f"{key}.source", sources, _SOURCE_KIND_FOR[kind])
    direction = _choice(spec["direction"], DIRECTIONS, f"{key}.direction")
    domain = _string(spec["domain"], f"{key}.domain")
    params: dict[str, Any] = {}
    if "filter" in spec:
        params["filter"] = _parse_filter(spec["filter"], f"{key}.filter")
    if kind == "count":
        params["buffer"] = _number(spec.get("buffer", 0.0), f"{key}.buffer", minimum=0.0)
        params["per"] = _choice(spec.get("per", "residents"), PER_CHOICES, f"{key}.per")
        if "weight" in spec:
            params["weight"] = _string(spec["weight"], f"{key}.weight")
    elif kind == "nearest_distance":
        params["from"] = _choice(
            spec.get("from", "population"), ("population", "centroid"), f"{key}.from"
        )
        params.update(_point_aggregate(spec, key))
        params["k"] = int(_number(spec.get("k", 1), f"{key}.k", minimum=1, integer=True))
        if "max_distance" in spec:
            params["max_distance"] = _number(spec["max_distance"], f"{key}.max_distance", minimum=0)
        if "network" in spec:
            params["network"] = _source_ref(
                spec["network"], f"{key}.network", sources, ("roads", "osm")
            )
            params["profile"] = _choice(
                spec.get("profile", "walk"), ("walk", "drive"), f"{key}.profile"
            )
    elif kind in ("gravity", "two_step_fca"):
        if "supply" in spec:
            params["supply"] = _string(spec["supply"], f"{key}.supply")
        params["cutoff"] = _number(spec.get("cutoff"), f"{key}.cutoff", minimum=0)
        if params["cutoff"] <= 0:
            msg = f"{key}.cutoff: must be > 0 (metres), found {params['cutoff']!r}."
            raise RecipeError(msg)
        default = "step" if kind == "two_step_fca" else "power"
        params["decay"] = _choice(spec.get("decay", default), DECAY_CHOICES, f"{key}.decay")
        if "param" in spec:
            param = spec["param"]
            if isinstance(param, list):
                for n, zone in enumerate(param):
                    if not (isinstance(zone, list) and len(zone) == 2):
                        msg = f"{key}.param[{n}]: step zones are [upper_bound, weight] pairs, found {zone!r}."
                        raise RecipeError(msg)
                    _number(zone[0], f"{key}.param[{n}][0]", minimum=0)
                    _number(zone[1], f"{key}.param[{n}][1]", minimum=0)
                params["param"] = [tuple(z) for z in param]
            else:
                params["param"] = _number(param, f"{key}.param")
        params.update(_point_aggregate(spec, key))
    elif kind == "share_within":
        params["distance"] = _number(spec.get("distance"), f"{key}.distance", minimum=0)
    elif kind == "zonal":
        params["stat"] = _choice(spec.get("stat", "mean"), ZONAL_STATS, f"{key}.stat")
        params["per"] = _choice(spec.get("per", "none"), PER_CHOICES, f"{key}.per")
        if params["stat"] == "weighted_mean":
            params["weights"] = _source_ref(
                spec.get("weights"), f"{key}.weights", sources, ("raster",)
            )
        if params["stat"] == "share_above":
            params["threshold"] = _number(spec.get("threshold"), f"{key}.threshold")
    elif kind == "table":
        params["column"] = _string(spec.get("column"), f"{key}.column")
        method = _choice(spec.get("method", "lookup"), REAPPORTION_METHODS, f"{key}.method")
        params["method"] = method
        if method != "lookup":
            params["via"] = _source_ref(spec.get("via"), f"{key}.via", sources, ("areas",))
        if method == "aggregate":
            params["lookup"] = _string(spec.get("lookup"), f"{key}.lookup")
            params["how"] = _choice(spec.get("how", "weighted_mean"), AGGREGATE_HOW, f"{key}.how")
        if method == "area_weighted":
            params["how"] = _choice(spec.get("how", "mean"), ("mean", "sum"), f"{key}.how")
        if method == "population_weighted":
            params["how"] = _choice(spec.get("how", "mean"), ("mean", "sum"), f"{key}.how")
        if method != "lookup":
            params["nan"] = _choice(spec.get("nan", "skip"), ("skip", "propagate"), f"{key}.nan")
    leaf = {k: spec[k] for k in _LEAF_KEYS if k in spec}
    leaf.update(column=key_name, direction=direction, parent=domain)
    label = spec.get("label") or key_name.replace("_", " ")
    return IndicatorSpec(
        key=key_name,
        kind=kind,
        source=source,
        params=params,
        direction=direction,
        domain=domain,
        label=_string(label, f"{key}.label"),
        description=str(spec.get("description", label)),
        leaf=leaf,
    )


def _parse_index(raw_index, leaves: dict[str, dict] | None):
    from .index import parse_index_spec

    return parse_index_spec(_mapping(raw_index, "index"), key="index", leaves=leaves)


_TOP_KEYS = {
    "schema",
    "name",
    "title",
    "description",
    "crs",
    "engine",
    "sources",
    "units",
    "population",
    "indicators",
    "index",
    "left_behind",
    "outputs",
}


def parse_recipe(
    raw: Any, *, path: Path | None = None, check_files: bool = True, require_build: bool = True
) -> Recipe:
    """Validate a recipe mapping (already loaded from YAML) into a :class:`Recipe`.

    ``require_build=False`` accepts index-only recipes (``schema``, ``name``, ``index``) as used
    by ``cni-geo index``.
    """
    where = str(path) if path else "recipe"
    if not isinstance(raw, Mapping):
        msg = f"{where}: a recipe is a YAML mapping with keys such as schema, name, sources; found {type(raw).__name__}."
        raise RecipeError(msg)
    raw = dict(raw)
    _check_keys(raw, _TOP_KEYS, "recipe", required=("schema", "name", "index"))
    schema = raw["schema"]
    if schema != SCHEMA_VERSION:
        msg = f"schema: this cni-geo reads recipe schema {SCHEMA_VERSION}, found {schema!r}; set `schema: {SCHEMA_VERSION}`."
        raise RecipeError(msg)
    name = _string(raw["name"], "name")
    if not _NAME_RE.match(name):
        msg = f"name: {name!r} becomes file names; use letters, digits, '_', '-' or '.'."
        raise RecipeError(msg)
    folder = path.parent if path is not None else Path.cwd()
    crs = _string(raw.get("crs", "EPSG:27700"), "crs")
    _check_crs(crs, "crs")
    engine = _choice(raw.get("engine", "local"), ENGINES, "engine")
    sources = _parse_sources(raw.get("sources"), folder, check_files=check_files)
    for s in sources.values():
        if s.crs:
            _check_crs(s.crs, f"sources.{s.name}.crs")

    units = population = outputs = left_behind = None
    indicators: dict[str, IndicatorSpec] = {}
    is_build = any(k in raw for k in ("sources", "units", "indicators"))
    if require_build or is_build:
        _check_keys(raw, _TOP_KEYS, "recipe", required=("sources", "units", "indicators"))
        units_raw = _mapping(raw["units"], "units")
        _check_keys(units_raw, {"source", "names"}, "units", required=("source",))
        names_source = names_column = None
        if "names" in units_raw:
            names = _mapping(units_raw["names"], "units.names")
            _check_keys(names, {"source", "column"}, "units.names", required=("source", "column"))
            names_source = _source_ref(names["source"], "units.names.source", sources, ("table",))
            names_column = _string(names["column"], "units.names.column")
        units = UnitsSpec(
            source=_source_ref(units_raw["source"], "units.source", sources, ("areas",)),
            names_source=names_source,
            names_column=names_column,
        )
        if "population" in raw:
            pop = _mapping(raw["population"], "population")
            _check_keys(
                pop,
                {"source", "column", "points", "table"},
                "population",
                required=("source", "column"),
            )
            population = PopulationSpec(
                source=_source_ref(
                    pop["source"], "population.source", sources, ("areas", "points")
                ),
                column=_string(pop["column"], "population.column"),
                points=_choice(
                    pop.get("points", "point_on_surface"), POINTS_HOW, "population.points"
                ),
                table=(
                    _source_ref(pop["table"], "population.table", sources, ("table",))
                    if "table" in pop
                    else None
                ),
            )
        ind_raw = _mapping(raw["indicators"], "indicators")
        if not ind_raw:
            msg = "indicators: the recipe defines no indicators; add at least one."
            raise RecipeError(msg)
        for key_name, spec in ind_raw.items():
            indicators[key_name] = _parse_indicator(key_name, spec, sources)
        needs_pop = [
            i.key
            for i in indicators.values()
            if (i.kind == "count" and i.params["per"] == "residents")
            or (i.kind == "nearest_distance" and i.params["from"] == "population")
            or i.kind in ("share_within", "gravity", "two_step_fca")
            or (i.kind == "zonal" and i.params["per"] == "residents")
        ]
        if needs_pop and population is None:
            msg = f"population: required by indicators {', '.join(needs_pop)}; add a population section."
            raise RecipeError(msg)
        outputs = _parse_outputs(raw.get("outputs"), folder, name)
        if "left_behind" in raw:
            lb = _mapping(raw["left_behind"], "left_behind")
            _check_keys(lb, {"source", "score", "rank", "n"}, "left_behind", required=("source",))
            if ("score" in lb) == ("rank" in lb):
                msg = "left_behind: give exactly one of `score` (higher = more deprived) or `rank` (1 = most deprived)."
                raise RecipeError(msg)
            left_behind = LeftBehindSpec(
                source=_source_ref(lb["source"], "left_behind.source", sources, ("table",)),
                score=lb.get("score"),
                rank=lb.get("rank"),
                n=(
                    int(_number(lb["n"], "left_behind.n", minimum=1, integer=True))
                    if "n" in lb
                    else None
                ),
            )
            if left_behind.n is not None and left_behind.rank is None:
                msg = "left_behind.n: only meaningful with `rank` (the N of a national ranking)."
                raise RecipeError(msg)
    leaves = {k: dict(i.leaf) for k, i in indicators.items()} or None
    index_spec = _parse_index(raw["index"], leaves)
    return Recipe(
        path=path,
        name=name,
        title=str(raw.get("title", name)),
        description=str(raw.get("description", "")),
        crs=crs,
        engine=engine,
        sources=sources,
        units=units,
        population=population,
        indicators=indicators,
        index=index_spec,
        index_raw=_mapping(raw["index"], "index"),
        left_behind=left_behind,
        outputs=outputs,
        raw=raw,
    )


def _parse_outputs(raw, folder: Path, name: str) -> OutputsSpec:
    out = _mapping(raw, "outputs")
    _check_keys(
        out, {"folder", "gpkg", "map", "csv", "self_contained", "population_layer"}, "outputs"
    )
    target = _resolve_path(out.get("folder", f"out/{name}"), "outputs.folder", folder)
    return OutputsSpec(
        folder=target,
        gpkg=_bool(out.get("gpkg", True), "outputs.gpkg"),
        map=_bool(out.get("map", True), "outputs.map"),
        csv=_bool(out.get("csv", True), "outputs.csv"),
        self_contained=_bool(out.get("self_contained", True), "outputs.self_contained"),
        population_layer=_bool(out.get("population_layer", False), "outputs.population_layer"),
    )


def _check_crs(text: str, key: str) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjCRSError

    try:
        crs = CRS.from_user_input(text)
    except ProjCRSError as exc:
        msg = f"{key}: {text!r} is not a CRS PROJ knows ({exc}); write it as EPSG:27700 or similar."
        raise RecipeError(msg) from None
    if key == "crs" and not crs.is_projected:
        msg = f"crs: the working CRS must be projected in metres, found {text} ({crs.name}); e.g. EPSG:27700."
        raise RecipeError(msg)


def load_recipe(path, *, check_files: bool = True, require_build: bool = True) -> Recipe:
    """Load and validate a recipe file.

    Relative paths resolve against the recipe's folder; ``${VAR}`` / ``${VAR:-default}`` in
    paths are expanded from the environment.
    """
    path = Path(path)
    raw = _read_yaml(path)
    return parse_recipe(
        raw, path=path.resolve(), check_files=check_files, require_build=require_build
    )
