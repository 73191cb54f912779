"""What a lab really built, read back from the kernel over netlink at the end of a test.

For every namespace of the run: its links (kind, MTU, state, addresses, bridge master, veth
peer, tunnel endpoints and parameters), qdiscs, classes and filters with their parameters
(HTB's default, rate, ceil, buffers and quantum; TBF's rate, buffer and limit; u32's keys and
classid) and actions (a mirred redirect and its target, skbedit's priority and mark), and,
where a private Open vSwitch runs, its bridges and ports.  The snapshot is
plain JSON: it goes into the test's record (``state.topology``) and the report draws the
diagram from it, never from a hand-drawn picture.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import subprocess

from pyroute2 import IPRoute

from ..core import netns
from ..run.registry import state_dir
from .tc import fmt_handle

TC_H_ROOT, TC_H_INGRESS, CLSACT_EGRESS = 0xFFFFFFFF, 0xFFFFFFF1, 0xFFFFFFF3
GRE_PARAMS = ("IFLA_GRE_IKEY", "IFLA_GRE_OKEY", "IFLA_GRE_TTL", "IFLA_GRE_PMTUDISC",
              "IFLA_GRE_IGNORE_DF")
VXLAN_PARAMS = ("IFLA_VXLAN_ID", "IFLA_VXLAN_PORT", "IFLA_VXLAN_LEARNING", "IFLA_VXLAN_DF")


def _h(h: int) -> str:
    """tc's spelling of a handle: ``1:`` for a qdisc, ``1:10`` for a class."""
    return f"{h >> 16:x}:" if h & 0xFFFF == 0 else fmt_handle(h)


def _parent(h: int) -> str:
    return {TC_H_ROOT: "root", TC_H_INGRESS: "ingress", 0xFFFF0000: "ingress",
            0xFFFFFFF2: "ingress", CLSACT_EGRESS: "egress"}.get(h, _h(h))


def _links(ipr) -> list[dict]:
    addrs: dict[int, list[str]] = {}
    for a in ipr.get_addr():
        ip = a.get_attr("IFA_ADDRESS")
        if ip and not ipaddress.ip_address(ip).is_link_local:
            addrs.setdefault(a["index"], []).append(f"{ip}/{a['prefixlen']}")
    out = []
    for msg in ipr.get_links():
        info = msg.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info else None
        raw = info.get_attr("IFLA_INFO_DATA") if info else None
        data = dict(raw["attrs"]) if raw is not None and not isinstance(raw, (str, bytes)) \
            else {}  # pyroute2 leaves kinds it does not decode (erspan) as a string
        link = {"index": msg["index"], "name": msg.get_attr("IFLA_IFNAME"), "kind": kind,
                "mtu": msg.get_attr("IFLA_MTU"), "up": bool(msg["flags"] & 1),
                "addresses": sorted(addrs.get(msg["index"], [])),
                "master": msg.get_attr("IFLA_MASTER"), "peer": None, "tunnel": None}
        if kind == "veth":
            link["peer"] = msg.get_attr("IFLA_LINK")
            link["peer_netnsid"] = msg.get_attr("IFLA_LINK_NETNSID")
        if kind in ("gre", "gretap"):
            link["tunnel"] = {"local": data.get("IFLA_GRE_LOCAL"),
                              "remote": data.get("IFLA_GRE_REMOTE"),
                              **{k[9:].lower(): data.get(k) for k in GRE_PARAMS}}
        elif kind == "vxlan":
            link["tunnel"] = {"local": data.get("IFLA_VXLAN_LOCAL"),
                              "remote": data.get("IFLA_VXLAN_GROUP"),
                              **{k[11:].lower(): data.get(k) for k in VXLAN_PARAMS}}
        out.append(link)
    return out


