"""Every figure a record may carry, declared once, next to the measurement that makes it.

    GOODPUT = figure("goodput_bps", RATE, "goodput", better=HIGHER, threshold=0.10)

A declaration says what a figure is: its key in a record's ``derived``, its unit, what a slide
calls it and how a number is printed (from the unit, or ``fmt``).  A figure compared with
baselines also says how it is judged: the direction (``better``: higher, lower, or two-sided
against a prediction), the threshold of a first night (relative, or with ``absolute`` in the
figure's unit), ``transform="abs"`` (judge ``|value|``) and ``resolution`` (the smallest
threshold the nights' spread may set).  A figure without ``better`` is kept in the record and
never compared.  A key may hold one ``{placeholder}`` for a family (``rate_error_{class}``).

Everything else derives from the declarations (no other list of figure names exists):
- :func:`check_derived`: a record's ``derived`` keys are all declared, each value fits its unit
  (the recorder refuses a record that breaks this; a misspelling names the nearest figure);
- :func:`declarations_of`: the record carries its figures' declarations (``derived.metrics``),
  so baselines and ``compare`` judge any lab's figure without a central list, and reports know
  its unit and name, also where the lab's code is not loaded (``kernel-lab report``, a merge);
- the report takes a column's format and header from the figure; a ``slides.toml`` path
  ``derived.<key>`` must name a declared figure (:func:`check_path`), checked when the lab is
  collected and when a report reads it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass

from .errors import HarnessError

HIGHER, LOWER, TWO_SIDED = "higher", "lower", "two-sided"
#: units, and how each prints by default (harness.report.presentation formats)
RATE, SHARE, ERROR, COUNT, RATIO, BYTES, FLAG, TEXT, MS = (
    "bit/s", "share", "error", "count", "ratio", "bytes", "flag", "text", "ms")
UNIT_FORMATS = {RATE: "rate", SHARE: "share", ERROR: "percent", COUNT: "int", RATIO: "float2",
                BYTES: "int", FLAG: "bool", TEXT: "text", MS: "float2"}
#: what a record's ``derived`` may hold besides figures: the declarations themselves
RESERVED = {"metrics"}


@dataclass(frozen=True)
class Figure:
    key: str
    unit: str
    label: str
    better: str | None = None  # None: kept, never compared
    threshold: float | None = None  # a first night's; relative unless absolute
    absolute: bool = False
    transform: str = ""  # "abs": judged as |value|
    resolution: float = 0.0
    fmt: str = ""  # number format on a slide (default: the unit's)
    doc: str = ""

    @property
    def compared(self) -> bool:
        return self.better is not None

    @property
    def format(self) -> str:
        return self.fmt or UNIT_FORMATS[self.unit]

    def as_record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "doc" and (
                v not in ("", None, False, 0.0) or k in ("key", "unit", "label"))}


_FIGURES: dict[str, Figure] = {}
_FAMILIES: dict[str, tuple[re.Pattern, Figure]] = {}


def figure(key: str, unit: str, label: str, better: str | None = None,
           threshold: float | None = None, absolute: bool = False, transform: str = "",
           resolution: float = 0.0, fmt: str = "", doc: str = "") -> Figure:
    """Declare a figure (once; the same declaration again is the same figure)."""
    if unit not in UNIT_FORMATS:
        raise HarnessError(f"figure {key}: unit {unit!r} is not one of {sorted(UNIT_FORMATS)}")
    if better not in (None, HIGHER, LOWER, TWO_SIDED):
        raise HarnessError(f"figure {key}: better must be {HIGHER}, {LOWER} or {TWO_SIDED}")
    if better is not None and threshold is None:
        raise HarnessError(f"figure {key}: a compared figure needs a first night's threshold")
    if fmt and fmt not in set(UNIT_FORMATS.values()):
        raise HarnessError(f"figure {key}: format {fmt!r} is unknown")
    if key in RESERVED or not re.fullmatch(r"[a-z][a-z0-9_:]*(\{[a-z_]+\}[a-z0-9_:]*)?", key):
        raise HarnessError(f"figure {key!r}: lower-case letters, digits, _ and : (and one "
                           "{placeholder}) only")
    fig = Figure(key, unit, label, better, threshold, absolute, transform, resolution, fmt, doc)
    known = _FIGURES.get(key) or (_FAMILIES.get(key) or (None, None))[1]
    if known is not None and known != fig:
        raise HarnessError(f"figure {key} is declared twice, differently: {known} and {fig}")
    if "{" in key:
        pattern = re.escape(key[:key.index("{")]) + r"[0-9A-Za-z_.:-]+" + re.escape(
            key[key.index("}") + 1:])
        _FAMILIES[key] = (re.compile(pattern), fig)
    else:
        _FIGURES[key] = fig
    return fig


def declared(key: str) -> Figure | None:
    """The figure ``key`` names (a family's member too), or None."""
    if key in _FIGURES:
        return _FIGURES[key]
    for pattern, fig in _FAMILIES.values():
        if pattern.fullmatch(key):
            return fig
    return None


def known() -> list[str]:
    return sorted(_FIGURES) + sorted(_FAMILIES)


def nearest(key: str) -> str:
    close = difflib.get_close_matches(key, known(), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _fits(fig: Figure, value) -> bool:
    if value is None:
        return True
    if fig.unit == TEXT:
        return isinstance(value, str)
    if fig.unit == FLAG:
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return fig.unit not in (RATE, COUNT, BYTES, MS) or value >= 0


def check_derived(derived: dict) -> list[str]:
    """Problems of a record's ``derived``: undeclared keys, values that do not fit the unit."""
    problems = []
    for key, value in derived.items():
        if key in RESERVED:
            continue
        fig = declared(key)
        if fig is None:
            problems.append(f"derived.{key} is not a declared figure{nearest(key)}")
        elif not _fits(fig, value):
            problems.append(f"derived.{key} = {value!r} does not fit its unit {fig.unit}")
    return problems


def declarations_of(derived: dict) -> dict:
    """``derived.metrics`` completed: each figure of the record with its declaration (what the
    measurement said tonight, ``better``/``sigma``/``not_judged``, stays on top)."""
    out = {}
    said = derived.get("metrics") if isinstance(derived.get("metrics"), dict) else {}
    for key in derived:
        fig = declared(key)
        if key in RESERVED or fig is None:
            continue
        decl = fig.as_record()
        decl["key"] = key
        out[key] = {**decl, **(said.get(key) or {})}
    return out


def check_path(path: str, where: str, also: dict | None = None) -> Figure | None:
    """A record path of a slide (``derived.goodput_error``, ``params.qdisc``, ``verdict``): a
    ``derived`` path must name a declared figure (here, or in ``also``: declarations records
    carry); its figure, or None for another path."""
    parts = path.split(".")
    if parts[0] != "derived":
        return None
    fig = declared(parts[1]) if len(parts) == 2 else None
    if fig is None and len(parts) == 2 and isinstance((also or {}).get(parts[1]), dict):
        d = also[parts[1]]
        fig = Figure(parts[1], d.get("unit", TEXT), d.get("label", parts[1]), fmt=d.get("fmt", ""))
    if fig is None:
        raise HarnessError(f"{where}: {path} names no declared figure"
                           f"{nearest(parts[-1]) if len(parts) > 1 else ''}")
    return fig
