"""Spatial indicators: distance, counts, rates, coverage, accessibility, raster statistics.

One function per measure; each takes GeoDataFrames in a projected CRS (metres), never mutates
them, and returns a Series or DataFrame aligned to the input index. Formulas, units and edge
cases are in docs/indicators.md.
"""

from ._access import DECAYS, decay_weights, gravity_access, od_pairs, two_step_fca
from ._aggregate import weighted_aggregate
from ._counts import count_within, per_1000, per_km2
from ._coverage import area_share, share_within
from ._distance import nearest_distance
from ._zonal import zonal_stats

__all__ = [
    "DECAYS",
    "area_share",
    "count_within",
    "decay_weights",
    "gravity_access",
    "nearest_distance",
    "od_pairs",
    "per_1000",
    "per_km2",
    "share_within",
    "two_step_fca",
    "weighted_aggregate",
    "zonal_stats",
]
