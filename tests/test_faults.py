"""Faults and repeat runs: SIGKILL during export, a full disk, parallel builds, determinism.

These run the real ``cni-geo`` command as subprocesses where the fault is a process-level
event (a kill, a full file system, concurrency), and the library in process otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from test_errors import make_inputs

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "recipes" / "demo.yaml"
EXE = Path(sys.executable).with_name("cni-geo")
EPOCH = "1700000000"


def _env(**extra) -> dict:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONHASHSEED": "0"}
    env.update(extra)
    return env


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _one_error_line(stderr: str) -> str:
    errs = [ln for ln in stderr.splitlines() if ln.strip() and "cni-geo: warning:" not in ln]
    assert len(errs) == 1, stderr
    assert errs[0].startswith("cni-geo: error: "), stderr
    assert "Traceback" not in stderr
    return errs[0]


# --------------------------------------------------------------------------------------------
# SIGKILL during export

_SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import cni_geo.export.{module} as mod
    from cni_geo.cli import main

    marker = Path(sys.argv[1])
    real = mod.{attr}

    def slow(*args, **kwargs):
        result = real(*args, **kwargs)   # part of the output is on disk ...
        marker.write_text("writing")     # ... tell the test, and wait to be killed
        time.sleep(60)
        return result

    mod.{attr} = slow
    main(sys.argv[2:])
    """
)


@pytest.mark.parametrize(
    ("module", "attr", "victim"),
    [("gpkg", "pyogrio.write_dataframe", "tiny.gpkg")],
    ids=["geopackage"],
)
def test_sigkill_during_export_leaves_previous_outputs(tmp_path, module, attr, victim):
    recipe = make_inputs(tmp_path)
    out = tmp_path / "out"
    first = subprocess.run(
        [EXE, "build", recipe, "--out", out], env=_env(), capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    before = _digests(out)
    # change an input so that a finished rebuild would differ from the first outputs
    (tmp_path / "t.csv").write_text("code,v\nL1,9\nL2,8\nL3,7\nL4,6\n", encoding="utf-8")

    script = _SLOW_WRITER.format(module=module, attr=attr)
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, marker, "build", recipe, "--out", out, "--overwrite"],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the export never started"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    after = _digests(out)
    # every file under a final name is either the previous one or a complete new one; the file
    # being written when the kill came is the previous one
    assert after[victim] == before[victim], f"{victim} was replaced by a half-written file"
    finals = {n for n in after if not n.startswith(".")}
    assert finals == set(before), f"unexpected final names: {finals ^ set(before)}"
    leftovers = sorted(n for n in after if n.startswith("."))
    assert all(".part" in n for n in leftovers), leftovers  # hidden, clearly temporary
    gpd.read_file(out / "tiny.gpkg", layer="areas")  # the previous GeoPackage still opens
    # a new run with --overwrite succeeds and leaves no temporary behind
    again = subprocess.run(
        [EXE, "build", recipe, "--out", out, "--overwrite"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    csv = pd.read_csv(out / "tiny.csv", dtype={"code": str}).set_index("code")
    assert csv["val"].tolist() == [9.0, 8.0, 7.0, 6.0]
    stale = sorted(n for n in os.listdir(out) if n.startswith(".") and n not in leftovers)
    assert not stale, stale


# --------------------------------------------------------------------------------------------
# A real full disk: a tiny tmpfs in a private mount namespace


def _namespaces_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


def test_full_disk_real_tmpfs(tmp_path):
    if not _namespaces_ok():
        pytest.skip("needs Linux user and mount namespaces (unshare -rm)")
    recipe = make_inputs(tmp_path)
    out = tmp_path / "small_disk"
    out.mkdir()
    listing = tmp_path / "listing.txt"
    # 64 KiB: the CSV fits, the GeoPackage (~200 KB) does not
    script = (
        f"mount -t tmpfs -o size=64k tmpfs '{out}' || exit 99; "
        f"'{EXE}' build '{recipe}' --out '{out}'; rc=$?; "
        f"ls -a '{out}' > '{listing}'; exit $rc"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], env=_env(), capture_output=True, text=True
    )
    assert proc.returncode != 99, proc.stderr
    assert proc.returncode == 5, proc.stderr
    line = _one_error_line(proc.stderr)
    assert "No space left on device" in line or "disk" in line, line
    names = set(listing.read_text().split()) - {".", ".."}
    assert "tiny.gpkg" not in names, "a half-written GeoPackage under the final name"
    assert not [n for n in names if n.startswith(".")], f"temporary files left: {names}"


# --------------------------------------------------------------------------------------------
# Ten builds in parallel (two at a time on this 2-core machine)


def test_ten_parallel_builds_do_not_interfere(tmp_path):
    recipe = make_inputs(tmp_path / "inputs")

    def one(i: int):
        out = tmp_path / f"out{i}"
        proc = subprocess.run(
            [EXE, "-q", "build", recipe, "--out", out], env=_env(), capture_output=True, text=True
        )
        return i, proc.returncode, proc.stderr

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, range(10)))
    for i, rc, err in results:
        assert rc == 0, (i, err)
    digests = [_digests(tmp_path / f"out{i}") for i in range(10)]
    for d in digests[1:]:
        assert d.keys() == digests[0].keys()
        for name in ("tiny.csv", "tiny.gpkg", "tiny.csv.json"):
            assert d[name] == digests[0][name], name
    assert not [p for p in (tmp_path / "inputs").iterdir() if ".part" in p.name]