def _qdisc_options(q) -> dict:
    """What a qdisc was configured with (the shapers' parameters, as the kernel keeps them)."""
    opts = q.get_attr("TCA_OPTIONS")
    kind = q.get_attr("TCA_KIND")
    try:
        if kind == "htb":
            init = opts.get_attr("TCA_HTB_INIT")
            return {"default": f"{init['defcls']:x}", "r2q": init["rate2quantum"]}
        if kind == "tbf":
            p = opts.get_attr("TCA_TBF_PARMS")
            peak = {"peak_bps": p["peak"] * 8, "mtu": p["mtu"]} if p["peak"] else {}
            return {"rate_bps": p["rate"] * 8, "buffer": p["buffer"], "limit": p["limit"], **peak}
        if kind == "netem":
            # as a percent: the kernel keeps p x 2^32-1, which pyroute2 truncates (10 % is
            # 429496729) and tc rounds (429496730); either is 10 %
            return {"loss_percent": round(opts.get("loss") * 100 / 0xFFFFFFFF, 6)}
    except (AttributeError, KeyError, TypeError):
        pass
    return {}


def _tc(ipr) -> dict:
    qdiscs = [{"dev": q["index"], "kind": q.get_attr("TCA_KIND"), "handle": _h(q["handle"]),
               "parent": _parent(q["parent"]), **_qdisc_options(q)} for q in ipr.get_qdiscs()
              if q.get_attr("TCA_KIND") not in ("noqueue", None)]
    classes = []
    for c in (c for q in qdiscs for c in ipr.get_classes(index=q["dev"]) if q["kind"] == "htb"):
        opts = c.get_attr("TCA_OPTIONS")
        parms = opts.get_attr("TCA_HTB_PARMS") if opts is not None and \
            c.get_attr("TCA_KIND") == "htb" else None
        classes.append({"dev": c["index"], "kind": c.get_attr("TCA_KIND"),
                        "handle": _h(c["handle"]), "parent": _parent(c["parent"]),
                        "rate_bps": parms["rate"] * 8 if parms else None,
                        **({"ceil_bps": parms["ceil"] * 8, "buffer": parms["buffer"],
                            "cbuffer": parms["cbuffer"], "quantum": parms["quantum"],
                            "prio": parms["prio"]} if parms else {})})
    filters = []
    for q in qdiscs:
        if q["kind"] not in ("ingress", "clsact", "htb", "prio"):
            continue
        parents = {"ingress": [0xFFFF0000], "clsact": [0xFFFFFFF2, CLSACT_EGRESS]}.get(
            q["kind"], [int(q["handle"].split(":")[0], 16) << 16])
        for parent in parents:
            for f in ipr.get_filters(index=q["dev"], parent=parent):
                kind = f.get_attr("TCA_KIND")
                if not kind:
                    continue
                actions = []
                opts = f.get_attr("TCA_OPTIONS")
                acts = None
                if opts is not None:
                    for key in ("TCA_U32_ACT", "TCA_MATCHALL_ACT", "TCA_FLOWER_ACT"):
                        try:
                            acts = opts.get_attr(key)
                        except Exception:  # noqa: BLE001 - that attribute is not in this kind
                            acts = None
                        if acts:
                            break
                for _, act in (acts or {}).get("attrs", []) if acts else []:
                    akind = act.get_attr("TCA_ACT_KIND")
                    entry = {"kind": akind}
                    if akind == "mirred":
                        parms = act.get_attr("TCA_ACT_OPTIONS").get_attr("TCA_MIRRED_PARMS")
                        entry.update(to=parms["ifindex"],
                                     action={1: "egress redirect", 2: "egress mirror",
                                             3: "ingress redirect", 4: "ingress mirror"}.get(
                                         parms["eaction"], str(parms["eaction"])))
                    elif akind == "skbedit":
                        o = act.get_attr("TCA_ACT_OPTIONS")
                        entry.update({k[12:].lower(): o.get_attr(k) for k in
                                      ("TCA_SKBEDIT_PRIORITY", "TCA_SKBEDIT_MARK")
                                      if o.get_attr(k) is not None})
                    actions.append(entry)
                entry = {"dev": q["dev"], "kind": kind, "parent": _parent(parent),
                         "prio": f["info"] >> 16, "protocol": socket.ntohs(f["info"] & 0xFFFF),
                         "actions": actions, **_filter_options(kind, opts)}
                if entry not in filters and (actions or not any(
                        f["dev"] == q["dev"] and f["kind"] == kind for f in filters)):
                    filters.append(entry)
    return {"qdiscs": qdiscs, "classes": classes, "filters": filters}


