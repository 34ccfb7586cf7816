"""GeoPackage tables that pyogrio cannot write, filled with plain SQL after GDAL has written the
feature layers.

pyogrio 0.13 exposes neither field alternative names/comments nor field domains (GDAL has both
since 3.7 and 3.3, but only through its C/Python API), so ``gpkg_data_columns``,
``gpkg_data_column_constraints``, ``gpkg_metadata`` and ``gpkg_metadata_reference`` are created
here with the table definitions of the GeoPackage 1.2 schema and metadata extensions (the same
DDL GDAL and QGIS use), and registered in ``gpkg_extensions``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence

SCHEMA_EXT = "http://www.geopackage.org/spec120/#extension_schema"
METADATA_EXT = "http://www.geopackage.org/spec120/#extension_metadata"

DDL_DATA_COLUMNS = (
    "CREATE TABLE IF NOT EXISTS gpkg_data_columns ("
    "table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, "
    "description TEXT, mime_type TEXT, constraint_name TEXT, "
    "CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name))"
)
DDL_CONSTRAINTS = (
    "CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints ("
    "constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, "
    "min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, description TEXT, "
    "CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))"
)
DDL_METADATA = (
    "CREATE TABLE IF NOT EXISTS gpkg_metadata ("
    "id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL, "
    "md_scope TEXT NOT NULL DEFAULT 'dataset', md_standard_uri TEXT NOT NULL, "
    "mime_type TEXT NOT NULL DEFAULT 'text/xml', metadata TEXT NOT NULL DEFAULT '')"
)
DDL_METADATA_REF = (
    "CREATE TABLE IF NOT EXISTS gpkg_metadata_reference ("
    "reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT, row_id_value INTEGER, "
    "timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), "
    "md_file_id INTEGER NOT NULL, md_parent_id INTEGER, "
    "CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id), "
    "CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id))"
)
DDL_PROJECTS = (
    "CREATE TABLE IF NOT EXISTS qgis_projects(name TEXT PRIMARY KEY, metadata BLOB, content BLOB)"
)


def _register(con: sqlite3.Connection, table: str, extension: str, definition: str) -> None:
    exists = con.execute(
        "SELECT 1 FROM gpkg_extensions WHERE table_name = ? AND extension_name = ?",
        (table, extension),
    ).fetchone()
    if not exists:
        con.execute(
            "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope) "
            "VALUES (?, NULL, ?, ?, 'read-write')",
            (table, extension, definition),
        )


def write_data_columns(
    con: sqlite3.Connection,
    rows: Iterable[tuple[str, str, str | None, str | None, str | None]],
) -> None:
    """Rows of ``(table, column, title, description, constraint_name)``.

    ``name`` and ``title`` both get the short label: GDAL >= 3.7 reads ``name`` as the field's
    alternative name and ``description`` as its comment.
    """
    con.execute(DDL_DATA_COLUMNS)
    con.executemany(
        "INSERT INTO gpkg_data_columns "
        "(table_name, column_name, name, title, description, mime_type, constraint_name) "
        "VALUES (?, ?, ?, ?, ?, NULL, ?)",
        [(t, c, title, title, desc, cons) for t, c, title, desc, cons in rows],
    )
    _register(con, "gpkg_data_columns", "gpkg_schema", SCHEMA_EXT)


def write_enum_domains(
    con: sqlite3.Connection, domains: Mapping[str, tuple[str, Sequence[tuple[str, str]]]]
) -> None:
    """Coded-value domains: ``name -> (description, [(code, label), ...])``.

    Stored as ``enum`` constraints, which GDAL (>= 3.3) reads as coded field domains whose code
    is ``value`` and whose label is ``description``.
    """
    con.execute(DDL_CONSTRAINTS)
    rows = []
    for name, (_desc, pairs) in domains.items():
        rows += [(name, "enum", code, None, None, None, None, label) for code, label in pairs]
    con.executemany(
        "INSERT INTO gpkg_data_column_constraints (constraint_name, constraint_type, value, "
        "min, min_is_inclusive, max, max_is_inclusive, description) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    _register(con, "gpkg_data_column_constraints", "gpkg_schema", SCHEMA_EXT)


def write_metadata(
    con: sqlite3.Connection,
    entries: Sequence[tuple[str, str, str, str, str | None]],
    *,
    timestamp: str,
) -> None:
    """Entries of ``(md_standard_uri, mime_type, document, reference_scope, table_name)``.

    ``reference_scope`` is ``geopackage`` (the whole file, ``table_name`` None) or ``table``.
    """
    con.execute(DDL_METADATA)
    con.execute(DDL_METADATA_REF)
    for uri, mime, doc, scope, table in entries:
        cur = con.execute(
            "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
            "VALUES ('dataset', ?, ?, ?)",
            (uri, mime, doc),
        )
        con.execute(
            "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, "
            "row_id_value, timestamp, md_file_id, md_parent_id) VALUES (?, ?, NULL, NULL, ?, ?, NULL)",
            (scope, table, timestamp, cur.lastrowid),
        )
    _register(con, "gpkg_metadata", "gpkg_metadata", METADATA_EXT)
    _register(con, "gpkg_metadata_reference", "gpkg_metadata", METADATA_EXT)


def write_project(con: sqlite3.Connection, name: str, content: bytes, *, timestamp: str) -> None:
    """Store a zipped QGIS project (``.qgz`` bytes) the way QGIS's GeoPackage project storage
    does: hex text in ``qgis_projects.content`` and a small JSON ``metadata``."""
    con.execute(DDL_PROJECTS)
    meta = (
        '{"last_modified_time": "' + timestamp.rstrip("Z") + '", "last_modified_user": "cni-geo" }'
    )
    con.execute(
        "INSERT INTO qgis_projects (name, metadata, content) VALUES (?, ?, ?)",
        (name, meta, content.hex()),
    )


def set_last_change(con: sqlite3.Connection, timestamp: str) -> None:
    """Fix ``gpkg_contents.last_change`` of every table (GDAL stamps the wall clock)."""
    con.execute("UPDATE gpkg_contents SET last_change = ?", (timestamp,))
