"""Travel distance and time along a road network, computed on the machine (no service).

:func:`build_graph` turns road lines (OpenStreetMap ``highway`` lines or any layer with a road
class) into a :class:`RoadGraph`: nodes are line vertices merged where lines share a vertex
(to 1 cm), edges are the segments between consecutive vertices, stored as ``scipy.sparse`` CSR
matrices of lengths (m) and times (s). :meth:`RoadGraph.nearest_distance` runs ONE
shortest-path search per asset category from all the category's assets at once
(``scipy.sparse.csgraph.dijkstra``), the way the CDRC AHAH index does, so the cost does not grow
with the number of origins.

Snapping and the two ends of a trip
-----------------------------------
Origins and assets are snapped to the nearest point on the nearest road segment (found
exactly with a k-d tree over points along the segments, see ``_snap``; results are cached per
set of features, so origins snap once for all categories). A trip's length is::

    snap(origin) + along-segment to an end node + network path + along-segment + snap(asset)

The straight "snap" legs are walked at the profile's connector speed for ``metric="time"``.
The along-segment parts respect one-way segments for the drive profile. An origin and an asset
on the same segment may also connect directly along it. Distances are from origin TO asset.
"""

from __future__ import annotations

from ._build import build_graph
from ._graph import DRIVE_SPEEDS, METRICS, PROFILES, Metric, Profile, RoadGraph

__all__ = ["DRIVE_SPEEDS", "METRICS", "PROFILES", "Metric", "Profile", "RoadGraph", "build_graph"]
