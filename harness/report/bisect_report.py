"""A bisect's report from its ``bisect.json``: the outcome, one row per step, and (figure mode)
the figure at each kernel with its 95 % interval, the good endpoint's band and the threshold.

    write(data, folder)  ->  bisect.md, bisect.html, bisect-frame.tex, bisect.png

``bisect-frame.tex`` is one beamer frame that goes on a slide as it is (``\\input`` it; the
plot beside it is ``bisect.png``)."""

from __future__ import annotations

import base64
import html
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tabulate import tabulate  # noqa: E402

from .render import latex_escape  # noqa: E402

HEADERS = ["#", "kernel", "release", "role", "decision", "figure", "why"]
COLOURS = {"good": "#2ca02c", "bad": "#d62728", "skip": "#7f7f7f"}


def _figure(s: dict) -> str:
    iv = s.get("interval")
    if not iv:
        return "-"
    return f"{iv['mean']:+.4g} ± {iv['ci95_half_width'] or 0:.2g} (n={iv['n']})"


def rows(data: dict) -> list[list]:
    return [[s["index"], s["spec"], s.get("release") or "-", s["role"], s["decision"],
             _figure(s), s["reason"]] for s in data["steps"]]


def title(data: dict) -> str:
    fig = data.get("figure")
    return (f"Bisect by {fig['measurement']} {fig['metric']} (threshold {fig['threshold']:g})"
            if fig else "Bisect by verdict")


def summary(data: dict) -> str:
    return (data.get("outcome") or {}).get("summary", "(unfinished)")


def markdown(data: dict) -> str:
    return "\n".join([f"### {title(data)}", "", summary(data), "",
                      tabulate(rows(data), headers=HEADERS, tablefmt="github")])


def plot(data: dict, path: str) -> str | None:
    """The figure of every measured step against its kernel's place in the list (figure
    mode), coloured by decision; None in verdict mode (the table says it all)."""
    fig_spec = data.get("figure")
    measured = [s for s in data["steps"] if s.get("interval")]
    if not fig_spec or not measured:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    good = next((s for s in measured if s["role"] == "good endpoint"), None)
    if good:
        lo = good["interval"]["mean"] - (good["interval"]["ci95_half_width"] or 0)
        hi = good["interval"]["mean"] + (good["interval"]["ci95_half_width"] or 0)
        ax.axhspan(lo, hi, color=COLOURS["good"], alpha=0.15, label="good endpoint, 95 %")
        for sign in (1, -1):
            ax.axhline(good["interval"]["mean"] + sign * fig_spec["threshold"], color="#999",
                       linestyle="--", linewidth=0.8,
                       label="threshold" if sign == 1 else None)
    offsets: dict[int, int] = {}
    for s in measured:
        k = offsets[s["index"]] = offsets.get(s["index"], -1) + 1
        iv = s["interval"]
        ax.errorbar(s["index"] + 0.12 * k, iv["mean"], yerr=iv["ci95_half_width"] or 0, fmt="o",
                    color=COLOURS.get(s["decision"], "#000"), capsize=3)
    for decision, colour in COLOURS.items():
        ax.plot([], [], "o", color=colour, label=decision)
    kernels = data["kernels"]
    ax.set_xticks(range(len(kernels)))
    ax.set_xticklabels([k if len(k) <= 18 else "…" + k[-17:] for k in kernels], rotation=30,
                       ha="right", fontsize=8)
    ax.set_ylabel(fig_spec["metric"])
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def html_page(data: dict, png: str | None) -> str:
    img = ""
    if png:
        with open(png, "rb") as f:
            img = (f'<img alt="{html.escape(title(data))}" src="data:image/png;base64,'
                   f'{base64.b64encode(f.read()).decode()}">')
    return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>kernel-lab bisect</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
            "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;"
            "font-size:14px}th{background:#e8eef7}img{max-width:100%}</style></head><body>"
            f"<h1>{html.escape(title(data))}</h1><p><b>{html.escape(summary(data))}</b></p>"
            f"{tabulate(rows(data), headers=HEADERS, tablefmt='html')}{img}</body></html>\n")


def beamer_frame(data: dict, png: str | None) -> str:
    """One frame: the outcome, the steps (kernel, decision, figure), the plot beside."""
    short = [[s["index"], latex_escape(s["spec"]), s["role"], s["decision"],
              latex_escape(_figure(s))] for s in data["steps"]]
    table = tabulate(short, headers=["\\#", "kernel", "role", "decision", "figure"],
                     tablefmt="latex_raw")
    width = "0.5\\textwidth" if png else "\\textwidth"
    body = (f"\\begin{{minipage}}{{{width}}}\\resizebox{{\\linewidth}}{{!}}{{%\n{table}}}\n"
            "\\end{minipage}")
    if png:
        body += ("\\hfill\\begin{minipage}{0.48\\textwidth}\\includegraphics[width=\\linewidth]"
                 f"{{{os.path.basename(png)}}}\\end{{minipage}}")
    return (f"\\begin{{frame}}{{{latex_escape(title(data))}}}\n"
            f"{{\\small\\textbf{{{latex_escape(summary(data))}}}}}\\par\\medskip\n{body}\n"
            "\\end{frame}\n")


def write(data: dict, folder: str) -> dict[str, str]:
    png = plot(data, os.path.join(folder, "bisect.png"))
    out = {"md": os.path.join(folder, "bisect.md"), "html": os.path.join(folder, "bisect.html"),
           "tex": os.path.join(folder, "bisect-frame.tex")}
    for kind, text in (("md", markdown(data)), ("html", html_page(data, png)),
                       ("tex", beamer_frame(data, png))):
        with open(out[kind], "w") as f:
            f.write(text + ("\n" if not text.endswith("\n") else ""))
    if png:
        out["png"] = png
    return out
