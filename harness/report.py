"""Tables from result records (never re-runs anything).

``render_run(run_dir, fmt)`` gives one table per lab: what was configured, what was measured,
the error against the expectation, the tolerance and the verdict.  Formats are tabulate's:
``md`` (GitHub Markdown), ``latex`` (booktabs), ``html``.
"""

from __future__ import annotations

import os
from collections import defaultdict

from tabulate import tabulate

from .results import load_records
from .units import format_rate

FORMATS = {"md": "github", "latex": "latex_booktabs", "html": "html"}


def _fmt_pct(x):
    return "" if x is None else f"{x * 100:+.2f} %"


def _fmt_rate(x):
    return "" if x in (None, "") else format_rate(float(x))


def rows_for(records: list[dict]) -> tuple[list[str], list[list]]:
    headers = ["test", "parameters", "configured", "expected goodput", "goodput", "error",
               "kernel counter", "counter error", "tolerance", "verdict"]
    rows = []
    for r in sorted(records, key=lambda r: (r["test_id"], r.get("measurement", 0))):
        d, p = r.get("derived", {}), r.get("params", {})
        params = ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("rate",))
        tol = r.get("tolerance")
        rows.append([
            r.get("name") or r["test_id"].split("::")[-1], params,
            _fmt_rate(d.get("configured_bps")), _fmt_rate(d.get("expected_goodput_bps")),
            _fmt_rate(d.get("goodput_bps")), _fmt_pct(d.get("goodput_error")),
            _fmt_rate(d.get("counter_rate_bps")), _fmt_pct(d.get("counter_error")),
            "" if tol is None else f"±{tol * 100:.2g} %", r.get("verdict", ""),
        ])
    # drop columns that no record fills
    keep = [i for i in range(len(headers)) if i < 2 or any(row[i] for row in rows)]
    return [headers[i] for i in keep], [[row[i] for i in keep] for row in rows]


def render_records(records: list[dict], fmt: str = "md") -> str:
    by_lab = defaultdict(list)
    for r in records:
        by_lab[r["lab"]].append(r)
    out = []
    for lab in sorted(by_lab):
        recs = by_lab[lab]
        k = recs[0].get("kernel", {})
        title = f"{lab} - kernel {k.get('release', '?')} ({k.get('where', '?')})"
        headers, rows = rows_for(recs)
        table = tabulate(rows, headers=headers, tablefmt=FORMATS[fmt])
        if fmt == "md":
            out.append(f"### {title}\n\n{table}\n")
        elif fmt == "latex":
            out.append(f"% {title}\n{table}\n")
        else:
            out.append(f"<h3>{title}</h3>\n{table}\n")
    return "\n".join(out)


def render_run(run_dir: str, fmt: str = "md") -> str:
    records, problems = load_records(run_dir)
    text = render_records(records, fmt)
    if problems:
        text += "\n" + "\n".join(f"skipped file: {p}" for p in problems)
    return text


def resolve_run(results_root: str, run: str | None) -> str:
    """A run folder from a name, a path, or (None) the latest run."""
    if run and os.path.isdir(run):
        return run
    candidate = os.path.join(results_root, run or "latest")
    if os.path.isdir(candidate):
        return os.path.realpath(candidate)
    from .errors import HarnessError

    raise HarnessError(f"no run {run or 'latest'} under {results_root}")
