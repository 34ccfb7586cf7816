"""Table readers: census/Nomis CSVs, postcode directories, IoD files, code changes."""

from __future__ import annotations

import csv
import io
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._util import DEFAULT_CRS, fmt_count
from ..errors import ColumnError, SourceError
from ._crs import as_crs, require_metric, to_working_crs
from ._vector import check_file, set_id

log = logging.getLogger("cni_geo.sources")

#: markers ONS, Nomis and MHCLG use for missing or suppressed values -> NaN (counted)
MISSING_MARKERS = ("..", ":", "-", "[x]", "[c]", "[z]", "[low]", "*", "x", "c", "z")


def _find_header(p: Path, id: str, *, scan: int = 40) -> tuple[int, list[str]]:
    """The 0-based line of the header row holding ``id`` (Nomis files put metadata above)."""
    with open(p, encoding="utf-8-sig", newline="") as fh:
        head = "".join(line for _, line in zip(range(scan), fh, strict=False))
    rows = list(csv.reader(io.StringIO(head)))
    for i, row in enumerate(rows):
        if id in [c.strip() for c in row]:
            return i, row
    for i, row in enumerate(rows):
        if id.lower() in [c.strip().lower() for c in row]:
            return i, row
    first = next((r for r in rows if r), [])
    msg = f"{p} has no column '{id}' (the id column); its columns are: {', '.join(first)}."
    raise ColumnError(msg)


def _numeric(df: pd.DataFrame, cols, *, where: str, skip: int) -> pd.DataFrame:
    out = {}
    for c in cols:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        text = s.astype("string").str.strip()
        blank = text.isna() | (text == "")
        marker = text.isin(MISSING_MARKERS)
        num = pd.to_numeric(
            text.str.replace(",", "", regex=False).where(~(blank | marker)), errors="coerce"
        )
        bad = num.isna() & ~blank & ~marker
        if not bad.any():
            if marker.any():
                warnings.warn(
                    f"{fmt_count(int(marker.sum()), len(s))} values in column '{c}' of {where} are "
                    f"missing-value markers ({', '.join(sorted(set(text[marker])))}); they are NaN.",
                    stacklevel=3,
                )
            out[c] = num.astype(float)
        elif bad.all() or (num.notna().sum() == 0):
            continue  # a text column (names, labels)
        else:
            i = int(np.flatnonzero(bad.to_numpy())[0])
            msg = (
                f"{where}: column '{c}' holds text where numbers are expected "
                f"(file line {i + skip + 2}: {s.iloc[i]!r}; {fmt_count(int(bad.sum()))} such values). "
                "Fix the file or mark missing values as empty cells."
            )
            raise ColumnError(msg)
    return df.assign(**out) if out else df


