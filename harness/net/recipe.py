"""The recipe that ran, as the ``ip``/``tc`` commands it is equal to.

A lab builds over netlink (pyroute2).  Each namespace's netlink socket is wrapped
(:class:`RecordingIPRoute`): every call that changes something (``link``, ``addr``, ``route``,
``neigh`` and ``tc``, add/set/replace/del) is passed on unchanged, and once the kernel has
accepted it, the iproute2 command that does the same is appended to the lab's
:class:`Recipe`, with every parameter the call set (an HTB class's burst, cburst and quantum; a
TBF's limit; a tunnel's ttl and pmtudisc).  What the harness does outside rtnetlink says its
own line: namespaces (``ip netns add``), sysctls, offloads (``ethtool -K``), tap devices,
requests built by hand (the cgroup classifier).

The commands name namespaces with ``ip -n``/``tc -n`` and devices by name, so pasted into a
root shell they build the same lab (``tests/system/test_recipe_replay.py`` replays them in fresh
namespaces and compares what the kernel then reports with what the lab built).  A call this
module cannot spell leaves a ``# not expressible: ...`` line: never a silent gap.
"""

from __future__ import annotations

import shlex

from ..core import faults

ETH_P = {0x0003: "all", 0x0800: "ip", 0x86DD: "ipv6", 0x0806: "arp"}
TC_H_ROOT, INGRESS, CLSACT_EGRESS, CLSACT_INGRESS = 0xFFFFFFFF, 0xFFFF0000, 0xFFFFFFF3, 0xFFFFFFF2
NUD = {0x80: "permanent", 0x02: "reachable", 0x04: "stale"}


