"""Plots that show a lab's finding (matplotlib, PNG), drawn from records as the lab's
``slides.toml`` declares them; across kernels the same figure has one panel per kernel, two
side by side, on shared axes; a kernel without any of the plot's records gets no panel.  Every
kind takes ``where`` (a path the records must have) and
``unless`` (``{path, value}``: leave out the records where path equals value, e.g. another
measurement that shares the series and rate).

Kinds:

- ``error_vs_rate``: the error (%) of each figure against the configured rate, one series per
  ``series`` value (qdisc, generator), the tolerance as a band; under ``--repeat`` each point is
  a mean with its 95 % confidence interval;
- ``bars``: grouped bars, one group per ``group`` value, one bar per entry of ``values`` (or
  per ``series`` value), e.g. fragments per datagram, or measured loss beside 1-(1-p)^k; a
  value may be ``{path, per}`` (a share of another figure of the record), ``order`` lists the
  groups in the order the story goes, and ``annotate = {path, text}`` writes another figure
  of each bar above it (the drops of a policer beside its goodput);
- ``matrix``: a small yes/no grid of ``rows`` x ``cols`` (which OVS configuration carries
  traffic on which datapath).
"""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..core.paths import inside  # noqa: E402
from ..core.units import format_rate  # noqa: E402
from ..measure.stats import summarize  # noqa: E402
from .presentation import get, is_number, load  # noqa: E402
from .tables import labs_of  # noqa: E402

COLOURS = list(matplotlib.colormaps["tab10"].colors)
#: figures a point needs before the atlas draws its 95 % interval; fewer are drawn one by one
MIN_INTERVAL = 3


def _records(run, lab: str, spec: dict) -> list[dict]:
    where, unless = spec.get("where"), spec.get("unless")
    return [r for r in run.records if r["lab"] == lab and r.get("verdict") != "skipped"
            and (where is None or get(r, where) is not None)
            and not (unless and get(r, unless["path"]) == unless["value"])]


def _label(record: dict, paths) -> str:
    paths = [paths] if isinstance(paths, str) else paths
    return " ".join(str(get(record, p)) for p in paths if get(record, p) is not None)


def _drawn(spec: dict, lab: str, runs) -> list:
    """(run, its records of the plot) for the runs that have something to draw: a kernel that
    skipped the measurement (the host without police) gets no empty panel."""
    return [(run, recs) for run in runs if (recs := _records(run, lab, spec))]


def _panels(runs, titled: bool, sharey=True):
    """One panel per run, at most two side by side (four kernels make a 2 x 2 grid that is
    still readable on a slide; a row of four was not).  The plot's title is the slide's (or the
    HTML caption's), never drawn in the image; a panel is titled by its kernel when the report
    covers several kernels (``titled``), even if only one of them has the plot's records."""
    ncols = min(len(runs), 2)
    nrows = -(-len(runs) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(4.8 * ncols + 1.2, 4.2 if nrows == 1 else 3.2 * nrows),
                             sharey=sharey, squeeze=False)
    fig.kernel_lab_points = []  # what was drawn, written beside the PNG for checking
    fig.kernel_lab_axes = {}
    axes = list(grid.flat)
    for ax in axes[len(runs):]:
        ax.set_visible(False)
    for ax, run in zip(axes, runs):
        if titled:
            ax.set_title(run.label, fontsize=9)
    return fig, axes[:len(runs)]


def _same_measurements(data, label_of) -> bool:
    """Whether every panel shows the same measurements (then they share an axis): a lab whose
    tests were split across kernels (GRE in a guest, VXLAN on the host) puts different things
    in each panel, and one axis for both would hide the smaller and invite a false comparison."""
    sets = [{label_of(r) for r in recs} for _, recs in data]
    return all(s == sets[0] for s in sets)


def _scale_to_data(ax, values: list[float], tol: float) -> float:
    """The y range (%) of an error plot: a few times the data's own reach, so a spread of
    hundredths of a percent is visible; the tolerance band is drawn when it fits, and named as
    off scale when it does not.  Returns the half range."""
    reach = max((abs(v) for v in values), default=0.0)
    lim = max(reach * 1.5, 0.05)
    if tol <= lim:
        lim = max(lim, tol * 1.15)
        ax.axhspan(-tol, tol, color="#dde8f4", label=f"±{tol:g} % tolerance")
    else:
        ax.text(0.01, 0.98, f"±{tol:g} % tolerance: off scale", transform=ax.transAxes,
                fontsize=7, va="top", color="#555")
    ax.set_ylim(-lim, lim)
    return lim


