"""The sources room: read, check and reproject vector, table, raster and OSM inputs.

Every reader checks what it reads (file, layer, CRS, geometry, ids, columns) and raises an
error from :mod:`cni_geo.errors` naming the file and the fix, or warns with counts.
Reprojection to the working CRS is explicit and logged (:func:`to_working_crs`).
"""

from ._crs import describe_transformation, to_working_crs
from ._osm import OsmAssets, load_catalogue, read_osm_assets, read_osm_roads
from ._tables import CodeChanges, code_changes, read_iod, read_postcodes, read_table
from ._vector import check_raster, read_areas, read_assets, read_points, read_raster_meta

__all__ = [
    "CodeChanges",
    "OsmAssets",
    "check_raster",
    "code_changes",
    "describe_transformation",
    "load_catalogue",
    "read_areas",
    "read_assets",
    "read_iod",
    "read_osm_assets",
    "read_osm_roads",
    "read_points",
    "read_postcodes",
    "read_raster_meta",
    "read_table",
    "to_working_crs",
]
