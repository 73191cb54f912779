"""Plots from records (matplotlib, PNG): shaping accuracy, per-kernel comparison, tunnel MTU."""

from __future__ import annotations

import os
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def make_plots(runs, out_dir: str) -> dict[str, str]:
    plots = {}
    for name, fn in (("shaping accuracy", shaping), ("per-kernel comparison", per_kernel),
                     ("tunnel MTU", tunnel_mtu)):
        path = os.path.join(out_dir, name.replace(" ", "-") + ".png")
        if fn(runs, path):
            plots[name] = path
    return plots


def _save(fig, path) -> bool:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _grouped_bars(ax, groups: list, series: dict, fontsize=None) -> None:
    """One bar per series in each group; ``series`` maps a label to {group: value}."""
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        ax.bar([j + i * width for j in range(len(groups))], [values.get(g, 0) for g in groups],
               width, label=label)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(groups))], groups,
                  fontsize=fontsize)


def shaping(runs, path) -> bool:
    """Measured versus configured rate, kernel counter and goodput/expected, with the band."""
    pts = [(run.label, r) for run in runs for r in run.records
           if isinstance(r.get("derived", {}).get("counter_rate_bps"), (int, float))
           and isinstance(r["derived"].get("configured_bps"), (int, float))]
    if not pts:
        return False
    fig, ax = plt.subplots(figsize=(7, 5))
    rates = sorted({r["derived"]["configured_bps"] for _, r in pts})
    tol = max((r.get("tolerance") or 0.05) for _, r in pts)
    lo, hi = min(rates) * 0.7, max(rates) * 1.4
    ax.fill_between([lo, hi], [lo * (1 - tol), hi * (1 - tol)], [lo * (1 + tol), hi * (1 + tol)],
                    color="#cde", label=f"±{tol:.0%} tolerance")
    ax.plot([lo, hi], [lo, hi], color="#888", lw=1)
    markers = "os^vD"
    for i, label in enumerate(sorted({lbl for lbl, _ in pts})):
        mine = [r for lbl, r in pts if lbl == label]
        ax.scatter([r["derived"]["configured_bps"] for r in mine],
                   [r["derived"]["counter_rate_bps"] for r in mine], marker=markers[i % 5],
                   label=f"kernel counter, {label}")
        ax.scatter([r["derived"]["configured_bps"] for r in mine],
                   [r["derived"]["goodput_bps"] / r["derived"]["expected_goodput_bps"]
                    * r["derived"]["configured_bps"] for r in mine], marker=markers[i % 5],
                   facecolors="none", edgecolors="k", label=f"goodput / expected x rate, {label}")
    ax.set(xscale="log", yscale="log", xlabel="configured rate (bit/s)",
           ylabel="measured rate (bit/s)", title="Shaping: measured versus configured")
    ax.legend(fontsize=7)
    return _save(fig, path)


def per_kernel(runs, path) -> bool:
    """Median |error| of each lab's shaped measurements, one bar per run/kernel."""
    data = defaultdict(dict)
    for run in runs:
        by_lab = defaultdict(list)
        for r in run.records:
            e = r.get("derived", {}).get("goodput_error")
            if isinstance(e, (int, float)):
                by_lab[r["lab"]].append(abs(e) * 100)
        for lab, errs in by_lab.items():
            data[lab][run.label] = sorted(errs)[len(errs) // 2]
    if not data:
        return False
    labels = sorted({k for d in data.values() for k in d})
    labs = sorted(data)
    fig, ax = plt.subplots(figsize=(7, 4))
    _grouped_bars(ax, labs, {label: {lab: data[lab].get(label, 0) for lab in labs}
                             for label in labels})
    ax.set(ylabel="median |goodput error| (%)", title="Per kernel")
    ax.legend(fontsize=8)
    return _save(fig, path)


def tunnel_mtu(runs, path) -> bool:
    """Inner MTU versus UDP fragments per datagram and TCP throughput, per tunnel and kernel."""
    frag, tcp = defaultdict(dict), defaultdict(dict)
    for run in runs:
        for r in run.records:
            p, d = r.get("params", {}), r.get("derived", {})
            if "inner_mtu" not in p or "tunnel" not in p:
                continue
            key = f"{p['tunnel']} {run.label}"
            if "fragments_per_datagram" in d and p.get("generator") == "iperf3" and "loss_percent" not in p:
                frag[key][p["inner_mtu"]] = d["fragments_per_datagram"]
            if "gso" in p:
                tcp[key][f"{p['inner_mtu']}{'' if p['gso'] else ' no GSO'}"] = d.get("goodput_bps", 0) / 1e6
    if not frag and not tcp:
        return False
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, vals in sorted(frag.items()):
        mtus = sorted(vals)
        a1.plot(mtus, [vals[m] for m in mtus], marker="o", label=key)
    a1.set(xlabel="inner MTU", ylabel="IP fragments per UDP datagram", title="Fragmentation")
    a1.legend(fontsize=7)
    cases = sorted({c for v in tcp.values() for c in v})
    _grouped_bars(a2, cases, dict(sorted(tcp.items())), fontsize=8)
    a2.set(ylabel="TCP throughput (Mbit/s)", title="Segmentation vs fragmentation")
    a2.legend(fontsize=7)
    return _save(fig, path)