# --------------------------------------------------------------------------------------------
# Determinism on the demo


@pytest.fixture(scope="module")
def demo_builds(tmp_path_factory):
    """The demo built twice from the same inputs and once from shuffled layers."""
    from cni_geo.pipeline import build

    base = tmp_path_factory.mktemp("demo")
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        build(DEMO, out=base / "a")
        build(DEMO, out=base / "b")
        shuffled = _shuffled_demo(base / "shuffled")
        build(shuffled, out=base / "c")
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
    return base


def _shuffled_demo(folder: Path) -> Path:
    """A copy of the demo recipe whose boundary layers (oa, lsoa, ward) are in random order."""
    import pyogrio

    folder.mkdir(parents=True)
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    rng = np.random.default_rng(20240611)
    src = (DEMO.parent / raw["sources"]["lsoa"]["path"]).resolve()
    dst = folder / "shuffled_boundaries.gpkg"
    for layer in ("oa", "lsoa", "ward"):
        gdf = pyogrio.read_dataframe(src, layer=layer)
        gdf = gdf.iloc[rng.permutation(len(gdf))]
        pyogrio.write_dataframe(gdf, dst, layer=layer)
    for spec in raw["sources"].values():
        p = (DEMO.parent / spec["path"]).resolve()
        spec["path"] = str(dst if p == src else p)
    raw["outputs"]["folder"] = str(folder / "out")
    path = folder / "demo_shuffled.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_demo_csv_and_geopackage_are_byte_identical(demo_builds):
    a, b = _digests(demo_builds / "a"), _digests(demo_builds / "b")
    assert a["cni_demo.csv"] == b["cni_demo.csv"]
    assert a["cni_demo.csv.json"] == b["cni_demo.csv.json"]
    assert a["cni_demo.gpkg"] == b["cni_demo.gpkg"]


def test_demo_results_do_not_depend_on_row_order(demo_builds):
    a = pd.read_csv(demo_builds / "a" / "cni_demo.csv", dtype={"lsoa_code": str})
    c = pd.read_csv(demo_builds / "c" / "cni_demo.csv", dtype={"lsoa_code": str})
    a, c = a.set_index("lsoa_code").sort_index(), c.set_index("lsoa_code").sort_index()
    assert list(a.columns) == list(c.columns)
    assert a.index.equals(c.index)
    for col in a.columns:
        if pd.api.types.is_numeric_dtype(a[col]):
            np.testing.assert_allclose(
                a[col].to_numpy(float), c[col].to_numpy(float), rtol=1e-9, atol=1e-9, err_msg=col
            )
        else:
            assert a[col].fillna("").astype(str).equals(c[col].fillna("").astype(str)), col
