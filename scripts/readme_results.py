#!/usr/bin/env python3
"""Print the README's "Measured so far" table from run directories, so that every number in it is traceable.

    scripts/readme_results.py RUN_DIR [RUN_DIR ...]

Each RUN_DIR is one `bench train MODEL --device cpu --seed 0 --artifacts RUN_DIR` run whose report was rendered
with `bench report RUN_DIR --out RUN_DIR/report.pdf` (scripts/readme_results.sh does both). The numbers are read
from the report's own summary (RUN_DIR/report.summary.json) and the run's manifest, never typed by hand: accuracy
with its Wilson interval over the test images, test loss, macro F1, the reference study's figure and the
training wall time of the run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(run_dir: Path) -> list[str]:
    summary = json.loads((run_dir / "report.summary.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    minutes = round(manifest["train_wall_seconds"] / 60)
    out = []
    for entry in summary["models"].values():
        acc = entry["aggregate"]["accuracy"]
        ci = acc["ci"]
        reference = entry.get("reference") or {}
        ref = f"{100 * reference['accuracy']:.1f} %" if reference.get("accuracy") is not None else "–"
        f1 = entry["aggregate"]["macro_f1"]["mean"]
        out.append(f"| {entry['title']} | {100 * acc['mean']:.2f} % [{100 * ci['low']:.2f}, {100 * ci['high']:.2f}] "
                   f"| {entry['aggregate']['loss']['mean']:.3f} | {f1:.3f} | {ref} | {minutes} min | "
                   f"`{run_dir.name}` |")
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    print("| model | test accuracy | test loss | macro F1 | reference study | training time | run |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for arg in argv:
        print("\n".join(rows(Path(arg))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