def _series_style(spec: dict, records: list[dict]):
    """A colour per value of the series' first path (the limiter, the qdisc), the same on every
    panel, and a filled marker for the first value of the rest (the generator), hollow for the
    others: twelve series never wrap round a palette of ten."""
    paths = [spec["series"]] if isinstance(spec["series"], str) else spec["series"]
    first = sorted({_label(r, paths[:1]) for r in records})
    rest = sorted({_label(r, paths[1:]) for r in records} - {""})

    def style(record):
        other = _label(record, paths[1:])
        return (COLOURS[first.index(_label(record, paths[:1])) % len(COLOURS)],
                not rest or other in ("", rest[0]))
    return style


def _legend(axes, by_name=False) -> None:
    """One legend for every panel's series (a series only one kernel has is named too), in the
    order drawn, or by name."""
    named = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            named.setdefault(label, handle)
    if named:  # beside the whole grid (anchored to the last panel, a long one ran off the image)
        labels = sorted(named) if by_name else list(named)
        axes[-1].figure.legend([named[k] for k in labels], labels, fontsize=7, loc="center left",
                               bbox_to_anchor=(1.0, 0.5))


def _each_note(fig, shown: bool) -> None:
    """Say under the panels what a bar and a dash mean, when some point was drawn figure by
    figure (fewer than MIN_INTERVAL of them)."""
    if shown:
        fig.text(0.01, 0.0, f"error bars: 95 % interval (n >= {MIN_INTERVAL}); dashes: each "
                 f"figure (n < {MIN_INTERVAL})", fontsize=7, va="bottom")


def error_vs_rate(spec: dict, lab: str, runs) -> plt.Figure | None:
    data = _drawn(spec, lab, runs)
    if not data:
        return None
    fig, axes = _panels([run for run, _ in data], len(runs) > 1)
    style = _series_style(spec, [r for _, recs in data for r in recs])
    rates = sorted({get(r, spec["x"]) for _, recs in data for r in recs})
    tol = max((r.get("tolerance") or 0.0) for _, recs in data for r in recs) * 100
    drawn = []  # (x, mean, half width, axis) of every point, for the range and the worst
    shown_each, reach = False, []  # reach: the figures drawn one by one, for the range
    for ax, (run, recs) in zip(axes, data):
        ax.axhline(0, color="#888", lw=0.8)
        series = sorted({_label(r, spec["series"]) for r in recs})
        n = max(len(series) * len(spec["y"]), 1)
        width = 0.7 / n
        i = 0
        for s in series:  # a colour per series' first path, a marker per figure
            colour, filled = style(next(r for r in recs if _label(r, spec["series"]) == s))
            for y in spec["y"]:
                xs, means, errs, at, each = [], [], [], [], []
                for k, rate in enumerate(rates):
                    vals = [get(r, y["path"]) for r in recs
                            if _label(r, spec["series"]) == s and get(r, spec["x"]) == rate]
                    vals = [v for v in vals if isinstance(v, (int, float))]
                    if not vals:
                        continue
                    st = summarize(vals)
                    at.append(rate)
                    xs.append(k - 0.35 + width * (i + 0.5))
                    means.append(st.mean * 100)
                    # two figures give a 95 % interval 9 times their spread (t = 12.7): it
                    # would reach past the band while both lie well inside; they are drawn
                    errs.append((st.half_width or 0) * 100 if st.n >= MIN_INTERVAL else 0.0)
                    each.append(vals if 1 < st.n < MIN_INTERVAL else [])
                if xs:
                    fig.kernel_lab_points += [{"panel": run.label, "series": f"{s}, {y['label']}",
                                               "x": rate, "y": m / 100, "ci95": e / 100 or None,
                                               **({"figures": v} if v else {})}
                                              for rate, m, e, v in zip(at, means, errs, each)]
                    ax.errorbar(xs, means, yerr=errs if any(errs) else None, fmt=y.get("marker", "o"),
                                color=colour, mfc=colour if filled else "white", capsize=3,
                                label=f"{s}, {y['label']}")
                    for x, v in zip(xs, each):
                        ax.plot([x] * len(v), [f * 100 for f in v], "_", color=colour, ms=7)
                        reach += [f * 100 for f in v]
                    shown_each = shown_each or any(each)
                    drawn += [(x, m, e, ax) for x, m, e in zip(xs, means, errs)]
                i += 1
        ax.set_xticks(range(len(rates)), [format_rate(r).replace(".00 ", " ").replace(" ", "\n")
                                          for r in rates], fontsize=8)
        ax.set_xlabel(spec.get("xlabel", "configured rate"))
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[::2]:  # the left column
        ax.set_ylabel(spec.get("ylabel", "error (%)"))
    lim = 0.0
    for ax in axes:  # shared y: one range for all panels, the band (or its note) on each
        lim = _scale_to_data(ax, [m + e for _, m, e, _ in drawn] + [m - e for _, m, e, _ in drawn]
                             + reach, tol)
    fig.kernel_lab_axes = {"ylim": [-lim, lim], "tolerance": tol / 100}
    if drawn:  # the worst point, labelled with its value
        x, m, _, ax = max(drawn, key=lambda d: abs(d[1]))
        ax.annotate(f"{m:+.2f} %", (x, m), xytext=(4, 6 if m >= 0 else -12),
                    textcoords="offset points", fontsize=7, fontweight="bold")
    _each_note(fig, shown_each)
    _legend(axes, by_name=True)
    return fig


