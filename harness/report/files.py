"""Writing a report to files: report.md / .html / .tex (a fragment) / deck.tex (beamer), with
the plots and each lab's topology diagram beside them."""

from __future__ import annotations

import json
import os

from ..core.paths import inside
from . import presentation, topology
from .plots import make_plots
from .render import beamer, html_page, latex_frames, markdown
from .tables import Run, labs_of

EXTENSIONS = {"md": "report.md", "html": "report.html", "latex": "report.tex", "beamer": "deck.tex"}


def topology_of(lab: str, runs: list[Run]) -> dict | None:
    """The netlink snapshot of the test the lab's presentation names (else the first one a
    record of the lab keeps), marked where the lab's other tests built it differently (a
    tunnel's MTU 1400 in one test, 1500 in another): the diagram is the lab's, not one test's."""
    records = [r for run in runs for r in run.records]
    rec = presentation.drawn_record(presentation.load(lab, records=records), records, "topology")
    if not rec:
        return None
    mine = [r for r in records if r["lab"] == lab]
    return topology.with_variants(rec["state"]["topology"],
                                  [r["state"]["topology"] for r in mine
                                   if r.get("state", {}).get("topology")],
                                  [r["state"]["lab"] for r in mine if r.get("state", {}).get("lab")])


def figures(runs: list[Run], out_dir: str) -> dict[str, list[tuple[str, str]]]:
    """lab -> [(title, png path)]: its topology diagram first, then its plots."""
    out: dict[str, list[tuple[str, str]]] = {}
    for lab in labs_of(runs):
        topo = topology_of(lab, runs)
        if topo:
            title = f"{lab}: what the lab built (read back over netlink)"
            path = topology.render(topo, inside(out_dir, f"{lab}-topology"), "png", "")
            with open(inside(out_dir, f"{lab}-topology.json"), "w") as f:
                json.dump(topo, f, indent=1)
            out.setdefault(lab, []).append((title, path))
    for title, path in make_plots(runs, out_dir).items():
        out.setdefault(title.split(":", 1)[0], []).append((title, path))
    return out


def write_report(runs: list[Run], out_dir: str, formats=("md", "html", "latex", "beamer")) -> dict:
    """Write the report in ``formats`` into ``out_dir``; returns {format: path, "figures": [...]}."""
    os.makedirs(out_dir, exist_ok=True)
    figs = figures(runs, out_dir)
    problems = [p for run in runs for p in run.problems]
    paths = {"figures": [p for lab in figs.values() for _, p in lab]}
    for fmt in formats:
        text = {"md": lambda: markdown(runs, problems),
                "html": lambda: html_page(runs, figs, problems, out_dir),
                "latex": lambda: latex_frames(runs, figs),
                "beamer": lambda: beamer(runs, figs)}[fmt]()
        path = os.path.join(out_dir, EXTENSIONS[fmt])
        with open(path, "w") as f:
            f.write(text)
        paths[fmt] = path
    return paths
