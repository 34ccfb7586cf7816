"""Benchmark the index engine at national scale (33,755 LSOAs x 30 indicators).

Run: PYTHONPATH=. .venv/bin/python benchmarks/index.py [--runs 1000] [--workers 1 2]
Peers measured in the same run: a plain pandas implementation of the same tree
(DataFrame.rank + the formula) for one build; scipy.stats.rankdata and a plain np.argsort
kernel (the engine's previous one) for batch ranking. Prints the load average before and
after: the machine is shared, so compare figures taken at similar load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
from scipy import special, stats

from cni_geo.index import build_index, parse_index_spec, uncertainty
from cni_geo.index._normalise import _need_rank_array

N = 33_755


def spec30():
    nodes = {"cni": {"children": ["d0", "d1", "d2"]}}
    leaves = {}
    for d in range(3):
        subs = [f"d{d}s{s}" for s in range(2)]
        nodes[f"d{d}"] = {"children": subs, "transform": "exp"}
        for s in subs:
            kids = [f"{s}i{i}" for i in range(5)]
            nodes[s] = {"children": kids, "combine": "mean", "transform": "exp"}
            leaves.update(
                {k: {"direction": "high" if i % 2 else "low"} for i, k in enumerate(kids)}
            )
    return parse_index_spec(
        {"index": {"root": "cni", "normalise": "rankit", "nodes": nodes, "leaves": leaves}}
    )


def pandas_peer(table, spec):
    def x(rank, n):
        r = (n + 1 - rank) / n
        return -23 * np.log(1 - r * (1 - np.exp(-100 / 23)))

    vals = {}
    for name, leaf in spec.leaves.items():
        v = table[leaf.column] * (1 if leaf.direction == "high" else -1)
        r = v.rank(method="average")
        vals[name] = pd.Series(special.ndtri((r - 0.5) / r.notna().sum()), index=table.index)
    for name in reversed(spec.order):
        node = spec.nodes[name]
        comb = sum(vals[c] for c in node.children)
        if node.combine == "mean":
            comb = comb / len(node.children)
        if node.transform == "exp":
            comb = x(comb.rank(ascending=False, method="min"), comb.notna().sum())
        vals[name] = comb
    return vals[spec.root].rank(ascending=False, method="min")


def argsort_rank(v):
    """Need ranks along axis 0 with one float64 argsort per column (the previous kernel)."""
    key = -np.ascontiguousarray(v.T)
    order = np.argsort(key, axis=1)
    s = np.take_along_axis(key, order, axis=1)
    start = np.ones(s.shape, dtype=bool)
    start[:, 1:] = s[:, 1:] != s[:, :-1]
    first = np.maximum.accumulate(np.where(start, np.arange(s.shape[1]), 0), axis=1)
    out = np.empty(s.shape)
    np.put_along_axis(out, order, first + 1.0, axis=1)
    return out.T


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    print(f"start: {load()} on {os.cpu_count()} cores", flush=True)
    spec = spec30()
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        rng.gamma(2.0, 1.0, size=(N, len(spec.leaves))),
        columns=[spec.leaves[k].column for k in spec.leaf_order],
        index=pd.Index([f"E01{i:06d}" for i in range(N)], name="lsoa21_code"),
    )
    t_ours, res = timed(lambda: build_index(table, spec))
    t_peer, peer = timed(lambda: pandas_peer(table, spec))
    assert (res.scores["cni_rank"].astype(float) == peer).all()
    batch = rng.normal(size=(N, 50))
    t_rank, r1 = timed(lambda: _need_rank_array(batch))
    t_scipy, r2 = timed(lambda: stats.rankdata(-batch, method="min", axis=0))
    t_argsort, r3 = timed(lambda: argsort_rank(batch))
    assert np.array_equal(r1, r2) and np.array_equal(r1, r3)
    unc = []
    first = None
    for w in args.workers:
        t0, c0 = time.perf_counter(), time.process_time()
        u = uncertainty(table, spec, runs=args.runs, seed=0, workers=w)
        unc.append((w, time.perf_counter() - t0, time.process_time() - c0, len(u.sensitivity)))
        if first is None:
            first = u.summary
        else:  # the number of threads never changes the result
            pd.testing.assert_frame_equal(first, u.summary, check_exact=True)
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"numpy {np.__version__}, pandas {pd.__version__}"
    )
    print(f"areas {N:,}, indicators {len(spec.leaves)}, nodes {len(spec.nodes)}")
    print("| step | cni-geo (s) | peer | peer (s) | ratio peer/ours |")
    print("|---|---|---|---|---|")
    print(
        f"| one index build | {t_ours:.3f} | pandas rank + formula (no diagnostics) "
        f"| {t_peer:.3f} | {t_peer / t_ours:.2f} |"
    )
    print(
        f"| rank 33,755 x 50 batch | {t_rank:.3f} | scipy.stats.rankdata(axis=0) "
        f"| {t_scipy:.3f} | {t_scipy / t_rank:.2f} |"
    )
    print(
        f"| rank 33,755 x 50 batch | {t_rank:.3f} | np.argsort kernel (previous) "
        f"| {t_argsort:.3f} | {t_argsort / t_rank:.2f} |"
    )
    for w, wall, cpu, k in unc:
        print(
            f"| uncertainty, {args.runs:,} runs + sensitivity ({k} inputs), {w} thread(s) "
            f"| {wall:.1f} (CPU {cpu:.1f}) | - | - | - |"
        )
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
