"""Per-lab presentation: the few columns and plots that carry a lab's finding.

Each lab may declare, in ``labs/<lab>/slides.toml``, what a slide shows of it::

    title = "Ingress shaping through an ifb device"
    finding = "HTB and TBF on an ifb hold the configured rate within 5 %"
    rows = "derived.configured_bps"          # only records that have this field
    sort = ["params.qdisc", "derived.configured_bps", "params.generator"]
    compare = ["error", "throughput"]        # shown per kernel side by side: the first a row has
    topology = "test_ingress_shaping_is_accurate"   # whose netlink snapshot to draw

    [headline]                               # the lab's finding in one line on the summary slide
    text = "HTB and TBF on an ifb"           # -> "HTB and TBF on an ifb: 32 figures, worst +0.07 %"
    value = "derived.counter_error"          # the figure; worst = largest |value| (or "max", "min",
                                             # "range": lowest and highest, each with its case)
    match = { "params.inner_mtu" = 1500 }    # optional: only the records of the case it is about
    unit = "fragments per datagram"          # optional: said after the number
    label = ["params.datapath"]              # optional: names the case of a figure it quotes

    [[column]]
    value = "derived.configured_bps"         # a dotted path into the record
    header = "rate"                          # default: what the figure's declaration calls it
    format = "rate"                          # default: the figure's (text, rate, percent, ...)

    [[plot]]
    kind = "error_vs_rate"                   # error_vs_rate, bars, matrix (harness.report.plots)
    ...

Everything else stays in the records and in the HTML report's detail view.  A lab without the
file gets a plain table: measurement, verdict.

Every ``derived.<key>`` path in the file must name a declared figure (harness.core.figures):
checked when pytest collects the lab (its code, which declares its own figures, is loaded
then): a misspelled path is an error naming the nearest figure, before anything runs.  A report
reads the declarations its records carry; a lab figure no record of the run carries (its test
did not run) has nothing to show, and its column stays empty.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field

from ..core.errors import HarnessError
from ..core.figures import check_path
from ..core.paths import check_name
from ..core.units import format_rate
from ..measure.stats import summarize

LABS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "labs")


@dataclass
class Column:
    header: str
    value: str
    format: str = "text"
    key: bool | None = None  # says which measurement a row is (default: the text columns)


@dataclass
class Presentation:
    lab: str
    title: str
    finding: str = ""
    columns: list[Column] = field(default_factory=list)
    rows: str | None = None
    sort: list[str] = field(default_factory=list)
    compare: str | None = None
    topology: str | None = None
    plots: list[dict] = field(default_factory=list)
    rows_per_frame: int = 9
    headline: dict = field(default_factory=dict)
    shown: str | None = None  # set by cross_kernel: the one figure its cells show, if one

    @property
    def compared(self) -> list[str]:
        """The headers shown per kernel side by side (``compare``: one, or a list: the first
        a measurement has)."""
        return [self.compare] if isinstance(self.compare, str) else list(self.compare or [])

    @property
    def key_columns(self) -> list[Column]:
        """The columns that say which measurement a row is: ``key = true`` in slides.toml, else
        the text ones (a configured rate is a key, a measured one is not)."""
        return [c for c in self.columns if (c.key if c.key is not None else c.format == "text")]


def load(lab: str, labs_dir: str = LABS_DIR, records: list[dict] | None = None,
         strict: bool = False) -> Presentation:
    """The lab's presentation.  ``strict`` (at collection): every figure it names must be
    declared; else (a report) a figure neither declared here nor carried by ``records`` is
    one this run did not measure."""
    path = os.path.join(labs_dir, check_name(lab, "lab"), "slides.toml")
    if not os.path.exists(path):
        return Presentation(lab, lab, columns=[Column("measurement", "name"),
                                               Column("verdict", "verdict", "verdict")])
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    carried: dict = {}
    for r in records or []:
        if r.get("lab") == lab and isinstance(r.get("derived", {}).get("metrics"), dict):
            carried.update(r["derived"]["metrics"])
    where = f"labs/{lab}/slides.toml"

    def figure_of(path):
        try:
            return check_path(path, where, carried)
        except HarnessError:
            if strict:
                raise
            return None

    for value in _strings(spec):
        figure_of(value)
    columns = []
    for c in spec.get("column", []):
        if "value" not in c:
            raise HarnessError(f"{where}: a column without a value: {c}")
        fig = figure_of(c["value"])
        columns.append(Column(c.get("header") or (fig.label if fig else c["value"]), c["value"],
                              c.get("format") or (fig.format if fig else "text"), c.get("key")))
    return Presentation(lab, spec.get("title", lab), spec.get("finding", ""), columns,
                        spec.get("rows"), spec.get("sort", []), spec.get("compare"),
                        spec.get("topology"), spec.get("plot", []), spec.get("rows_per_frame", 9),
                        spec.get("headline", {}))


def _strings(spec):
    """Every string of the spec that is a record path into ``derived``."""
    if isinstance(spec, dict):
        for v in spec.values():
            yield from _strings(v)
    elif isinstance(spec, list):
        for v in spec:
            yield from _strings(v)
    elif isinstance(spec, str) and spec.startswith("derived."):
        yield spec


def drawn_record(pres: Presentation, records: list[dict], key: str) -> dict | None:
    """The record of the lab whose ``state[key]`` the report shows (its topology, its recipe):
    the test ``pres.topology`` names, else the first record that keeps one."""
    candidates = [r for r in records if r["lab"] == pres.lab and r.get("state", {}).get(key)]
    chosen = [r for r in candidates if pres.topology and
              r["test_id"].split("::")[-1].split("[")[0] == pres.topology]
    return (chosen or candidates or [None])[0]


def get(record: dict, path: str):
    """The value at a dotted path of a record (``derived.goodput_error``), or None."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def fmt_value(value, kind: str) -> str:
    if value is None or value == "":
        return "-"
    if kind == "rate":
        return format_rate(float(value)).replace(".00 ", " ")
    if kind == "percent":
        return f"{value * 100:+.2f} %"
    if kind == "share":
        return f"{value * 100:.1f} %"
    if kind == "float2":
        return f"{value:.2f}"
    if kind == "int":
        return f"{int(round(value))}"
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)


