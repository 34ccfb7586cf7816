"""The index tree as plain typed objects, and its parser/validator.

A recipe's ``index:`` section is a flat map of nodes (domains, sub-domains, the root) and
leaves (indicator columns). Keeping it flat makes unknown names, cycles and orphans easy to
detect and to report with the exact key path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import IndexSpecError

Direction = Literal["high", "low"]
Normalise = Literal["rankit", "rank_normal", "zscore", "minmax", "rank", "none"]
Combine = Literal["sum", "mean"]
Transform = Literal["exp", "rank", "none"]
Impute = Literal["none", "mean", "median"]
DecileKind = Literal["rank", "population"]

DIRECTIONS = ("high", "low")
NORMALISATIONS = ("rankit", "rank_normal", "zscore", "minmax", "rank", "none")
COMBINES = ("sum", "mean")
TRANSFORMS = ("exp", "rank", "none")
IMPUTES = ("none", "mean", "median")
DECILES = ("rank", "population")
WEIGHT_METHODS = ("equal", "factor", "pca")
TREATMENTS = ("log", "winsorise", "shrink")

_INDEX_KEYS = (
    "id",
    "root",
    "deciles",
    "population",
    "normalise",
    "nodes",
    "leaves",
    "uncertainty",
)
_NODE_KEYS = ("children", "combine", "weights", "transform", "normalise", "weight", "label")
_LEAF_KEYS = (
    "column",
    "direction",
    "normalise",
    "treatment",
    "impute",
    "weight",
    "parent",
    "label",
)
_UNCERTAINTY_KEYS = ("runs", "seed", "concentration", "normalisations", "drop")


@dataclass(frozen=True)
class Treatment:
    """One treatment of a leaf's raw values, applied before orientation and normalisation.

    ``kind`` is ``log`` (``offset``), ``winsorise`` (``lower``/``upper`` quantiles) or
    ``shrink`` (``count``, ``denominator``, ``parent`` column names, ``model``).
    """

    kind: Literal["log", "winsorise", "shrink"]
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Leaf:
    """An indicator: a table column oriented, treated and normalised."""

    name: str
    column: str | None
    parent: str
    direction: Direction = "high"
    normalise: Normalise = "rankit"
    treatments: tuple[Treatment, ...] = ()
    impute: Impute = "none"
    weight: float | None = None
    label: str | None = None


@dataclass(frozen=True)
class Node:
    """A domain, sub-domain or the root: a weighted combination of its children."""

    name: str
    children: tuple[str, ...]
    combine: Combine = "sum"
    weights: str | dict[str, float] | None = None
    transform: Transform = "none"
    normalise: Normalise | None = None
    weight: float | None = None
    label: str | None = None


@dataclass(frozen=True)
class UncertaintySpec:
    """Monte Carlo settings from the recipe (``index.uncertainty``)."""

    runs: int = 0
    seed: int = 0
    concentration: float = 50.0
    normalisations: tuple[str, ...] = ("rankit", "rank_normal", "zscore")
    drop: bool = True


@dataclass(frozen=True)
class IndexSpec:
    """A validated index tree.

    ``nodes`` and ``leaves`` are keyed by name; ``order`` lists the non-leaf nodes in tree
    order (root first, depth first, children in their listed order).
    """

    root: str
    nodes: dict[str, Node]
    leaves: dict[str, Leaf]
    id: str | None = None
    deciles: DecileKind = "rank"
    population: str | None = None
    uncertainty: UncertaintySpec = field(default_factory=UncertaintySpec)

    @property
    def order(self) -> list[str]:
        out: list[str] = []

        def visit(name: str) -> None:
            out.append(name)
            for child in self.nodes[name].children:
                if child in self.nodes:
                    visit(child)

        visit(self.root)
        return out

    @property
    def leaf_order(self) -> list[str]:
        """Leaves in tree order."""
        out: list[str] = []
        for name in self.order:
            out.extend(c for c in self.nodes[name].children if c in self.leaves)
        return out

    @property
    def domains(self) -> list[str]:
        """The root's children that are nodes."""
        return [c for c in self.nodes[self.root].children if c in self.nodes]

    def columns(self) -> list[str]:
        """Every table column the tree reads (leaf columns and shrinkage inputs)."""
        cols: list[str] = []
        for leaf in self.leaves.values():
            if leaf.column is not None:
                cols.append(leaf.column)
            for t in leaf.treatments:
                if t.kind == "shrink":
                    cols += [t.params["count"], t.params["denominator"], t.params["parent"]]
        seen: dict[str, None] = {}
        for c in cols:
            seen.setdefault(c, None)
        return list(seen)

    def child_weights(self, node: str) -> dict[str, float] | None:
        """The given weights of ``node``'s children, or None when they are derived."""
        n = self.nodes[node]
        if n.weights in ("factor", "pca"):
            return None
        if isinstance(n.weights, dict):
            return {c: float(n.weights[c]) for c in n.children}
        out = {}
        for c in n.children:
            if n.weights == "equal":
                out[c] = 1.0
            else:
                item = self.leaves.get(c) or self.nodes.get(c)
                w = item.weight if item is not None else None
                out[c] = 1.0 if w is None else float(w)
        return out