def bars(spec: dict, lab: str, runs) -> plt.Figure | None:
    data = _drawn(spec, lab, runs)
    if not data:
        return None
    fig, axes = _panels([run for run, _ in data], len(runs) > 1,
                        sharey=_same_measurements(data, lambda r: _label(r, spec["group"])))
    scale = float(spec.get("scale", 1.0))
    shown_each = False
    order = spec.get("order", [])  # groups in the order the story goes; the rest after them
    for ax, (run, recs) in zip(axes, data):
        groups = []
        for r in recs:
            g = _label(r, spec["group"])
            if g not in groups:
                groups.append(g)
        groups.sort(key=lambda g: order.index(g) if g in order else len(order))
        if "series" in spec:  # one bar per series value, all of the one value path
            names = sorted({_label(r, spec["series"]) for r in recs})
            bars_ = [(name, spec["value"], lambda r, name=name: _label(r, spec["series"]) == name)
                     for name in names]
        else:
            bars_ = [(v["label"], v, lambda r: True) for v in spec["values"]]
        width = 0.8 / max(len(bars_), 1)
        for i, (name, path, keep) in enumerate(bars_):
            heights, errs, each = [], [], []
            for g in groups:
                vals = [_value(r, path) for r in recs if _label(r, spec["group"]) == g and keep(r)]
                vals = [v for v in vals if v is not None]
                st = summarize(vals) if vals else None
                heights.append(st.mean * scale if st else 0.0)
                errs.append((st.half_width or 0) * scale if st and st.n >= MIN_INTERVAL else 0.0)
                each.append([v * scale for v in vals] if st and 1 < st.n < MIN_INTERVAL else [])
            fig.kernel_lab_points += [{"panel": run.label, "group": g, "series": name,
                                       "y": h / scale if scale else h}
                                      for g, h in zip(groups, heights)]
            xs = [j + i * width for j in range(len(groups))]
            ax.bar(xs, heights, width, yerr=errs if any(errs) else None, capsize=3, label=name,
                   color=COLOURS[i % len(COLOURS)])
            for x, v in zip(xs, each):  # as in the atlas: too few for an interval, each shown
                ax.plot([x] * len(v), v, "_", color="black", ms=10)
            shown_each = shown_each or any(each)
            if spec.get("annotate"):  # another figure of the same bar, written on it
                _annotate(ax, spec["annotate"], recs, spec["group"], groups, keep, xs, heights)
        ax.set_xticks([j + width * (len(bars_) - 1) / 2 for j in range(len(groups))], groups,
                      fontsize=8, rotation=spec.get("rotate", 0))
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[::2]:
        ax.set_ylabel(spec.get("ylabel", ""))
    _each_note(fig, shown_each)
    _legend(axes)
    return fig


