"""Outputs: GeoPackage, web map, tables. Outputs never change numbers."""
