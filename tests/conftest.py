"""Shared fixtures: real data in ../shared/data, real clients (QGIS, Chromium), strict mode.

Tests that need real data or a real client skip only where it is absent; with
``CNI_GEO_STRICT=1`` (set by .ci/run) such a skip fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CNI_GEO_SHARED_DATA", ROOT.parent / "shared" / "data"))
STRICT = os.environ.get("CNI_GEO_STRICT", "") not in ("", "0", "false", "no")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SYSTEM_PYTHON = "/usr/bin/python3"

settings.register_profile(
    "cni",
    deadline=None,
    max_examples=60,
    # the same examples on every run: CI must not go red on a new random draw; explore with
    # HYPOTHESIS_PROFILE=explore (random, more examples) when hunting for bugs
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    deadline=None,
    max_examples=500,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "cni"))


def skip_or_fail(reason: str):
    """Skip, or fail under CNI_GEO_STRICT=1 (CI), where a real dependency is absent."""
    if STRICT:
        pytest.fail(f"CNI_GEO_STRICT=1 and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def camden() -> Path:
    """The real Camden data folder (../shared/data/camden)."""
    path = SHARED_DATA / "camden"
    if not path.is_dir():
        skip_or_fail(f"the real data folder {path} is absent")
    return path


def _qgis_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"],
        capture_output=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    return proc.returncode == 0


@pytest.fixture(scope="session")
def qgis_python() -> str:
    """The system Python that can import PyQGIS (Debian python3-qgis)."""
    if not _qgis_available():
        skip_or_fail("QGIS (Debian python3-qgis under /usr/bin/python3) is absent")
    return SYSTEM_PYTHON


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium."""
    if not CHROMIUM:
        skip_or_fail("chromium is absent")
    return CHROMIUM


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep caches (built road graphs) of the test run out of the user's ~/.cache."""
    old = os.environ.get("CNI_GEO_CACHE")
    os.environ["CNI_GEO_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("CNI_GEO_CACHE", None)
    else:
        os.environ["CNI_GEO_CACHE"] = old
