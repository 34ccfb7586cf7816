"""The cni-geo error hierarchy.

Every error raised on purpose by cni-geo is a :class:`CniGeoError` and also a builtin
(``ValueError``, ``FileNotFoundError``, ...), so callers can catch either. Messages name the
file, layer, column or recipe key, say what was found, and how to fix it.
"""

from __future__ import annotations


class CniGeoError(Exception):
    """Base class of every error cni-geo raises on purpose.

    ``exit_code`` is what the CLI exits with: 1 other cni-geo errors, 3 recipe errors, 4 input
    data errors, 5 output errors (2 is click's usage error, 70 an unexpected internal error).
    """

    exit_code = 1

    def __init__(self, *args):
        # one line always: a key or value from data with a line break or control character
        # is shown escaped, so the CLI's one-line message stays one line
        if len(args) == 1 and isinstance(args[0], str) and not args[0].isprintable():
            args = ("".join(c if c.isprintable() else repr(c)[1:-1] for c in args[0]),)
        super().__init__(*args)


class RecipeError(CniGeoError, ValueError):
    """A recipe is malformed; the message names the key path (``indicators.gp.source``)."""

    exit_code = 3


class SourceError(CniGeoError, OSError):
    """An input file is missing, unreadable, empty or not what its extension says."""

    exit_code = 4


class CRSError(CniGeoError, ValueError):
    """A missing, geographic or mismatched coordinate reference system."""

    exit_code = 4


class ColumnError(CniGeoError, ValueError):
    """A named column is missing, duplicated or of the wrong type."""

    exit_code = 4


class GeometryError(CniGeoError, ValueError):
    """Geometries that are empty, of the wrong type, or cannot be repaired."""

    exit_code = 4


class DataError(CniGeoError, ValueError):
    """Values that cannot be used: duplicate ids, negative populations, text in numbers."""

    exit_code = 4


class IndexSpecError(RecipeError):
    """The index tree is invalid: unknown nodes, cycles, bad weights."""


class OutputExistsError(CniGeoError, FileExistsError):
    """An output file exists and ``overwrite`` was not given."""

    exit_code = 5


class OutputError(CniGeoError, OSError):
    """An output cannot be written (folder not writable, disk full, name clash)."""

    exit_code = 5


__all__ = [
    "CniGeoError",
    "RecipeError",
    "SourceError",
    "CRSError",
    "ColumnError",
    "GeometryError",
    "DataError",
    "IndexSpecError",
    "OutputExistsError",
    "OutputError",
]
