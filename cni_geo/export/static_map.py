"""A static PNG map of the index deciles (matplotlib) for reports.

Uses the same :func:`~cni_geo.export.classify.decile_classification` as the web map and the
GeoPackage styles, so colours, labels and the no-data class match everywhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .._util import atomic_output
from ..errors import ColumnError, DataError
from .classify import decile_classification

log = logging.getLogger(__name__)


def write_static_map(
    path: str | os.PathLike,
    areas,
    *,
    root: str = "cni",
    title: str = "Community Needs Index",
    attribution: str | None = None,
    overwrite: bool = False,
    dpi: int = 150,
    size: tuple[float, float] = (8.0, 8.0),
) -> Path:
    """Write a PNG choropleth of ``{root}_decile`` with a legend.

    Parameters
    ----------
    path
        The ``.png`` file to write (atomically).
    areas
        The areas result frame: a GeoDataFrame with ``{root}_decile`` (any CRS; drawn as is).
    root
        The index node whose deciles are drawn.
    title, attribution
        Printed above and under the map.
    overwrite
        Replace an existing file.
    dpi, size
        Resolution and figure size in inches.

    Returns
    -------
    Path
        The file written.
    """
    import geopandas as gpd

    if not isinstance(areas, gpd.GeoDataFrame):
        msg = (
            f"`areas` must be a GeoDataFrame (the areas result frame), got {type(areas).__name__}."
        )
        raise DataError(msg)
    column = f"{root}_decile"
    if column not in areas.columns:
        msg = f"`areas` has no column {column!r}; pass the areas result frame (root={root!r})."
        raise ColumnError(msg)
    cls = decile_classification(column, title=title)
    colors = cls.color_of(areas[column])

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.06, 0.72, 0.86))
    areas.plot(ax=ax, color=list(colors), edgecolor="white", linewidth=0.2)
    ax.set_axis_off()
    ax.set_aspect("equal")
    fig.suptitle(title, fontsize=14, fontweight="bold")
    handles = [
        Patch(facecolor=color, edgecolor="#777777", label=label) for label, color in cls.legend()
    ]
    fig.legend(
        handles=handles,
        title="Decile",
        loc="center right",
        frameon=False,
        fontsize=8,
        title_fontsize=9,
    )
    if attribution:
        fig.text(0.02, 0.015, attribution, fontsize=6, color="#444444", wrap=True)
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, facecolor="white")
    log.info("Wrote the static map %s (%.0f KB).", path, path.stat().st_size / 1e3)
    return path


__all__ = ["write_static_map"]
