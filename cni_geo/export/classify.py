"""One classification shared by every output.

The GeoPackage's QGIS styles and the web map's legends are built from the same
:class:`Classification`, so the bins, colours and labels are identical everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex

NODATA_COLOR = "#d9d9d9"
NODATA_LABEL = "No data"


def _palette(name: str, n: int) -> tuple[str, ...]:
    cmap = colormaps[name].resampled(n)
    return tuple(to_hex(cmap(i)) for i in range(n))


@dataclass(frozen=True)
class Classification:
    """Classes of a numeric column: ``lower[i] <= value <= upper[i]`` is class ``i``.

    Classes are closed intervals on integer-valued columns such as deciles; on continuous
    columns the upper bound of class ``i`` is the lower bound of class ``i + 1`` and the
    first class that matches wins.
    """

    column: str
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    labels: tuple[str, ...]
    colors: tuple[str, ...]
    title: str = ""
    nodata_color: str = NODATA_COLOR
    nodata_label: str = NODATA_LABEL

    def __post_init__(self):
        n = len(self.lower)
        if not (len(self.upper) == len(self.labels) == len(self.colors) == n):
            msg = "Classification: lower, upper, labels and colors must have the same length."
            raise ValueError(msg)

    def __len__(self) -> int:
        return len(self.lower)

    def classify(self, values) -> np.ndarray:
        """Class number of each value (0-based); -1 for NaN or a value outside every class."""
        v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
        out = np.full(v.shape, -1, dtype=np.int64)
        for i in range(len(self) - 1, -1, -1):
            hit = (v >= self.lower[i]) & (v <= self.upper[i])
            out[hit] = i
        return out

    def color_of(self, values) -> np.ndarray:
        """Colour of each value, the no-data colour where it has no class."""
        classes = self.classify(values)
        palette = np.array((*self.colors, self.nodata_color), dtype=object)
        return palette[np.where(classes < 0, len(self), classes)]

    def legend(self) -> list[tuple[str, str]]:
        """``(label, colour)`` pairs in class order, the no-data class last."""
        return [*zip(self.labels, self.colors, strict=True), (self.nodata_label, self.nodata_color)]


def decile_classification(
    column: str, *, title: str = "", palette: str = "viridis"
) -> Classification:
    """Deciles 1..10, decile 1 (highest need) darkest; a colour-blind-safe palette by default."""
    labels = ["1 (highest need)", *[str(i) for i in range(2, 10)], "10 (lowest need)"]
    return Classification(
        column=column,
        lower=tuple(float(i) for i in range(1, 11)),
        upper=tuple(float(i) for i in range(1, 11)),
        labels=tuple(labels),
        colors=_palette(palette, 10),
        title=title or column,
    )


@dataclass(frozen=True)
class CategoryStyle:
    """A colour per category value (assets by category)."""

    column: str
    categories: tuple[str, ...]
    colors: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if not self.colors:
            n = max(len(self.categories), 1)
            base = _palette("tab20", 20)
            object.__setattr__(self, "colors", tuple(base[i % 20] for i in range(n)))

    def mapping(self) -> dict[str, str]:
        return dict(zip(self.categories, self.colors, strict=False))


def category_style(column: str, values) -> CategoryStyle:
    """Categories sorted by name, each with a stable colour."""
    cats = tuple(sorted({str(v) for v in pd.Series(values).dropna()}))
    return CategoryStyle(column=column, categories=cats)
