"""Assemble docs/benchmarks.md from the per-room result files in benchmarks/results/.

    .venv/bin/python benchmarks/collect.py

Each benchmark script writes its own table to benchmarks/results/<room>.md; this puts the
summary (00-summary.md) first and every room's file after it, headings shifted down a level.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["england", "indicators", "network", "reapportion", "index", "gpkg", "webmap"]


def main() -> None:
    results = ROOT / "benchmarks" / "results"
    parts = [(results / "00-summary.md").read_text(encoding="utf-8").rstrip()]
    for name in ORDER:
        path = results / f"{name}.md"
        if path.exists():
            text = path.read_text(encoding="utf-8").rstrip()
            parts.append(re.sub(r"(?m)^(#+) ", r"#\1 ", text))
    out = ROOT / "docs" / "benchmarks.md"
    out.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
