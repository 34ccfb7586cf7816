"""Benchmark the index engine at national scale (33,755 LSOAs x 30 indicators).

Run: PYTHONPATH=. .venv/bin/python benchmarks/index.py [--runs 1000]
Peers measured in the same run: a plain pandas implementation of the same tree
(DataFrame.rank + the formula) for one build, and scipy.stats.rankdata for batch ranking.
"""

from __future__ import annotations

import argparse
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
    args = ap.parse_args()
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
    assert np.array_equal(r1, r2)
    t0 = time.perf_counter()
    u = uncertainty(table, spec, runs=args.runs, seed=0)
    t_unc = time.perf_counter() - t0
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, numpy {np.__version__}, pandas {pd.__version__}"
    )
    print(f"areas {N:,}, indicators {len(spec.leaves)}, nodes {len(spec.nodes)}")
    print("| step | cni-geo (s) | peer | peer (s) | ratio peer/ours |")
    print("|---|---|---|---|---|")
    print(
        f"| one index build | {t_ours:.3f} | pandas rank + formula (no diagnostics) | {t_peer:.3f} | {t_peer / t_ours:.2f} |"
    )
    print(
        f"| rank 33,755 x 50 batch | {t_rank:.3f} | scipy.stats.rankdata(axis=0) | {t_scipy:.3f} | {t_scipy / t_rank:.2f} |"
    )
    print(
        f"| uncertainty, {args.runs:,} runs + sensitivity ({len(u.sensitivity)} inputs) | {t_unc:.1f} | - | - | - |"
    )


if __name__ == "__main__":
    main()
