"""The index room: indicators -> domains -> composite index, ranks, deciles, Left Behind flags.

Runs on a plain DataFrame (no geometry), so it also rebuilds or re-weights an existing index::

    spec = parse_index_spec(yaml.safe_load(open("data/recipes/cni2019-from-domain-ranks.yaml")))
    result = build_index(table, spec)
    result.to_frame()   # id, cni_score, cni_rank, cni_decile, civic_score, ...
"""

from ._diagnostics import cronbach_alpha
from ._normalise import (
    DECILE_CONVENTION,
    RANK_CONVENTION,
    deciles,
    exp_transform,
    need_rank,
    normalise,
    population_deciles,
)
from ._transform import impute, log_transform, shrink, winsorise
from ._uncertainty import UncertaintyResult, recipe_uncertainty, uncertainty
from ._weights import factor_loadings, factor_weights, pca_weights
from .engine import IndexResult, build_index, left_behind, run_index_table
from .spec import IndexSpec, Leaf, Node, Treatment, UncertaintySpec, parse_index_spec

__all__ = [
    "DECILE_CONVENTION",
    "RANK_CONVENTION",
    "IndexResult",
    "IndexSpec",
    "Leaf",
    "Node",
    "Treatment",
    "UncertaintyResult",
    "UncertaintySpec",
    "build_index",
    "cronbach_alpha",
    "deciles",
    "exp_transform",
    "factor_loadings",
    "factor_weights",
    "impute",
    "left_behind",
    "log_transform",
    "need_rank",
    "normalise",
    "parse_index_spec",
    "pca_weights",
    "population_deciles",
    "recipe_uncertainty",
    "run_index_table",
    "shrink",
    "uncertainty",
    "winsorise",
]
