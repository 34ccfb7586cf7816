"""Small helpers shared by every room: atomic outputs, hashes, timestamps, CRS checks."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import CRSError, OutputError, OutputExistsError

log = logging.getLogger(__name__)

DEFAULT_CRS = "EPSG:27700"


def fmt_count(n: int, total: int | None = None) -> str:
    """``1,204`` or ``3 of 1,204``: counts in messages always carry thousands separators."""
    if total is None:
        return f"{n:,}"
    return f"{n:,} of {total:,}"


def build_timestamp() -> str:
    """The build time as ISO 8601 UTC, honouring ``SOURCE_DATE_EPOCH`` for reproducible output."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch.strip():
        moment = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC)
    else:
        moment = _dt.datetime.now(tz=_dt.UTC).replace(microsecond=0)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's content (shapefiles: of the .shp and its .dbf/.shx/.prj too)."""
    path = Path(path)
    digest = hashlib.sha256()
    parts = [path]
    if path.suffix.lower() == ".shp":
        parts += [path.with_suffix(s) for s in (".shx", ".dbf", ".prj")]
    for part in parts:
        if not part.exists():
            continue
        with open(part, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a unique temporary path beside ``path``; move it into place only on success.

    A failed or killed write never leaves a half-written file under the final name, and an
    existing file is replaced only with ``overwrite=True``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{path} already exists; pass --overwrite (overwrite=True) to replace it."
        raise OutputExistsError(msg)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the output folder {folder}: {exc.strerror or exc}. Choose a writable folder with --out."
        raise OutputError(msg) from exc
    if not os.access(folder, os.W_OK):
        msg = f"the output folder {folder} is not writable; choose another with --out or fix its permissions."
        raise OutputError(msg)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".part" + path.suffix, dir=folder
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp
        if not tmp.exists():
            msg = f"writing {path} produced no file."
            raise OutputError(msg)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OutputError | OutputExistsError):
            raise
        msg = (
            f"could not write {path}: {exc.strerror or exc}. Check free disk space and permissions."
        )
        raise OutputError(msg) from exc
    except Exception as exc:
        _remove_quietly(tmp)
        if type(exc).__module__.split(".")[0] not in ("pyogrio", "sqlite3", "rasterio"):
            raise
        msg = f"could not write {path}: {exc}. Check free disk space and permissions."
        raise OutputError(msg) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path: Path) -> None:
    for p in (
        path,
        Path(str(path) + "-journal"),
        Path(str(path) + "-wal"),
        Path(str(path) + "-shm"),
    ):
        with contextlib.suppress(OSError):
            p.unlink()


def crs_label(crs) -> str:
    """``EPSG:27700`` where an EPSG code is known, else the CRS name."""
    if crs is None:
        return "no CRS"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def require_projected(gdf, name: str, *, what: str = "this step") -> None:
    """Raise :class:`CRSError` unless ``gdf`` has a projected CRS in metres."""
    crs = gdf.crs
    if crs is None:
        msg = (
            f"`{name}` has no CRS; {what} needs a projected CRS in metres. "
            f"Set it with `{name}.set_crs(...)` or `crs:` on its source in the recipe."
        )
        raise CRSError(msg)
    if not crs.is_projected:
        msg = (
            f"`{name}` is in a geographic CRS ({crs_label(crs)}); {what} needs metres. "
            f"Reproject with `cni_geo.sources.to_working_crs({name})` or set `crs:` in the recipe."
        )
        raise CRSError(msg)
    unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
    if unit not in ("metre", "meter", "m"):
        msg = f"`{name}` is in {crs_label(crs)} whose unit is {unit}; {what} needs metres."
        raise CRSError(msg)


def require_same_crs(a, b, name_a: str, name_b: str) -> None:
    """Raise :class:`CRSError` if two GeoDataFrames are in different CRSs."""
    if a.crs is None or b.crs is None:
        missing = name_a if a.crs is None else name_b
        msg = f"`{missing}` has no CRS; set it with `.set_crs(...)` or `crs:` in the recipe."
        raise CRSError(msg)
    if not a.crs.equals(b.crs):
        msg = (
            f"`{name_a}` is in {crs_label(a.crs)} but `{name_b}` is in {crs_label(b.crs)}; "
            f"reproject one explicitly, e.g. `{name_b}.to_crs({name_a}.crs)`."
        )
        raise CRSError(msg)
