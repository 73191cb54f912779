"""Writing a report to files: report.md / .html / .tex and the PNG plots beside them."""

from __future__ import annotations

import os

from .plots import make_plots
from .tables import Run, render


def write_report(runs: list[Run], out_dir: str, formats=("md", "html", "latex")) -> dict:
    """Write report.md/.html/.tex and the PNG plots into ``out_dir``; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    plots = make_plots(runs, out_dir)
    paths = {"plots": list(plots.values())}
    for fmt in formats:
        ext = {"md": "md", "latex": "tex", "html": "html"}[fmt]
        path = os.path.join(out_dir, f"report.{ext}")
        with open(path, "w") as f:
            f.write(render(runs, fmt, plots))
        paths[fmt] = path
    return paths