def read_table(path, *, id: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV table (ONS bulk, Nomis, MHCLG) indexed by its area codes.

    Handles a UTF-8 byte-order mark, thousands separators in quoted numbers ("29,199"),
    metadata lines above the header (Nomis downloads: the header is the first line holding
    ``id``), and trailing footnote lines (rows with no value in any other column are dropped).
    ONS missing-value markers (``..``, ``:``, ``[c]``, ...) become NaN with a counted warning.

    Parameters
    ----------
    path
        The CSV file.
    id
        The code column (kept as strings, e.g. ``E01000842``).
    columns
        Columns to keep (all when ``None``); a missing one is a :class:`ColumnError` listing
        the columns present.

    Returns
    -------
    DataFrame
        Indexed by ``id`` (strings, index named ``id``). Columns whose values are numbers become
        float; text in an otherwise numeric column is a :class:`ColumnError` naming the column
        and line; duplicate ids are a :class:`DataError`.
    """
    p = check_file(path, what="table")
    if p.suffix.lower() not in (".csv", ".txt", ".tsv"):
        msg = f"{p}: read_table reads CSV files; save the sheet as CSV (UTF-8) first."
        raise SourceError(msg)
    try:
        skip, header = _find_header(p, id)
    except UnicodeDecodeError as exc:
        msg = f"{p} is not UTF-8 text ({exc}); is it really a CSV? Re-save it as CSV UTF-8."
        raise SourceError(msg) from exc
    id_col = next((c for c in header if c.strip() == id), None) or next(
        c for c in header if c.strip().lower() == id.lower()
    )
    sep = "\t" if p.suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(
            p,
            encoding="utf-8-sig",
            skiprows=skip,
            thousands=",",
            sep=sep,
            dtype={id_col: str},
            keep_default_na=True,
            low_memory=False,
        )
    except pd.errors.ParserError as exc:
        msg = f"{p} could not be parsed as CSV after line {skip + 1} ({exc})."
        raise SourceError(msg) from exc
    df.columns = [str(c).strip() for c in df.columns]
    id_col = id_col.strip()
    others = [c for c in df.columns if c != id_col]
    # Nomis footers and notes: lines with no code and at most one cell (the note text)
    footer = df[id_col].isna() & (df.notna().sum(axis=1) <= 1)
    if others:
        footer |= df[others].isna().all(axis=1) & df[id_col].isna()
    if footer.any():
        log.info(
            "%s: dropped %s rows with no values (notes or footers).",
            p,
            fmt_count(int(footer.sum())),
        )
        df = df[~footer.to_numpy()]
    if df.empty:
        msg = f"{p} has no data rows."
        raise SourceError(msg)
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            msg = f"{p} has no column(s) {', '.join(repr(c) for c in missing)}; its columns are: {', '.join(df.columns)}."
            raise ColumnError(msg)
        df = df[[id_col] + [c for c in columns if c != id_col]]
    df = set_id(df, id_col, where=str(p))
    df = _numeric(df, df.columns, where=str(p), skip=skip)
    df.attrs["source"] = str(p)
    return df


# --- postcode directories (ONSPD / NSPL) -------------------------------------------------

PCD_COLUMNS = ("pcds", "pcd", "pcd2", "pcd7", "pcd8", "postcode")


def read_postcodes(
    path,
    *,
    columns: list[str] | None = None,
    live_only: bool = True,
    working_crs=DEFAULT_CRS,
) -> gpd.GeoDataFrame:
    """Read an ONS postcode directory (ONSPD or NSPL CSV layout) as points.

    Uses the ``oseast1m``/``osnrth1m`` grid references (EPSG:27700; 1 m resolution). Postcodes
    with no grid reference (blank, or the directories' placeholder for "no location") are left
    out with a counted warning; with ``live_only`` terminated postcodes (``doterm`` set) too.

    Parameters
    ----------
    columns
        Further columns to keep (e.g. ``["lsoa21cd", "oa21cd"]``); the names are matched
        case-insensitively (ONSPD uses ``lsoa21``, NSPL ``lsoa21cd``).

    Returns
    -------
    GeoDataFrame
        Indexed by the postcode in its single-space form (``pcds``; ``NW1 2DB``).
    """
    p = check_file(path, what="postcode directory")
    target = as_crs(working_crs, name="working_crs")
    require_metric(target)
    df = pd.read_csv(p, encoding="utf-8-sig", dtype=str, low_memory=False)
    lower = {c.lower(): c for c in df.columns}
    pcd = next((lower[c] for c in PCD_COLUMNS if c in lower), None)
    if pcd is None or "oseast1m" not in lower or "osnrth1m" not in lower:
        msg = f"{p} does not look like an ONSPD/NSPL file (needs a postcode column pcds/pcd and oseast1m, osnrth1m); its columns are: {', '.join(df.columns)}."
        raise ColumnError(msg)
    keep = []
    for c in columns or []:
        if c.lower() not in lower:
            msg = f"{p} has no column '{c}'; its columns are: {', '.join(df.columns)}."
            raise ColumnError(msg)
        keep.append(lower[c.lower()])
    n = len(df)
    if live_only and "doterm" in lower:
        term = df[lower["doterm"]].fillna("").str.strip() != ""
        if term.any():
            log.info(
                "%s: %s postcodes are terminated (doterm set) and were left out.",
                p,
                fmt_count(int(term.sum()), n),
            )
            df = df[~term.to_numpy()]
    e = pd.to_numeric(df[lower["oseast1m"]], errors="coerce").to_numpy(dtype=float)
    nn = pd.to_numeric(df[lower["osnrth1m"]], errors="coerce").to_numpy(dtype=float)
    # ONSPD marks "no grid reference" with blanks or easting 0 / northing 1 (Channel Islands etc.)
    noloc = np.isnan(e) | np.isnan(nn) | ((e <= 0) & (nn <= 1)) | (nn >= 9999999)
    if noloc.any():
        warnings.warn(
            f"{fmt_count(int(noloc.sum()), len(df))} postcodes in {p} have no grid reference and were left out.",
            stacklevel=2,
        )
    codes = df[pcd].str.upper().str.replace(r"\s+", "", regex=True)
    pcds = (codes.str[:-3] + " " + codes.str[-3:]).to_numpy()
    out = gpd.GeoDataFrame(
        df[keep].set_axis(keep, axis=1).reset_index(drop=True),
        geometry=shapely.points(e, nn),
        crs="EPSG:27700",
    )
    out.index = pd.Index(pcds, name="pcds")
    out = out[~noloc]
    dup = out.index.duplicated()
    if dup.any():
        log.info("%s: %s duplicate postcodes kept once.", p, fmt_count(int(dup.sum())))
        out = out[~dup]
    return to_working_crs(out, target, name=str(p))


# --- English Indices of Deprivation files ----------------------------------------------

IOD_DOMAINS = {
    "index of multiple deprivation (imd)": "imd",
    "income": "income",
    "employment": "employment",
    "education, skills and training": "education",
    "health deprivation and disability": "health",
    "crime": "crime",
    "barriers to housing and services": "barriers",
    "living environment": "living_environment",
    "income deprivation affecting children index (idaci)": "idaci",
    "income deprivation affecting older people (idaopi)": "idaopi",
    "income deprivation affecting older people index (idaopi)": "idaopi",
    "children and young people sub-domain": "children_young_people",
    "adult skills sub-domain": "adult_skills",
    "geographical barriers sub-domain": "geographical_barriers",
    "wider barriers sub-domain": "wider_barriers",
    "indoors sub-domain": "indoors",
    "outdoors sub-domain": "outdoors",
}
_IOD_FIXED = {
    "lsoa name (2011)": "lsoa_name",
    "lsoa name (2021)": "lsoa_name",
    "local authority district code (2019)": "lad_code",
    "local authority district name (2019)": "lad_name",
    "local authority district code (2024)": "lad_code",
    "local authority district name (2024)": "lad_name",
}


def _iod_name(header: str) -> str:
    h = re.sub(r"\s+", " ", header.strip())
    low = h.lower()
    if low in _IOD_FIXED:
        return _IOD_FIXED[low]
    low = re.sub(r"\s*\((where|among)[^)]*\)\s*$", "", low)
    for measure in ("score", "rank", "decile"):
        if low.endswith(" " + measure):
            stem = low[: -len(measure) - 1].strip()
            if stem in IOD_DOMAINS:
                return f"{IOD_DOMAINS[stem]}_{measure}"
    return re.sub(r"[^a-z0-9]+", "_", low).strip("_")


def read_iod(path) -> pd.DataFrame:
    """Read an English Indices of Deprivation 2019 CSV (Files 1-7 layouts) by LSOA code.

    Returns
    -------
    DataFrame
        Indexed by ``lsoa_code`` (strings), columns with clean names (``imd_rank``,
        ``imd_decile``, ``income_rank``, ``education_decile``, ``lsoa_name``, ``lad_code``,
        ...); ranks, scores and deciles are numbers (thousands separators removed). The
        original headers are in ``df.attrs["headers"]`` (clean name -> original).
    """
    p = check_file(path, what="IoD file")
    with open(p, encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    code = next((h for h in header if re.match(r"(?i)^\s*lsoa code", h)), None)
    if code is None:
        msg = f"{p} has no 'LSOA code (2011)' column, so it is not an IoD file; its columns are: {', '.join(header)}."
        raise ColumnError(msg)
    df = read_table(p, id=code.strip())
    names = {c: _iod_name(c) for c in df.columns}
    seen: dict[str, int] = {}
    for c, n in names.items():
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[c] = f"{n}_{seen[n]}"
    out = df.rename(columns=names)
    out.index.name = "lsoa_code"
    out.attrs["headers"] = {"lsoa_code": code.strip(), **{v: k for k, v in names.items()}}
    return out


# --- code changes between vintages -------------------------------------------------------


@dataclass(frozen=True)
class CodeChanges:
    """Which codes persist between two vintages (e.g. LSOA 2011 -> 2021)."""

    unchanged: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "unchanged": len(self.unchanged),
            "new": len(self.new),
            "retired": len(self.retired),
        }

    def __str__(self) -> str:
        c = self.counts
        return f"{c['unchanged']:,} codes unchanged, {c['new']:,} new, {c['retired']:,} retired"


def code_changes(old_codes, new_codes) -> CodeChanges:
    """Compare two vintages' code lists: codes kept, new codes and retired codes.

    A code present in both vintages is reported as unchanged (ONS keeps a code only when the
    boundary is unchanged or changed trivially); the overlap-based conversion of values lives in
    :mod:`cni_geo.reapportion`.

    Examples
    --------
    >>> str(code_changes(["E01000001", "E01000002"], ["E01000001", "E01035000"]))
    '1 codes unchanged, 1 new, 1 retired'
    """
    old = pd.Index(pd.unique(pd.Series(list(old_codes), dtype="string").str.strip()))
    new = pd.Index(pd.unique(pd.Series(list(new_codes), dtype="string").str.strip()))
    report = CodeChanges(
        unchanged=sorted(old.intersection(new)),
        new=sorted(new.difference(old)),
        retired=sorted(old.difference(new)),
    )
    log.info("code changes: %s.", report)
    return report
