"""The report's failure view: for each failed or regressed test, what a kernel developer looks
at first.

Per failed attempt (its first record), and per passed test whose figure regressed against the
baseline (``evidence.regressed``, kept by harness.results.pending): the test and kernel, the
assertion (the record's reason) or the regression, the counters that moved over its call
(``evidence.rows``, largest first: only what changed), the packets captured on each link (a
summary, and the pcap files to download), the kernel splats with their fingerprints, and the
lab at the end of the call: its diagram (HTML, drawn from ``evidence.topology``) and its links
and qdiscs (``state.lab``).  Markdown and HTML.
"""

from __future__ import annotations

import html
import os

from tabulate import tabulate

from ..net.recipe import FALLBACK_DEVICES

ROWS = 20


def failed_records(records: list[dict]) -> list[dict]:
    """The first record of each failed attempt and of each regressed test, in test order."""
    seen, out = set(), []
    for r in sorted(records, key=lambda r: (r.get("test_id", ""), r.get("attempt", 1),
                                            r.get("measurement", 0))):
        key = (r.get("test_id"), r.get("attempt", 1), r.get("kernel", {}).get("release"))
        if key not in seen and (r.get("verdict") == "failed" or _regressed(r)):
            seen.add(key)
            out.append(r)
    return out


def _regressed(r: dict) -> str:
    return (r.get("evidence") or {}).get("regressed") or ""


def _what(r: dict) -> str:
    return "REGRESSED" if r.get("verdict") != "failed" and _regressed(r) else "FAILED"


def _why(r: dict) -> str:
    return (_regressed(r) if _what(r) == "REGRESSED"
            else r.get("reason") or "(no reason recorded)")


def diagram_svg(r: dict) -> str:
    """The lab at the end of the failing call as inline SVG ("" without a snapshot)."""
    topo = (r.get("evidence") or {}).get("topology")
    if not topo or not topo.get("namespaces"):  # nothing built yet: no empty drawing
        return ""
    # graphviz only here: a guest's session prints the Markdown view and has no graphviz
    import graphviz

    from . import topology

    try:
        svg = topology.diagram(topo).pipe(format="svg").decode()
    except (graphviz.backend.ExecutableNotFound, graphviz.backend.CalledProcessError,
            KeyError, TypeError) as exc:
        return f"<p class=problem>topology not drawn: {html.escape(str(exc))}</p>"
    return svg[svg.find("<svg"):]


def _counter_rows(r: dict) -> list[list]:
    return [[name, f"{delta:+,}"] for name, delta in (r.get("evidence") or {}).get("rows", [])[:ROWS]]


def _lab_rows(r: dict) -> list[list]:
    """Each lab link with its kind, MTU, offloads and qdiscs; the devices a tunnel module makes
    in every namespace by itself (gre0, gretap0, ...) are left out, as in the diagram."""
    rows = []
    for ns, st in ((r.get("state") or {}).get("lab") or {}).items():
        if not isinstance(st, dict):
            continue
        for dev, link in st.get("links", {}).items():
            if dev in FALLBACK_DEVICES:
                continue
            offl = ",".join(k for k in ("gso", "gro", "tso") if link.get(k)) or "-"
            qd = [k.split(" ", 1)[1] for k in st.get("tc", {}) if k.startswith(dev + " ")]
            rows.append([ns, dev, link.get("kind") or "-", link.get("mtu"), offl,
                         "; ".join(qd) or "-"])
    return rows


def _capture_rows(r: dict) -> list[list]:
    rows = []
    for c in (r.get("evidence") or {}).get("captures", []):
        sm = c.get("summary", {})
        protos = ", ".join(f"{k} {v}" for k, v in list(sm.get("protocols", {}).items())[:4]) or "-"
        rows.append([c["namespace"], c["link"], sm.get("packets", 0), protos,
                     sm.get("ipv4_fragments", 0), c.get("tcpdump", {}).get("dropped by kernel", "-"),
                     c.get("files", [])])
    return rows