def is_number(value) -> bool:
    """A figure's value that can be counted (a bool is not one, though Python says it is)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt_summary(values: list, kind: str) -> str:
    """One cell for the values of a measurement's records: the value, or mean +- 95 % CI
    (not for a value every record shares, e.g. a configured rate: "8 Mbit/s", not "+- 0")."""
    numbers = [v for v in values if is_number(v)]
    if kind in ("text", "verdict", "bool") or not numbers:
        return fmt_value(values[-1] if values else None, kind)
    s = summarize(numbers)
    if s.half_width is None or len(set(numbers)) == 1:
        return fmt_value(s.mean, kind)
    hw = fmt_value(s.half_width, kind).lstrip("+")
    return f"{fmt_value(s.mean, kind)} ± {hw}"


def sort_key(pres: Presentation, record: dict):
    return [(str(type(get(record, p))), get(record, p) if get(record, p) is not None else "")
            for p in pres.sort] + [record.get("name", "")]


def groups(pres: Presentation, records: list[dict]) -> list[list[dict]]:
    """The records of the lab that the table shows, one group per measurement, in order."""
    mine = [r for r in records if r["lab"] == pres.lab and
            (pres.rows is None or get(r, pres.rows) is not None or _unfigured_failure(pres, r))]
    by_name: dict[str, list[dict]] = {}
    for r in sorted(mine, key=lambda r: sort_key(pres, r)):
        by_name.setdefault(r.get("name") or r["test_id"], []).append(r)
    return list(by_name.values())


def _unfigured_failure(pres: Presentation, record: dict) -> bool:
    """A test that did not pass before it recorded the figures a row is made of (e.g. "<test>
    (failed before its first record)"): a table still shows it, named, never leaves it out."""
    return record.get("verdict") not in ("passed", "skipped") and pres.rows is not None \
        and get(record, pres.rows) is None


def _named(pres: Presentation, record: dict, cells: list[str]) -> list[str]:
    """A row's cells, the first naming the test when the record has none of the row's figures."""
    if cells and _unfigured_failure(pres, record):
        return [record.get("name") or record.get("test_id", "?")] + cells[1:]
    return cells


def mark(verdict: str) -> str:
    """A table's verdict cell: empty for a pass (a slide marks only what failed, was skipped
    or is flaky), the verdict otherwise."""
    return "" if verdict == "passed" else verdict


def _cells(pres: Presentation, recs: list[dict], verdict_of) -> list[str]:
    return _named(pres, recs[0], [mark(verdict_of(recs)) if c.format == "verdict" else
                                  fmt_summary([get(r, c.value) for r in recs], c.format)
                                  for c in pres.columns])


def _without_empty_verdicts(pres: Presentation, headers, rows):
    """Drop a verdict column in which every row passed."""
    drop = {i for i, c in enumerate(pres.columns)
            if c.format == "verdict" and not any(row[i] for row in rows)}
    return ([h for i, h in enumerate(headers) if i not in drop],
            [[cell for i, cell in enumerate(row) if i not in drop] for row in rows])


def table(pres: Presentation, records: list[dict], verdict_of) -> tuple[list[str], list[list[str]]]:
    """The lab's slide table for one run: its columns, a row per measurement; the verdict
    column only where something did not pass."""
    rows = [_cells(pres, recs, verdict_of) for recs in groups(pres, records)]
    return _without_empty_verdicts(pres, [c.header for c in pres.columns], rows)


def cross_kernel(pres: Presentation, runs, verdict_of) -> tuple[list[str], list[list[str]]]:
    """The same measurements on several kernels: the key columns, then per kernel the first
    of the compared columns that the measurement has, marked when it did not pass.  When
    every measurement ran on one kernel only (a lab split across kernels to fill what one
    lacks), a kernel-by-kernel grid would be half empty: one table of the lab's columns, with
    the kernel each figure came from."""
    keys = pres.key_columns or [Column("measurement", "name")]
    compared = [c for header in pres.compared for c in pres.columns if c.header == header]
    order, where = [], {}
    for run in runs:
        for recs in groups(pres, run.records):
            ident = tuple(_named(pres, recs[0], [fmt_summary([get(recs[0], k.value)], k.format)
                                                 for k in keys]))
            if ident not in where:
                order.append(ident)
                where[ident] = {}
            where[ident][run.label] = recs
    if all(len(on) == 1 for on in where.values()):
        rows = [_cells(pres, recs, verdict_of) + [label]
                for ident in order for label, recs in where[ident].items()]
        return _without_empty_verdicts(pres, [c.header for c in pres.columns] + ["kernel"], rows)

    def text(c, recs) -> str:
        return mark(verdict_of(recs)) if c.format == "verdict" else \
            fmt_summary([get(r, c.value) for r in recs], c.format)

    def shown(ident) -> Column | None:
        """The first compared column that the measurement has on some kernel."""
        return next((c for c in compared for recs in where[ident].values()
                     if text(c, recs) not in ("", "-")), None)

    def cell(c, recs) -> str:
        if recs is None:
            return "-"
        verdict = mark(verdict_of(recs))
        value = text(c, recs) if c is not None else "-"
        if value in ("", "-"):
            return verdict or "ok"
        return f"{value}, {verdict}" if verdict and value != verdict else value

    chosen = {ident: shown(ident) for ident in order}
    shows = {c.header for c in chosen.values() if c}
    named = len(shows) > 1  # rows show different figures: a column names each row's
    pres.shown = None if named or not shows else shows.pop()  # else the table's caption does
    headers = [k.header for k in keys] + (["figure"] if named else []) + [run.label for run in runs]
    rows = []
    for ident in order:
        c = chosen[ident]
        rows.append(list(ident) + ([c.header if c else "-"] if named else [])
                    + [cell(c, where[ident].get(run.label)) for run in runs])
    return headers, rows
