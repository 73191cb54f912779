"""The topology on the slide: a diagram drawn from the kernel's own state (the netlink snapshot
a test's record keeps in ``state.topology``), with graphviz.

One box per namespace; in it one node per link (name without the run prefix, kind, MTU,
addresses, root qdisc and classes); edges for veth peers (the cable), tunnels (local to remote),
bridge and OVS ports, and the mirred redirect from a device's ingress to its ifb.
"""

from __future__ import annotations

import copy
import html

import graphviz

from ..net.recipe import FALLBACK_DEVICES
from ..run.registry import PREFIX_RE

KIND_COLOURS = {"veth": "#dbe9f6", "ifb": "#fde2c8", "gre": "#e2f0d9", "gretap": "#e2f0d9",
                "vxlan": "#e2f0d9", "bridge": "#efe2f3", "tun": "#fff2cc", "openvswitch": "#efe2f3"}


def _short(prefix: str, name: str) -> str:
    return name[len(prefix):] if name and name.startswith(prefix) else name


def _facts(link: dict, ns: dict) -> dict[str, str]:
    """What a node shows that a lab's tests may set differently: its MTU, its qdiscs, its
    classes' rates."""
    qdiscs = sorted(q["kind"] for q in ns.get("qdiscs", [])
                    if q["dev"] == link["index"] and q["handle"] != "0:")
    rates = sorted(c["rate_bps"] for c in ns.get("classes", [])
                   if c["dev"] == link["index"] and c.get("rate_bps"))
    return {"MTU": str(link["mtu"]), "qdisc": " + ".join(qdiscs) or "none",
            "class rate": " + ".join(f"{r / 1e6:g} Mbit/s" for r in rates) or "none"}


def with_variants(topo: dict, others: list[dict], states: list[dict] = ()) -> dict:
    """``topo`` with ``varies`` on each link whose facts differ in ``others`` (the snapshots of
    the lab's other tests, matched by namespace and name without the run prefix) or whose MTU
    differs in ``states`` (every record's ``state.lab``: the MTUs of each parametrized case,
    where a snapshot is kept once per test function): e.g. ``{"MTU": ["1400", "1500"]}``.  The
    diagram then says the parameter varies by test."""
    seen: dict[tuple[str, str], dict[str, set]] = {}
    for t in [topo, *others]:
        for ns in t["namespaces"]:
            for link in ns["links"]:
                facts = seen.setdefault((ns["short"], _short(t.get("prefix", ""), link["name"])), {})
                for what, value in _facts(link, ns).items():
                    facts.setdefault(what, set()).add(value)
    for state in states:
        for short, info in state.items():
            for name, link in (info.get("links") or {}).items() if isinstance(info, dict) else ():
                key = (short, PREFIX_RE.sub("", name))
                if key in seen and isinstance(link, dict) and link.get("mtu"):
                    seen[key].setdefault("MTU", set()).add(str(link["mtu"]))
    out = copy.deepcopy(topo)
    for ns in out["namespaces"]:
        for link in ns["links"]:
            facts = seen[(ns["short"], _short(out.get("prefix", ""), link["name"]))]
            varies = {what: sorted(values, key=_natural) for what, values in facts.items()
                      if len(values) > 1}
            if varies:
                link["varies"] = varies
    return out


def _natural(text: str):
    return [(0, float(t), "") if t.replace(".", "", 1).isdigit() else (1, 0.0, t)
            for t in text.split()]


def _alternatives(values: list[str]) -> str:
    """``1400 | 1500``; a long list as its ends and its length."""
    return " | ".join(values) if len(values) <= 3 else f"{values[0]} … {values[-1]} ({len(values)})"


def _label(prefix: str, link: dict, qdiscs: list[dict], classes: list[dict]) -> str:
    varies = link.get("varies", {})
    mtu = _alternatives(varies["MTU"]) if "MTU" in varies else link["mtu"]
    rows = [f"<b>{html.escape(_short(prefix, link['name']))}</b>",
            html.escape(f"{link['kind'] or 'device'}, MTU {mtu}")]
    rows += [html.escape(a) for a in link["addresses"][:2]]
    if "qdisc" in varies:  # one test's qdisc would read as the lab's
        rows.append(html.escape(f"qdisc {_alternatives(varies['qdisc'])}"))
    else:
        for q in qdiscs:
            if q["dev"] == link["index"] and q["handle"] != "0:":  # not a device's default qdisc
                rows.append(html.escape(f"qdisc {q['kind']} {q['handle']} ({q['parent']})"))
    if "class rate" in varies:
        rows.append(html.escape(
            f"class rate {_alternatives([v for v in varies['class rate'] if v != 'none'])}"))
    else:
        for c in classes:
            if c["dev"] == link["index"] and c.get("rate_bps"):
                rows.append(html.escape(f"class {c['handle']} {c['kind']} {c['rate_bps'] / 1e6:g} Mbit/s"))
    if varies:
        rows.append(f"<i>{html.escape(' | '.join(varies) + ': by test')}</i>")
    return "<" + "<br/>".join(rows) + ">"


