"""Plain CSV tables with a provenance sidecar (``OUT.csv.json``), written atomically."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from .._util import atomic_output

log = logging.getLogger(__name__)


def write_table(
    path,
    frame: pd.DataFrame,
    *,
    provenance: dict | None = None,
    overwrite: bool = False,
    index: bool = True,
) -> Path:
    """Write ``frame`` as CSV and, when ``provenance`` is given, a ``<path>.json`` sidecar.

    Both files are written to temporary names and moved into place, so a failed run leaves any
    previous outputs untouched. Floats keep full precision (repr round-trips); booleans are
    written as ``true``/``false``; missing values as empty fields.
    """
    path = Path(path)
    sidecar = Path(str(path) + ".json")
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_bool_dtype(out[col]) or str(out[col].dtype) == "boolean":
            out[col] = out[col].map({True: "true", False: "false"}).astype("object")
    with atomic_output(path, overwrite=overwrite) as tmp:
        out.to_csv(tmp, index=index, lineterminator="\n")
        if provenance is not None:
            with atomic_output(sidecar, overwrite=True) as tmp_json:
                tmp_json.write_text(
                    json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n",
                    encoding="utf-8",
                )
    log.info("wrote %s (%s rows)", path, f"{len(frame):,}")
    return path
