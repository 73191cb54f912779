"""``kernel-lab history``'s report: the tests that went red and how often, each figure night
after night, and each kernel splat by fingerprint.

    write(history, folder)  ->  history.md, history.html, history.json, history-N.png

Markdown keeps it compact (a trend is a row: first, last, range and a sparkline); the HTML page
adds one plot per measurement and metric: the figure at each night, with its 95 % interval
where the night had repeats, one series per kernel."""

from __future__ import annotations

import base64
import html
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tabulate import tabulate  # noqa: E402

from ..results.history import History  # noqa: E402

SPARK = "▁▂▃▄▅▆▇█"
MARK = {"passed": ".", "failed": "x", "crashed": "!", "retried": "r", "skipped": "s"}


def sparkline(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    if hi == lo:
        return SPARK[3] * len(values)
    return "".join(SPARK[min(7, int((v - lo) / (hi - lo) * 8))] for v in values)


def _num(v: float) -> str:
    return f"{v:.4g}"


def test_rows(h: History) -> list[list]:
    return [[t.kernel, t.test, "".join(MARK[o] for _, o in t.nights),
             f"{len(t.failed_nights)}/{len(t.ran)}", f"{t.flip_rate:.2f}", t.label()]
            for t in h.red()]


def trend_rows(h: History) -> list[list]:
    rows = []
    for t in sorted(h.trends.values(), key=lambda t: (t.measurement, t.metric, t.kernel)):
        values = [p["value"] for p in t.points]
        rows.append([t.measurement, t.metric, t.kernel, len(values), _num(values[0]),
                     _num(values[-1]), f"{_num(min(values))} .. {_num(max(values))}",
                     sparkline(values)])
    return rows


def splat_rows(h: History) -> list[list]:
    return [[s.fingerprint, s.kind, s.first_line[:80], len(s.nights), ", ".join(s.kernels),
             ", ".join(s.nights[-3:])] for s in h.splats.values()]


TEST_HEADERS = ["kernel", "test", "nights (. x ! r s)", "failed", "flip rate", "label"]
TREND_HEADERS = ["measurement", "metric", "kernel", "nights", "first", "last", "range", "trend"]
SPLAT_HEADERS = ["fingerprint", "kind", "first line", "nights", "kernels", "last seen"]


def markdown(h: History) -> str:
    first, last = (h.nights[0].run, h.nights[-1].run) if h.nights else ("-", "-")
    parts = [f"### History of {len(h.nights)} night(s): {first} .. {last}", "",
             "Outcomes per night, oldest first: `.` passed, `x` failed, `!` failed with a "
             "kernel splat, `r` passed on a retry, `s` skipped.", ""]
    rows = test_rows(h)
    parts += ["#### Tests that failed", "",
              tabulate(rows, headers=TEST_HEADERS, tablefmt="github") if rows
              else "Every test passed every night it ran.", ""]
    rows = trend_rows(h)
    if rows:
        parts += ["#### Figures night by night", "",
                  tabulate(rows, headers=TREND_HEADERS, tablefmt="github"), ""]
    rows = splat_rows(h)
    parts += ["#### Kernel splats by fingerprint", "",
              tabulate(rows, headers=SPLAT_HEADERS, tablefmt="github") if rows
              else "No kernel splat.", ""]
    return "\n".join(parts)


def plots(h: History, folder: str) -> list[str]:
    """One PNG per measurement and metric: its figure per night, a series per kernel."""
    runs = [n.run for n in h.nights]
    groups: dict[tuple[str, str], list] = {}
    for t in h.trends.values():
        groups.setdefault((t.measurement, t.metric), []).append(t)
    out = []
    for i, ((meas, metric), trends) in enumerate(sorted(groups.items())):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        for t in sorted(trends, key=lambda t: t.kernel):
            xs = [runs.index(p["run"]) for p in t.points]
            ys = [p["value"] for p in t.points]
            errs = [p["half_width"] or 0 for p in t.points]
            line = ax.errorbar(xs, ys, yerr=errs, marker="o", ms=3, capsize=2, label=t.kernel)
            red = [(x, y) for x, y, p in zip(xs, ys, t.points) if p.get("failed")]
            if red:  # the nights its test failed: ringed in red
                ax.scatter(*zip(*red), s=60, facecolors="none", edgecolors="#d62728", zorder=3,
                           label=f"{t.kernel}: test failed" if line else None)
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels(runs, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(metric)
        ax.set_title(meas, fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(folder, f"history-{i + 1}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out


def html_page(h: History, pngs: list[str]) -> str:
    def table(headers, rows):
        head = "".join(f"<th>{html.escape(x)}</th>" for x in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                       for r in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    imgs = []
    for p in pngs:
        with open(p, "rb") as f:
            imgs.append(f"<img alt='{html.escape(os.path.basename(p))}' "
                        f"src='data:image/png;base64,{base64.b64encode(f.read()).decode()}'>")
    first, last = (h.nights[0].run, h.nights[-1].run) if h.nights else ("-", "-")
    return "\n".join([
        "<!doctype html><meta charset=utf-8><title>kernel-lab history</title>",
        "<style>body{font-family:sans-serif;max-width:70em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}</style>",
        f"<h2>History of {len(h.nights)} night(s): {html.escape(first)} .. {html.escape(last)}</h2>",
        "<h3>Tests that failed</h3>",
        table(TEST_HEADERS, test_rows(h)) if h.red() else "<p>Every test passed every night.</p>",
        "<h3>Figures night by night</h3>", *imgs, table(TREND_HEADERS, trend_rows(h)),
        "<h3>Kernel splats by fingerprint</h3>",
        table(SPLAT_HEADERS, splat_rows(h)) if h.splats else "<p>No kernel splat.</p>"])


def write(h: History, folder: str) -> dict[str, str]:
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):  # the plots of an earlier history in this folder
        if old.startswith("history-") and old.endswith(".png"):
            os.unlink(os.path.join(folder, old))
    pngs = plots(h, folder)
    out = {"md": os.path.join(folder, "history.md"), "html": os.path.join(folder, "history.html"),
           "json": os.path.join(folder, "history.json")}
    with open(out["md"], "w") as f:
        f.write(markdown(h))
    with open(out["html"], "w") as f:
        f.write(html_page(h, pngs))
    with open(out["json"], "w") as f:
        json.dump(h.as_record(), f, indent=1)
    return out