def _depths(shorts: list[str], cross: list[tuple[str, str]]) -> dict[str, int]:
    """Each namespace's row: 0 for a namespace at an end of the chain the cables and tunnels
    make (a VM), one more per step inwards (its hypervisor).  Namespaces in the same row sit side
    by side, joined by their cables: vm1 and vm2 above h1 and h2, which fits a 16:9 slide better
    than one row of four namespaces or a column of them."""
    ns_of = lambda node: node.split("/", 1)[0]  # noqa: E731
    peers: dict[str, set[str]] = {ns: set() for ns in shorts}
    for a, b in cross:
        if ns_of(a) in peers and ns_of(b) in peers and ns_of(a) != ns_of(b):
            peers[ns_of(a)].add(ns_of(b))
            peers[ns_of(b)].add(ns_of(a))
    depth = {ns: 0 for ns in shorts if len(peers[ns]) <= 1}
    frontier = list(depth)
    while frontier:
        nxt = []
        for ns in frontier:
            for peer in peers[ns]:
                if peer not in depth:
                    depth[peer] = depth[ns] + 1
                    nxt.append(peer)
        frontier = nxt
    return {ns: depth.get(ns, 0) for ns in shorts}


def diagram(topo: dict, title: str = "") -> graphviz.Graph:
    """The graphviz graph of a snapshot (``harness.net.snapshot``), in rows by the chain of
    namespaces (``_depths``); a bridge's port sits above it when it leads up a row.  Two
    namespaces joined only to each other (a, b) are one row, drawn left to right."""
    prefix = topo.get("prefix", "")
    g = graphviz.Graph("topology", graph_attr={"rankdir": "TB", "fontname": "Helvetica",
                                               "fontsize": "11", "label": title, "labelloc": "t",
                                               "newrank": "true"},
                       node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                                  "fontsize": "10"},
                       edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    by_index: dict[tuple[str, int], str] = {}
    veths, tunnels, vports, bridge_ports, shorts = [], [], [], [], []
    nodes_in: dict[str, list[str]] = {}
    for ns in topo["namespaces"]:
        if ns["short"].startswith("probe"):  # the capability probes' scratch: no lab's object
            continue
        shorts.append(ns["short"])
        nodes_in[ns["short"]] = mine = []
        ovs = (ns.get("ovs") or {}).get("bridges", {})
        # datapath internals and the fallback devices a tunnel module puts in every namespace
        hidden = set(ovs) | {"ovs-netdev", "ovs-system", "gre_sys", "lo"} | FALLBACK_DEVICES
        with g.subgraph(name=f"cluster_{ns['short']}") as sub:
            sub.attr(label=f"netns {ns['short']}", style="rounded", color="#888888")
            for link in ns["links"]:
                if link["name"] in hidden:
                    continue
                node = f"{ns['short']}/{link['name']}"
                by_index[(ns["name"], link["index"])] = node
                mine.append(node)
                sub.node(node, _label(prefix, link, ns.get("qdiscs", []), ns.get("classes", [])),
                         fillcolor=KIND_COLOURS.get(link["kind"], "#f2f2f2"))
                if link["kind"] == "veth" and link["peer"]:
                    veths.append((ns["name"], link))
                if link.get("tunnel") and link["tunnel"].get("local"):
                    tunnels.append((node, link))
            for br, info in ovs.items():
                node = f"{ns['short']}/ovs-{br}"  # no ':' in names: graphviz reads it as a port
                mine.append(node)
                sub.node(node, f"<<b>OVS {html.escape(br)}</b><br/>{html.escape(info['datapath'])} datapath>",
                         fillcolor=KIND_COLOURS["openvswitch"], shape="box3d")
                for port, port_info in info["ports"].items():
                    kind = port_info["type"] if isinstance(port_info, dict) else port_info
                    target = by_index.get(next(((nsn, idx) for (nsn, idx), n in by_index.items()
                                               if nsn == ns["name"] and n.endswith("/" + port)),
                                              None))
                    if target is None:  # a vport (gre): not a kernel device
                        target = f"{ns['short']}/vport-{port}"
                        sub.node(target, f"<{html.escape(port)}<br/>{html.escape(kind)} vport>",
                                 shape="ellipse", fillcolor="#e2f0d9")
                        if isinstance(port_info, dict) and port_info.get("remote_ip"):
                            vports.append((target, ns, port_info))
                    bridge_ports.append((node, target))
    cross: list[tuple[str, str, dict]] = []  # edges between namespaces
    drawn = set()
    for ns_name, link in veths:  # the cable: a veth and its peer (ifindex in its namespace)
        me = by_index.get((ns_name, link["index"]))
        peer = by_index.get((link.get("peer_namespace"), link["peer"]))
        if me and peer and frozenset((me, peer)) not in drawn:
            drawn.add(frozenset((me, peer)))
            cross.append((me, peer, dict(label="veth", penwidth="2")))
    addresses = {ns["name"]: {a.split("/")[0] for lk in ns["links"] for a in lk["addresses"]}
                 for ns in topo["namespaces"]}
    for node, ns, info in vports:  # an OVS tunnel port: to the port of the hypervisor it aims at
        for other, ons, _ in vports:
            if other != node and info["remote_ip"] in addresses[ons["name"]] and \
                    frozenset((node, other)) not in drawn:
                drawn.add(frozenset((node, other)))
                cross.append((node, other, dict(label=f"{info['type']} tunnel ({info['remote_ip']})",
                                                style="dashed", color="#2e7d32")))
    for node, link in tunnels:  # a tunnel: to the end whose local is our remote
        for other, olink in tunnels:
            if other != node and olink["tunnel"]["local"] == link["tunnel"]["remote"] and \
                    frozenset((node, other)) not in drawn:
                drawn.add(frozenset((node, other)))
                cross.append((node, other, dict(label=f"{link['kind']} tunnel", style="dashed",
                                                color="#2e7d32")))
    depth = _depths(shorts, [(a, b) for a, b, _ in cross])
    row = lambda node: depth.get(node.split("/", 1)[0], 0)  # noqa: E731
    leads_up = {n for a, b, _ in cross for n, other in ((a, b), (b, a)) if row(other) < row(n)}
    ranked: list[tuple[str, str]] = []  # the edges that set rows: tail above head
    flat = not any(depth.values())  # one row (a, b): left to right, cables as ranks
    if flat:
        g.graph_attr["rankdir"] = "LR"
    for a, b, attrs in cross:  # down a row, or across one (not a rank constraint)
        if flat:
            g.edge(a, b, **attrs)
        elif row(a) == row(b):
            g.edge(a, b, constraint="false", **attrs)
        else:
            ranked.append((a, b) if row(a) < row(b) else (b, a))
            g.edge(*ranked[-1], **attrs)
    for bridge, port in bridge_ports:
        ranked.append((port, bridge) if port in leads_up else (bridge, port))
        g.edge(*ranked[-1], style="dashed", color="#7030a0")
    heads = {head for _, head in ranked}
    for upper, lower in [(a, b) for a, b in ranked if row(a) < row(b)]:
        # the lower namespace's free nodes (an OVS bridge of its own) below the upper one too,
        # so that the two namespaces' boxes sit one above the other, not side by side
        ns = lower.split("/", 1)[0]
        for node in nodes_in[ns]:
            if node not in heads and node != lower:
                g.edge(upper, node, style="invis")
    for ns in topo["namespaces"]:
        for link in ns["links"]:
            master = link.get("master")
            if master and (ns["name"], master) in by_index and (ns["name"], link["index"]) in by_index:
                g.edge(by_index[(ns["name"], master)], by_index[(ns["name"], link["index"])],
                       label="port", style="dotted")
        for f in ns.get("filters", []):
            for act in f["actions"]:
                src, dst = by_index.get((ns["name"], f["dev"])), by_index.get((ns["name"], act.get("to")))
                if act["kind"] == "mirred" and src and dst:
                    g.edge(src, dst, label=f"{f['parent']}: {f['kind']} + mirred {act['action']}",
                           dir="forward", color="#c55a11", penwidth="2")
    return g


def render(topo: dict, path_without_ext: str, fmt: str = "png", title: str = "") -> str:
    """Write the diagram (``png`` or ``svg``) and return its path."""
    g = diagram(topo, title)
    return g.render(path_without_ext, format=fmt, cleanup=True)