class Recipe:
    """The commands of one lab, in the order they ran."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, *argv, comment: str = "") -> None:
        """One command (its words), or a comment line (a first word starting with ``#``)."""
        if argv and str(argv[0]).startswith("#"):
            self.lines.append(" ".join(str(a) for a in argv))
            return
        line = shlex.join(str(a) for a in argv) if argv else ""
        self.lines.append(f"{line}  # {comment}" if line and comment else line or f"# {comment}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def handle(h: int) -> str:
    """tc's spelling: ``1:`` for a qdisc handle, ``1:10`` for a class."""
    major, minor = h >> 16, h & 0xFFFF
    return f"{major:x}:" if minor == 0 else f"{major:x}:{minor:x}"


def parent(h: int) -> list[str]:
    if h == TC_H_ROOT:
        return ["root"]
    if h == CLSACT_EGRESS:
        return ["egress"]
    if h == CLSACT_INGRESS:
        return ["ingress"]
    return ["parent", handle(h)]


def bits(bytes_per_second: int) -> str:
    return f"{int(bytes_per_second) * 8}bit"


class RecordingIPRoute:
    """An IPRoute of one namespace that also writes what it changed into a :class:`Recipe`."""

    def __init__(self, ipr, namespace: str, recipe: Recipe):
        self._ipr, self._ns, self.recipe = ipr, namespace, recipe

    def __getattr__(self, name):
        return getattr(self._ipr, name)

    def name_of(self, index: int) -> str:
        found = self._ipr.get_links(index)
        return found[0].get_attr("IFLA_IFNAME") if found else f"<ifindex {index}>"

    # -- rtnetlink ----------------------------------------------------------------------------
    def link(self, command, **kw):
        kw = faults.apply("link", command, kw.get("kind"), kw)  # the one seam of injected faults
        if kw is None:
            return None
        before = self.name_of(kw["index"]) if command in ("set", "del") and "index" in kw else None
        reply = self._ipr.link(command, **kw)
        self._note(lambda: link_argv(self._ns, command, kw, before, self.name_of),
                   f"link {command} {kw}")
        return reply

    def _note(self, spell, what: str, many: bool = True) -> None:
        """Write the call's commands down; a call the recipe cannot spell (an argument form it
        does not know) leaves a ``# not expressible`` line: recording never fails a call the
        kernel accepted."""
        try:
            lines = spell()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.recipe.add(f"# not expressible: {what} ({type(exc).__name__}: {exc})")
            return
        for argv in (lines if many else [lines]):
            self.recipe.add(*argv)

    def addr(self, command, **kw):
        reply = self._ipr.addr(command, **kw)

        def spell():
            argv = ["ip", "-n", self._ns, "addr", command, f"{kw['address']}/{kw['prefixlen']}",
                    "dev", self.name_of(kw["index"])]
            return argv + (["nodad"] if kw.get("flags", 0) & 0x02 else [])

        self._note(spell, f"addr {command} {kw}", many=False)
        return reply

    def route(self, command, **kw):
        reply = self._ipr.route(command, **kw)

        def spell():
            argv = ["ip", "-n", self._ns, "route", command, kw["dst"]]
            if kw.get("gateway"):
                argv += ["via", kw["gateway"]]
            if kw.get("oif"):
                argv += ["dev", self.name_of(kw["oif"])]
            return argv

        if command in ("add", "replace", "del"):
            self._note(spell, f"route {command} {kw}", many=False)
        return reply

    def neigh(self, command, **kw):
        reply = self._ipr.neigh(command, **kw)

        def spell():
            argv = ["ip", "-n", self._ns, "neigh", command, kw["dst"], "lladdr", kw["lladdr"],
                    "dev", self.name_of(kw["ifindex"])]
            return argv + (["nud", NUD[kw["state"]]] if kw.get("state") in NUD else [])

        self._note(spell, f"neigh {command} {kw}", many=False)
        return reply

    def tc(self, command, kind=None, index=0, handle_=None, **kw):
        kw = faults.apply("tc", command, kind, kw)
        if kw is None:
            return None
        args = [a for a in (kind, index) if a is not None]
        if handle_ is not None:
            args.append(handle_)
        reply = self._ipr.tc(command, *args, **kw)
        self._note(lambda: tc_argv(self._ns, command, kind, self.name_of(index), handle_, kw,
                                   self.name_of), f"tc {command} {kind} {kw}", many=False)
        return reply


def link_argv(ns: str, command: str, kw: dict, before: str | None, name_of) -> list[list]:
    """The ``ip link add|set|del`` commands equal to a pyroute2 ``link`` call."""
    if command == "del":
        return [["ip", "-n", ns, "link", "del", "dev", before]]
    if command == "set":
        argv = ["ip", "-n", ns, "link", "set", "dev", before]
        if "ifname" in kw:
            argv += ["name", kw["ifname"]]
        if "mtu" in kw:
            argv += ["mtu", kw["mtu"]]
        if "master" in kw:
            argv += ["master", name_of(kw["master"])] if kw["master"] else ["nomaster"]
        if "net_ns_fd" in kw:
            argv += ["netns", kw["net_ns_fd"]]
        if "kind" in kw:  # a tunnel's parameters changed: ip link set ... type gre ...
            argv += ["type", kw["kind"], *kind_args(kw)]
        if kw.get("state"):
            argv.append(kw["state"])
        return [argv]
    if command != "add":
        return [[f"# not expressible: link {command} {kw}"]]
    argv = ["ip", "-n", ns, "link", "add", kw["ifname"]]
    if "mtu" in kw:
        argv += ["mtu", kw["mtu"]]
    argv += ["type", kw["kind"], *kind_args(kw)]
    if kw["kind"] == "veth" and "peer" in kw:
        peer = kw["peer"] if isinstance(kw["peer"], dict) else {"ifname": kw["peer"]}
        argv += ["peer", "name", peer["ifname"]]
        if "net_ns_fd" in peer:
            argv += ["netns", peer["net_ns_fd"]]
        if "mtu" in peer:
            argv += ["mtu", peer["mtu"]]
    if kw.get("state") == "up":  # ip link add takes no state: a second command
        return [argv, ["ip", "-n", ns, "link", "set", "dev", kw["ifname"], "up"]]
    return [argv]


def kind_args(kw: dict) -> list:
    """A tunnel's parameters as ``ip link ... type KIND`` spells them."""
    kind = kw["kind"]
    out: list = []
    if kind in ("gre", "gretap"):
        for key, word in (("gre_local", "local"), ("gre_remote", "remote"), ("gre_ttl", "ttl")):
            if key in kw:
                out += [word, kw[key]]
        if kw.get("gre_iflags") and "gre_ikey" in kw:
            out += ["ikey", kw["gre_ikey"]]
        if kw.get("gre_oflags") and "gre_okey" in kw:
            out += ["okey", kw["gre_okey"]]
        if "gre_pmtudisc" in kw:
            out.append("pmtudisc" if kw["gre_pmtudisc"] else "nopmtudisc")
        if kw.get("gre_ignore_df"):
            out.append("ignore-df")
    elif kind == "vxlan":
        for key, word in (("vxlan_id", "id"), ("vxlan_local", "local"),
                          ("vxlan_group", "remote"), ("vxlan_port", "dstport")):
            if key in kw:
                out += [word, kw[key]]
        if kw.get("vxlan_learning") == 0:
            out.append("nolearning")
        if "vxlan_df" in kw:
            out += ["df", {0: "unset", 1: "set", 2: "inherit"}[kw["vxlan_df"]]]
    return out


def tc_argv(ns: str, command: str, kind: str | None, dev: str, h, kw: dict, name_of) -> list:
    """``tc qdisc|class|filter add`` equal to a pyroute2 ``tc`` call."""
    if command == "add":
        argv = ["tc", "-n", ns, "qdisc", "add", "dev", dev]
        if kind == "ingress":
            return argv + ["handle", "ffff:", "ingress"]
        if kind == "clsact":
            return argv + ["clsact"]
        argv += parent(kw.get("parent", TC_H_ROOT)) + ["handle", handle(h), kind]
        if kind in ("htb", "hfsc") and "default" in kw:
            argv += ["default", f"{kw['default']:x}"]
        elif kind == "tbf":
            argv += ["rate", bits(kw["rate"]), "burst", kw["burst"], "limit", kw["limit"]]
            if kw.get("peak"):
                argv += ["peakrate", bits(kw["peak"]), "mtu", kw["pburst"]]
        elif kind == "netem":
            if "loss" in kw:
                argv += ["loss", f"{kw['loss']}%"]
            if "rate" in kw:
                argv += ["rate", bits(kw["rate"])]
            if "limit" in kw:
                argv += ["limit", kw["limit"]]
        elif kind == "cake":
            argv += ["bandwidth", f"{kw['bandwidth']}bit"]
            if kw.get("diffserv_mode"):
                argv.append(kw["diffserv_mode"])
        elif kind == "fq":
            for key, word in (("maxrate", "maxrate"), ("limit", "limit"),
                              ("flow_limit", "flow_limit"), ("quantum", "quantum")):
                if key in kw:
                    argv += [word, bits(kw[key]) if key == "maxrate" else kw[key]]
        return argv
    if command == "del" and kind == "ingress":
        return ["tc", "-n", ns, "qdisc", "del", "dev", dev, "ingress"]
    if command == "add-class":
        argv = ["tc", "-n", ns, "class", "add", "dev", dev, *parent(kw["parent"]), "classid",
                handle(h), kind]
        for key in ("rate", "ceil"):
            if key in kw:
                argv += [key, bits(kw[key])]
        for key in ("burst", "cburst", "quantum", "prio"):
            if key in kw:
                argv += [key, kw[key]]
        for key, word in (("rsc", "rt"), ("fsc", "ls"), ("usc", "ul")):  # HFSC's curves
            if key in kw:
                argv += [word, "m2", bits(kw[key]["m2"])]
        return argv
    if command == "add-filter":
        argv = ["tc", "-n", ns, "filter", "add", "dev", dev, *parent(kw["parent"])]
        if "prio" in kw:
            argv += ["prio", kw["prio"]]
        if "protocol" in kw:
            argv += ["protocol", ETH_P.get(kw["protocol"], f"0x{kw['protocol']:04x}")]
        if kind == "fw":
            target = kw["target"] if "target" in kw else kw["classid"]  # pyroute2 takes either
            return argv + ["handle", f"0x{kw['handle']:x}", "fw", "classid", handle(target)]
        if kind != "u32":
            return [f"# not expressible: tc filter {kind} {kw}"]
        argv.append("u32")
        for key in kw.get("keys", []):
            value, rest = key.split("/")
            mask, offset = rest.split("+")
            argv += ["match", "u32", value, mask, "at", offset]
        if "target" in kw:
            argv += ["flowid", handle(kw["target"])]
        acts = kw.get("action") or []
        for act in acts if isinstance(acts, list) else [acts]:
            argv += action_argv(act, name_of)
        return argv
    return [f"# not expressible: tc {command} {kind} {kw}"]


def action_argv(act: dict, name_of) -> list:
    if act["kind"] == "mirred":
        return ["action", "mirred", act["direction"], act["action"], "dev",
                name_of(act["ifindex"])]
    if act["kind"] == "skbedit":
        out = ["action", "skbedit"]
        if "priority" in act:
            out += ["priority", handle(act["priority"])]
        if "mark" in act:
            out += ["mark", f"0x{act['mark']:x}/0x{act.get('mask', 0xFFFFFFFF):x}"]
        return out
    if act["kind"] == "police":
        return ["action", "police", "rate", bits(act["rate"]), "burst", act["burst"],
                "mtu", act.get("mtu", 0), act.get("action", "reclassify")]
    return [f"# not expressible: action {act}"]


# -- replaying a recipe ------------------------------------------------------------------------
ALLOWED_EXEC = {"sysctl", "ethtool", "nft"}


def replay(lines: list[str], old_prefix: str, run) -> list[str]:
    """Run a recorded recipe again, every name moved from ``old_prefix`` to ``run``'s prefix,
    and register each namespace it makes with ``run`` (so the run, or the sweeper after a
    crash, removes it).  Only ``ip``/``tc`` commands on the run's own namespaces are run (and
    ``ip netns exec NS sysctl|ethtool|nft``); anything else is refused before anything runs.
    Returns the commands as run."""
    import subprocess

    from ..core.errors import HarnessError

    runnable = runnable_argv(lines, old_prefix, run.prefix)
    for argv in runnable:
        if argv[:3] == ["ip", "netns", "add"]:
            run.add_namespace(argv[3])
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise HarnessError(f"{shlex.join(argv)}: {res.stderr.strip()}")
    return [shlex.join(a) for a in runnable]


def runnable_argv(lines: list[str], old_prefix: str, prefix: str) -> list[list[str]]:
    """The commands :func:`replay` runs for ``lines``, names moved to ``prefix``; a line it
    may not run raises HarnessError."""
    from ..core.errors import HarnessError

    runnable = []
    loaded = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line.replace(old_prefix, prefix))
        if argv[:1] == ["modprobe"]:
            loaded = argv[1] if len(argv) > 1 else None
            continue  # the lab ran on this kernel: its module is loaded (and never unloaded)
        if (loaded == "ifb" and argv[:3] == ["ip", "link", "set"] and len(argv) == 7
                and argv[5] == "netns" and argv[6].startswith(prefix)):
            # the device `modprobe ifb numifbs=1` made in the root namespace, which the lab
            # moved into its own (harness.net.topology.ifb): that load happened once, so the
            # replay creates the same device in the namespace
            argv = ["ip", "-n", argv[6], "link", "add", argv[4], "type", "ifb"]
        loaded = None
        if not _allowed(argv, prefix):
            raise HarnessError(f"recipe line not replayable here: {line}")
        runnable.append(argv)
    return runnable


def _allowed(argv: list[str], prefix: str) -> bool:
    if len(argv) < 4 or argv[0] not in ("ip", "tc"):
        return False
    if argv[1] == "-n":
        return argv[2].startswith(prefix)
    if argv[:3] == ["ip", "netns", "add"]:
        return argv[3].startswith(prefix)
    if argv[:3] == ["ip", "netns", "exec"]:
        return argv[3].startswith(prefix) and len(argv) > 4 and argv[4] in ALLOWED_EXEC
    return False


#: devices a tunnel module creates in every namespace once it is loaded (ip_gre, sit, ipip,
#: ip6_tunnel, ip6_gre, ip_vti): not the lab's, and present in a replay's namespaces when the
#: module was loaded after the lab's
FALLBACK_DEVICES = {"gre0", "gretap0", "erspan0", "sit0", "tunl0", "ip6tnl0", "ip6gre0",
                    "ip_vti0", "ip6_vti0"}


def key_bytes(keys: list[list[int]]) -> list[list[int]]:
    """u32 keys as the bytes they match: [offset, value, mask] for each byte whose mask is not
    zero, in order.  ``tc`` sends ``match u32 0x00060000 0x00ff0000 at 8`` as written, pyroute2
    packs the same match as ``0x06000000/0xff000000`` at 9: equal matches, equal bytes.  A
    match-all key (mask 0) matches no byte, so it is one empty list either way."""
    out = set()
    for value, mask, offset in keys:
        for i, shift in enumerate((24, 16, 8, 0)):
            if (mask >> shift) & 0xFF:
                out.add((offset + i, (value >> shift) & 0xFF, (mask >> shift) & 0xFF))
    return [list(b) for b in sorted(out)]


def comparable(snapshot: dict) -> dict:
    """A snapshot with what differs between two builds of the same lab taken out: the run
    prefix, interface indexes (a veth's peer, a bridge master, a mirred target become names),
    netns ids; what is left must be equal."""
    prefix = snapshot["prefix"]
    out = []
    for ns in snapshot["namespaces"]:
        names = {link["index"]: link["name"] for link in ns["links"]}
        peers = {}
        for other in snapshot["namespaces"]:
            for link in other["links"]:
                peers[(other["name"], link["index"])] = link["name"]

        def short(name):
            return name[len(prefix):] if isinstance(name, str) and name.startswith(prefix) else name

        links = []
        for link in sorted(ns["links"], key=lambda x: x["name"]):
            if link["name"] in FALLBACK_DEVICES:
                continue
            item = {k: v for k, v in link.items() if k not in ("index", "peer_netnsid")}
            item["name"] = short(link["name"])
            item["master"] = short(names.get(link.get("master")))
            if link.get("peer") is not None:
                item["peer"] = short(peers.get((link.get("peer_namespace"), link["peer"])))
                item["peer_namespace"] = short(link.get("peer_namespace"))
            links.append(item)

        def dev(entries):
            rows = []
            for e in entries:
                row = {**e, "dev": short(names.get(e["dev"]))}
                if "keys" in row:
                    row["keys"] = key_bytes(row["keys"])
                if "actions" in e:
                    row["actions"] = [{**a, "to": short(names.get(a["to"]))} if "to" in a else a
                                      for a in e["actions"]]
                rows.append(row)
            return sorted(rows, key=lambda r: repr(sorted(r.items())))

        out.append({"name": short(ns["name"]), "links": links, "qdiscs": dev(ns["qdiscs"]),
                    "classes": dev(ns["classes"]), "filters": dev(ns["filters"])})
    return {"namespaces": sorted(out, key=lambda n: n["name"])}