def _value(record: dict, what) -> float | None:
    """A bar's number: ``what`` is a path, or ``{path, per}`` (``path`` divided by the
    record's ``per``: goodput as a share of what the rate carries); ``path`` may list
    alternatives, the first the record has (a policer's drops and a shaper's are two figures)."""
    path, per = (what, None) if isinstance(what, str) else (what["path"], what.get("per"))
    value = next((v for p in ([path] if isinstance(path, str) else path)
                  for v in [get(record, p)] if is_number(v)), None)
    if value is None or per is None:
        return value
    base = get(record, per)
    return value / base if is_number(base) and base else None


def _annotate(ax, note: dict, recs, group, groups, keep, xs, heights) -> None:
    """``annotate = {path, text}``: the mean of ``path`` (as ``_value`` reads it) over each
    bar's records, formatted by ``text`` (``"{:.0f} dropped"``), above the bar."""
    for g, x, h in zip(groups, xs, heights):
        vals = [_value(r, note) for r in recs if _label(r, group) == g and keep(r)]
        vals = [v for v in vals if v is not None]
        if vals:
            ax.annotate(note["text"].format(sum(vals) / len(vals)), (x, h), xytext=(0, 3),
                        textcoords="offset points", ha="center", fontsize=7)


def matrix(spec: dict, lab: str, runs) -> plt.Figure | None:
    data = _drawn(spec, lab, runs)
    if not data:
        return None
    fig, axes = _panels([run for run, _ in data], len(runs) > 1, sharey=False)
    for ax, (run, recs) in zip(axes, data):
        rows = sorted({str(get(r, spec["rows"])) for r in recs})
        cols = sorted({str(get(r, spec["cols"])) for r in recs})
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                hit = [get(r, spec["value"]) for r in recs
                       if str(get(r, spec["rows"])) == row and str(get(r, spec["cols"])) == col]
                text, colour = ("-", "#eeeeee") if not hit else \
                    (("yes", "#a9d18e") if hit[-1] else ("no", "#f4b183"))
                fig.kernel_lab_points.append({"panel": run.label, "row": row, "col": col,
                                              "y": hit[-1] if hit else None})
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color=colour, ec="white", lw=2))
                ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=11)
        ax.set_xlim(0, len(cols))
        ax.set_ylim(0, len(rows))
        ax.set_xticks([j + 0.5 for j in range(len(cols))], cols)
        ax.set_yticks([i + 0.5 for i in range(len(rows))], rows)
        ax.set_xlabel(spec.get("xlabel", spec["cols"]))
        ax.set_ylabel(spec.get("ylabel", spec["rows"]))
        ax.tick_params(length=0)
    return fig


def _texts(fig) -> list[str]:
    """Every text drawn in the figure (titles, labels, notes), for checking what it says."""
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


KINDS = {"error_vs_rate": error_vs_rate, "bars": bars, "matrix": matrix}


def make_plots(runs, out_dir: str) -> dict[str, str]:
    """Every declared plot of every lab in ``runs``: {title: png path}."""
    plots = {}
    for lab in labs_of(runs):
        present = [run for run in runs if any(r["lab"] == lab for r in run.records)]
        pres = load(lab, records=[r for run in present for r in run.records])
        for n, spec in enumerate(pres.plots):
            fig = KINDS[spec["kind"]](spec, lab, present)
            if fig is None:
                continue
            title = f"{lab}: {spec.get('title', spec['kind'])}"
            fig.tight_layout()
            path = inside(out_dir, f"{lab}-{n + 1}.png")
            fig.savefig(path, dpi=130, bbox_inches="tight")  # the legend beside the grid
            with open(path[:-4] + ".json", "w") as f:
                json.dump({"title": title, "points": fig.kernel_lab_points,
                           "axes": fig.kernel_lab_axes, "texts": _texts(fig)}, f, indent=1)
            plt.close(fig)
            plots[title] = path
    return plots