def _fail(path: str, message: str) -> None:
    if not path.isprintable():  # a key with a line break or control character
        path = repr(path)
    raise IndexSpecError(f"{path}: {message}")


def _choice(value: Any, choices: tuple[str, ...], path: str) -> str:
    if not isinstance(value, str) or value not in choices:
        _fail(path, f"unknown value {value!r}; valid: {', '.join(choices)}")
    return value


def _check_keys(mapping: Any, valid: tuple[str, ...], path: str) -> dict:
    if not isinstance(mapping, dict):
        _fail(path, f"expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in valid:
            _fail(f"{path}.{key}", f"unknown key; valid keys: {', '.join(valid)}")
    return mapping


def _number(value: Any, path: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(path, f"expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        _fail(path, f"weights must be >= {minimum:g}, got {value!r}")
    return float(value)


def _parse_treatments(value: Any, path: str) -> tuple[Treatment, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        p = f"{path}[{i}]" if isinstance(value, list) else path
        if isinstance(item, str):
            kind, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            kind, params = next(iter(item.items()))
            params = {} if params is None else params
        else:
            _fail(p, f"expected one of {', '.join(TREATMENTS)} or a one-key mapping")
        kind = _choice(kind, TREATMENTS, p)
        p = f"{p}.{kind}"
        if not isinstance(params, dict):
            _fail(p, "expected a mapping of parameters")
        if kind == "log":
            _check_keys(params, ("offset",), p)
            params = {"offset": _number(params.get("offset", 0.0), f"{p}.offset")}
        elif kind == "winsorise":
            _check_keys(params, ("lower", "upper"), p)
            lo = _number(params.get("lower", 0.0), f"{p}.lower")
            hi = _number(params.get("upper", 1.0), f"{p}.upper")
            if not 0 <= lo < hi <= 1:
                _fail(p, f"need 0 <= lower < upper <= 1 (quantiles), got {lo:g}, {hi:g}")
            params = {"lower": lo, "upper": hi}
        else:
            _check_keys(params, ("count", "denominator", "parent", "model"), p)
            for key in ("count", "denominator", "parent"):
                if not isinstance(params.get(key), str):
                    _fail(f"{p}.{key}", "required: the name of a table column")
            model = _choice(params.get("model", "binomial"), ("binomial", "poisson"), f"{p}.model")
            params = {**params, "model": model}
        out.append(Treatment(kind, dict(params)))
    return tuple(out)


def _parse_leaf(name: str, raw: Any, path: str, default_norm: str, parent: str | None) -> Leaf:
    raw = _check_keys(raw if raw is not None else {}, _LEAF_KEYS, path)
    treatments = _parse_treatments(raw.get("treatment"), f"{path}.treatment")
    column = raw.get("column", name)
    if column is not None and not isinstance(column, str):
        _fail(f"{path}.column", f"expected a column name, got {column!r}")
    weight = raw.get("weight")
    if weight is not None:
        weight = _number(weight, f"{path}.weight", minimum=0)
    return Leaf(
        name=name,
        column=column,
        parent=parent or raw.get("parent") or "",
        direction=_choice(raw.get("direction", "high"), DIRECTIONS, f"{path}.direction"),
        normalise=_choice(raw.get("normalise", default_norm), NORMALISATIONS, f"{path}.normalise"),
        treatments=treatments,
        impute=_choice(raw.get("impute", "none"), IMPUTES, f"{path}.impute"),
        weight=weight,
        label=raw.get("label"),
    )


def _parse_uncertainty(raw: Any, path: str) -> UncertaintySpec:
    if raw is None:
        return UncertaintySpec()
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"runs": raw}
    raw = _check_keys(raw, _UNCERTAINTY_KEYS, path)
    runs = raw.get("runs", 0)
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 0:
        _fail(f"{path}.runs", f"expected a whole number >= 0, got {runs!r}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        _fail(f"{path}.seed", f"expected a whole number, got {seed!r}")
    conc = _number(raw.get("concentration", 50.0), f"{path}.concentration")
    if conc <= 0:
        _fail(f"{path}.concentration", f"must be > 0, got {conc:g}")
    norms = raw.get("normalisations", list(UncertaintySpec().normalisations))
    if not isinstance(norms, list) or not norms:
        _fail(f"{path}.normalisations", "expected a non-empty list")
    norms = tuple(
        _choice(v, NORMALISATIONS, f"{path}.normalisations[{i}]") for i, v in enumerate(norms)
    )
    drop = raw.get("drop", True)
    if not isinstance(drop, bool):
        _fail(f"{path}.drop", f"expected true or false, got {drop!r}")
    return UncertaintySpec(runs, seed, conc, norms, drop)


def parse_index_spec(
    mapping: dict,
    *,
    key: str = "index",
    leaves: dict[str, dict] | None = None,
    leaves_key: str = "indicators",
) -> IndexSpec:
    """Validate a recipe's index section and return an :class:`IndexSpec`.

    Parameters
    ----------
    mapping
        The whole recipe mapping (its ``key`` entry is read), or the index section itself when
        it has no ``key`` entry but has ``nodes``.
    key
        The recipe key holding the index section; also the prefix of error key paths.
    leaves
        Extra leaves (build recipes: one per indicator), each a dict with the fields of a
        ``leaves:`` entry plus ``parent``, the node it feeds. The parent's ``children`` may
        omit it.
    leaves_key
        The recipe key the extra leaves came from, for error paths
        (``indicators.gp.domain``).

    Raises
    ------
    IndexSpecError
        Naming the key path: unknown keys or values (listing the valid ones), unknown or
        orphan nodes, cycles, a child under two parents, negative weights or weights summing
        to zero.
    """
    if not isinstance(mapping, dict):
        _fail(key, "expected a mapping")
    section = mapping.get(key, mapping if "nodes" in mapping else None)
    if section is None:
        _fail(key, "missing: the recipe needs an index section with root and nodes")
    section = _check_keys(section, _INDEX_KEYS, key)

    default_norm = _choice(section.get("normalise", "rankit"), NORMALISATIONS, f"{key}.normalise")
    deciles = _choice(section.get("deciles", "rank"), DECILES, f"{key}.deciles")
    id_col = section.get("id")
    if id_col is not None and not isinstance(id_col, str):
        _fail(f"{key}.id", f"expected a column name, got {id_col!r}")
    population = section.get("population")
    if population is not None and not isinstance(population, str):
        _fail(f"{key}.population", f"expected a column name, got {population!r}")
    if deciles == "population" and population is None and id_col is not None:
        # index-only recipes must say where the population is; build recipes pass it.
        _fail(f"{key}.population", "deciles: population needs the population column name")

    raw_nodes = section.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        _fail(f"{key}.nodes", "required: a mapping of node name -> {children: [...], ...}")
    root = section.get("root")
    if not isinstance(root, str):
        _fail(f"{key}.root", "required: the name of the top node (e.g. cni)")
    if root not in raw_nodes:
        _fail(f"{key}.root", f"unknown node {root!r}; nodes: {', '.join(raw_nodes)}")

    # Parse nodes (children validated after leaves are known).
    children: dict[str, list[str]] = {}
    node_raw: dict[str, dict] = {}
    for name, raw in raw_nodes.items():
        path = f"{key}.nodes.{name}"
        raw = _check_keys(raw if raw is not None else {}, _NODE_KEYS, path)
        kids = raw.get("children", [])
        if not isinstance(kids, list) or not all(isinstance(k, str) for k in kids):
            _fail(f"{path}.children", "expected a list of node or leaf names")
        if len(set(kids)) != len(kids):
            dup = sorted({k for k in kids if kids.count(k) > 1})
            _fail(f"{path}.children", f"listed twice: {', '.join(dup)}")
        children[name] = list(kids)
        node_raw[name] = raw

    # Leaves from the section, then passed-in leaves.
    leaf_objs: dict[str, Leaf] = {}
    raw_leaves = section.get("leaves") or {}
    if not isinstance(raw_leaves, dict):
        _fail(f"{key}.leaves", "expected a mapping of leaf name -> {column: ..., ...}")
    node_norm = {n: r.get("normalise") for n, r in node_raw.items()}
    parent_of_listed = {c: n for n, kids in children.items() for c in kids}
    for name, raw in raw_leaves.items():
        path = f"{key}.leaves.{name}"
        if name in raw_nodes:
            _fail(path, f"{name!r} is both a node and a leaf; rename one")
        parent = (raw or {}).get("parent") or parent_of_listed.get(name)
        norm = (node_norm.get(parent) if parent else None) or default_norm
        leaf_objs[name] = _parse_leaf(name, raw, path, norm, parent)
    for name, raw in (leaves or {}).items():
        path = f"{leaves_key}.{name}"
        if name in raw_nodes or name in leaf_objs:
            _fail(path, f"{name!r} is already a node or leaf of {key}; rename the indicator")
        raw = dict(raw or {})
        parent = raw.get("parent")
        if not isinstance(parent, str):
            _fail(f"{path}.domain", f"required: the node it feeds; nodes: {', '.join(raw_nodes)}")
        if parent not in raw_nodes:
            _fail(f"{path}.domain", f"unknown node {parent!r}; nodes: {', '.join(raw_nodes)}")
        norm = node_norm.get(parent) or default_norm
        leaf_objs[name] = _parse_leaf(name, raw, path, norm, parent)
        if name not in children[parent]:
            children[parent].append(name)

    # Leaves with an explicit parent not listed in that parent's children.
    for name, leaf in list(leaf_objs.items()):
        if leaf.parent and leaf.parent not in children:
            _fail(
                f"{key}.leaves.{name}.parent",
                f"unknown node {leaf.parent!r}; nodes: {', '.join(raw_nodes)}",
            )
        if leaf.parent and name not in children[leaf.parent]:
            children[leaf.parent].append(name)

    # Cycles first (they also make nodes unreachable), then unknown names and orphans.
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for k in children[name]:
            if k not in raw_nodes:
                continue
            if state.get(k) == 1:
                cycle = " -> ".join(stack[stack.index(k) :] + [k])
                _fail(f"{key}.nodes.{name}.children", f"cycle in the index tree: {cycle}")
            if k not in state:
                walk(k)
        stack.pop()
        state[name] = 2

    for name in raw_nodes:
        if name not in state:
            walk(name)

    # Children must exist; each item has one parent.
    known = list(raw_nodes) + list(leaf_objs)
    parent_of: dict[str, str] = {}
    for name, kids in children.items():
        path = f"{key}.nodes.{name}.children"
        if not kids:
            _fail(path, "a node needs at least one child (a node or a leaf)")
        for k in kids:
            if k not in raw_nodes and k not in leaf_objs:
                _fail(path, f"unknown node or leaf {k!r}; known: {', '.join(known)}")
            if k == root:
                _fail(path, f"the root {root!r} cannot be a child (cycle)")
            if k in parent_of and parent_of[k] != name:
                _fail(path, f"{k!r} is already a child of {parent_of[k]!r}; a node has one parent")
            parent_of[k] = name
    # Leaves whose parent differs from the listing parent.
    for name, leaf in leaf_objs.items():
        listed = parent_of.get(name)
        if listed is None:
            _fail(
                f"{key}.leaves.{name}",
                "orphan leaf: no node lists it as a child; add it to a node's children or set parent",
            )
        if leaf.parent != listed:
            leaf_objs[name] = Leaf(**{**leaf.__dict__, "parent": listed})

    reachable: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        reachable.add(name)
        todo.extend(k for k in children[name] if k in raw_nodes and k not in reachable)
    for name in raw_nodes:
        if name not in reachable:
            _fail(
                f"{key}.nodes.{name}",
                f"orphan node: not reachable from the root {root!r}; list it under a node's children or remove it",
            )

    # Nodes proper.
    nodes: dict[str, Node] = {}
    for name, raw in node_raw.items():
        path = f"{key}.nodes.{name}"
        kids = tuple(children[name])
        weights = raw.get("weights")
        if isinstance(weights, dict):
            for k in weights:
                if k not in kids:
                    _fail(
                        f"{path}.weights.{k}",
                        f"not a child of {name!r}; children: {', '.join(kids)}",
                    )
            missing = [k for k in kids if k not in weights]
            if missing:
                _fail(
                    f"{path}.weights",
                    f"no weight for {', '.join(missing)}; give every child a weight",
                )
            weights = {k: _number(v, f"{path}.weights.{k}", minimum=0) for k, v in weights.items()}
            if sum(weights.values()) <= 0:
                _fail(f"{path}.weights", "weights must not sum to 0")
            for k in kids:
                if k in leaf_objs and leaf_objs[k].weight is not None:
                    _fail(f"{path}.weights", f"{k!r} also has its own weight; give it in one place")
        elif weights is not None:
            weights = _choice(weights, WEIGHT_METHODS, f"{path}.weights")
        weight = raw.get("weight")
        if weight is not None:
            weight = _number(weight, f"{path}.weight", minimum=0)
        norm = raw.get("normalise")
        if norm is not None:
            norm = _choice(norm, NORMALISATIONS, f"{path}.normalise")
        nodes[name] = Node(
            name=name,
            children=kids,
            combine=_choice(raw.get("combine", "sum"), COMBINES, f"{path}.combine"),
            weights=weights,
            transform=_choice(raw.get("transform", "none"), TRANSFORMS, f"{path}.transform"),
            normalise=norm,
            weight=weight,
            label=raw.get("label"),
        )
    spec = IndexSpec(
        root=root,
        nodes=nodes,
        leaves=leaf_objs,
        id=id_col,
        deciles=deciles,
        population=population,
        uncertainty=_parse_uncertainty(section.get("uncertainty"), f"{key}.uncertainty"),
    )
    for name in nodes:
        w = spec.child_weights(name)
        if w is not None and sum(w.values()) <= 0:
            _fail(f"{key}.nodes.{name}.weights", "weights of the children must not sum to 0")
    return spec


__all__ = [
    "IndexSpec",
    "Leaf",
    "Node",
    "Treatment",
    "UncertaintySpec",
    "parse_index_spec",
]