def _filter_options(kind: str, opts) -> dict:
    """A classifier's match and target: u32's keys (value, mask, offset) and classid, fw's."""
    if opts is None:
        return {}
    try:
        if kind == "u32":
            sel = opts.get_attr("TCA_U32_SEL")
            return {"keys": u32_keys(sel) if sel else [],
                    "classid": _h(opts.get_attr("TCA_U32_CLASSID") or 0)}
        if kind == "fw":
            return {"classid": _h(opts.get_attr("TCA_FW_CLASSID") or 0)}
    except (AttributeError, KeyError, TypeError):
        pass
    return {}


def u32_keys(sel) -> list[list[int]]:
    """u32's keys as [value, mask, offset], read from the selector's own bytes.

    pyroute2 0.9.7 decodes them 4 bytes early (it starts 16 bytes into the attribute, where its
    4-byte header and the 16-byte ``tc_u32_sel`` come first), which reads ``hmask`` as a key.
    Each ``tc_u32_key`` is mask and value in network order, then offset and offmask in host's."""
    start = sel.offset + 4 + 16
    out = []
    for i in range(sel["nkeys"]):
        mask, value = struct.unpack_from(">II", sel.data, start + 16 * i)
        (offset,) = struct.unpack_from("=i", sel.data, start + 16 * i + 8)
        out.append([value, mask, offset])
    return out


def _netnsids(ipr, names: list[str]) -> dict[int, str]:
    """nsid -> namespace name, as the namespace of ``ipr`` numbers the others."""
    out = {}
    for other in names:
        fd = os.open(netns.path(other), os.O_RDONLY)
        try:
            got = ipr.get_netnsid(fd=fd)
        except Exception:  # noqa: BLE001 - a namespace that went away meanwhile
            got = None
        finally:
            os.close(fd)
        if got and got.get("nsid") is not None and got["nsid"] >= 0:
            out[got["nsid"]] = other
    return out


def _ovs(prefix: str, name: str) -> dict | None:
    """Bridges and ports of the private OVS running in namespace ``name``, if any."""
    sock = os.path.join(state_dir(prefix), f"ovs-{name}", "db.sock")
    if not os.path.exists(sock):
        return None

    def vsctl(*args):
        res = subprocess.run(["ovs-vsctl", f"--db=unix:{sock}", "--timeout=5", *args],
                             capture_output=True, text=True)
        return res.stdout.split() if res.returncode == 0 else []

    bridges = {}
    for br in vsctl("list-br"):
        ports = {}
        for port in vsctl("list-ports", br):
            kind = vsctl("get", "interface", port, "type")
            remote = vsctl("get", "interface", port, "options:remote_ip") if kind and \
                kind[0].strip('"') in ("gre", "vxlan", "geneve") else []
            ports[port] = {"type": (kind[0].strip('"') if kind else "") or "system",
                           "remote_ip": remote[0].strip('"') if remote else None}
        bridges[br] = {"datapath": (vsctl("get", "bridge", br, "datapath_type") or ["system"])[0]
                       .strip('"') or "system", "ports": ports}
    return {"bridges": bridges}


def run_namespaces(run, skip=("probe",)) -> list[str]:
    """The namespaces of ``run`` that exist now, but the scratch ones."""
    return [n for n in run.namespaces if n[len(run.prefix):] not in skip and netns.exists(n)]


def snapshot(run, skip=("probe",)) -> dict:
    """The kernel's view of every namespace of ``run`` (but the scratch ones)."""
    spaces = []
    names = run_namespaces(run, skip)
    for name in names:
        short = name[len(run.prefix):]
        with IPRoute(use_socket=netns.netlink_socket(name)) as ipr:
            entry = {"name": name, "short": short, "links": _links(ipr), **_tc(ipr)}
            nsids = _netnsids(ipr, [n for n in names if n != name])
            for link in entry["links"]:  # a veth's peer: which namespace it lives in
                if link.get("peer_netnsid") is not None:
                    link["peer_namespace"] = nsids.get(link["peer_netnsid"])
                elif link["kind"] == "veth":
                    link["peer_namespace"] = name
        ovs = _ovs(run.prefix, name)
        if ovs:
            entry["ovs"] = ovs
        spaces.append(entry)
    return {"prefix": run.prefix, "namespaces": spaces}
