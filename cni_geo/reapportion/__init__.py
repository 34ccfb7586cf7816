"""Move values between geographies: overlap tables, area- and population-weighted
interpolation, best-fit lookups, upward aggregation and boundary-vintage changes.

Every reapportioned value comes with a coverage share, and a target with nothing behind it is
NaN, never 0. See docs/reapportion.md for the formulas and the NaN rules.
"""

from ._interpolate import (
    NAN_RULES,
    NAN_TOLERANCE,
    apply_table,
    area_weighted,
    population_weighted,
)
from ._overlap import OverlapTable, overlap_table, population_table

__all__ = [
    "NAN_RULES",
    "NAN_TOLERANCE",
    "OverlapTable",
    "apply_table",
    "area_weighted",
    "overlap_table",
    "population_table",
    "population_weighted",
]

from ._aggregate import AGGREGATORS, aggregate, extent_weight  # noqa: E402

__all__ += ["AGGREGATORS", "aggregate", "extent_weight"]

from ._lookup import VintageChange, best_fit_lookup, vintage_change  # noqa: E402

__all__ += ["VintageChange", "best_fit_lookup", "vintage_change"]