CAPTURE_HEADERS = ["namespace", "link", "packets (ring)", "protocols", "IPv4 fragments",
                   "dropped by tcpdump", "pcap files"]


def _splats(r: dict) -> list[str]:
    return [f"{s['kind']} [{s.get('fingerprint', '?')}]: {s['first_line']}"
            for s in r.get("kernel_log", {}).get("splats", [])]


def _attempt(r: dict) -> str:
    return f" (attempt {r['attempt']})" if r.get("attempt", 1) > 1 else ""


def markdown(records: list[dict]) -> str:
    parts = []
    for r in failed_records(records):
        k = r.get("kernel", {})
        parts += [f"#### {_what(r)} {r['test_id']}{_attempt(r)} on {k.get('release')} "
                  f"({k.get('where')})", "", f"    {_why(r)}", ""]
        for line in _splats(r):
            parts.append(f"- kernel {line}")
        rows = _counter_rows(r)
        if rows:
            parts += ["", "Counters that moved over the call (largest first):", "",
                      tabulate(rows, headers=["counter", "change"], tablefmt="github"), ""]
        elif (r.get("evidence") or {}).get("problem"):
            parts.append(f"Counters: {r['evidence']['problem']}")
        rows = _capture_rows(r)
        if rows:
            parts += ["", "Packets captured on each link (the last few MB of each):", "",
                      tabulate([row[:-1] + [", ".join(row[-1][:1]) + (" ..." if len(row[-1]) > 1 else "")]
                                for row in rows], headers=CAPTURE_HEADERS, tablefmt="github"), ""]
        rows = _lab_rows(r)
        if rows:
            parts += ["", tabulate(rows, headers=["namespace", "link", "kind", "MTU", "offloads",
                                                   "qdiscs"], tablefmt="github"), ""]
    return "\n".join(parts)


def html_section(records: list[dict], base_of=None) -> str:
    """The failure view; ``base_of(record)`` gives the folder a record's capture files are
    named from, as the page's links see it (default: as named)."""
    failed = failed_records(records)
    if not failed:
        return ""
    parts = ["<section class=failures><h2>Failures and regressions</h2>"]
    for r in failed:
        k = r.get("kernel", {})
        parts.append(f"<h3>{_what(r)} {html.escape(r['test_id'])}{html.escape(_attempt(r))} on "
                     f"{html.escape(str(k.get('release')))} ({html.escape(str(k.get('where')))})</h3>"
                     f"<pre class=problem>{html.escape(_why(r))}</pre>")
        for line in _splats(r):
            parts.append(f"<p class=problem>kernel {html.escape(line)}</p>")
        rows = _counter_rows(r)
        if rows:
            parts.append("<p>Counters that moved over the call, largest first:</p>"
                         + tabulate(rows, headers=["counter", "change"], tablefmt="html"))
        elif (r.get("evidence") or {}).get("problem"):
            parts.append(f"<p>Counters: {html.escape(r['evidence']['problem'])}</p>")
        rows = _capture_rows(r)
        base = base_of(r) if base_of else ""
        if rows:
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row[:-1]) + "<td>"
                + " ".join(f"<a href='{html.escape(os.path.normpath(os.path.join(base, f)))}' download>"
                           f"{html.escape(f.rsplit('/', 1)[-1])}</a>"
                           for f in row[-1]) + "</td></tr>" for row in rows)
            parts.append("<p>Packets captured on each link (the last few MB of each; the pcap "
                         "files open in Wireshark and tcpdump):</p><table><tr>"
                         + "".join(f"<th>{h}</th>" for h in CAPTURE_HEADERS) + f"</tr>{body}</table>")
        svg = diagram_svg(r)
        if svg:
            parts.append(f"<p>The lab at the end of the call:</p><div class=topology>{svg}</div>")
        rows = _lab_rows(r)
        if rows:
            parts.append("<p>Its links and qdiscs at the end of the test:</p>" + tabulate(
                rows, headers=["namespace", "link", "kind", "MTU", "offloads", "qdiscs"],
                tablefmt="html"))
    parts.append("</section>")
    return "\n".join(parts)
