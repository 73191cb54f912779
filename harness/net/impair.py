"""Impairments on a link: random loss, with netem where the kernel has it, else nftables.

Both drop each packet independently with probability p.  netem sits on the sender's egress
(root qdisc of the link); the nftables variant is a netdev-family ingress chain on the
receiver's device (``numgen random mod 100 < P drop``), restricted to one IP protocol so ARP and
the like are never dropped.
"""

from __future__ import annotations

from ..core import faults
from ..core.errors import HarnessError
from ..core.tools import require_tool


def random_loss(kernel, sender, receiver, percent: float, ip_protocol: str) -> str:
    """Drop ``percent`` % of ``ip_protocol`` packets from ``sender`` to ``receiver`` (Endpoints
    of the underlay).  Returns how: ``netem`` or ``nftables`` (or ``none (fault injected)``)."""
    if kernel.has("netem"):
        _static_neighbours(sender, receiver)
        sender.ns.nl.tc("add", "netem", sender.link.index, 0x10000, loss=percent)
        return "netem"
    broken = faults.apply("nft", "add", "loss", {"percent": percent})
    if broken is None:
        return "none (fault injected)"
    percent = broken["percent"]
    if not float(percent).is_integer():
        raise HarnessError("the nftables drop filter takes whole percents")
    rules = (f'table netdev kl_loss {{\n chain in {{\n'
             f'  type filter hook ingress device "{receiver.link.name}" priority 0; policy accept;\n'
             f'  ip protocol {ip_protocol} numgen random mod 100 < {int(percent)} counter drop\n'
             f' }}\n}}\n')
    res = receiver.ns.run_command([require_tool("nft", "nftables"), "-f", "-"], timeout=30,
                                  stdin=rules)
    if res.returncode != 0:
        raise HarnessError(f"nft refused the drop filter: {res.stderr.strip()}")
    nft = ["ip", "netns", "exec", receiver.ns.name, "nft", "add"]
    receiver.ns.recipe.add(*nft, "table", "netdev", "kl_loss")
    receiver.ns.recipe.add(*nft, "chain", "netdev", "kl_loss", "in", "{ type filter hook ingress "
                           f'device "{receiver.link.name}" priority 0; policy accept; }}')
    receiver.ns.recipe.add(*nft, "rule", "netdev", "kl_loss", "in", "ip", "protocol", ip_protocol,
                           "numgen", "random", "mod", "100", "<", str(int(percent)), "counter",
                           "drop")
    return "nftables"


def _static_neighbours(a, b) -> None:
    """Permanent neighbour entries both ways, so netem never drops an ARP exchange."""
    for me, peer in ((a, b), (b, a)):
        mac = peer.ns.nl.get_links(peer.link.index)[0].get_attr("IFLA_ADDRESS")
        me.ns.nl.neigh("replace", dst=peer.ip4, lladdr=mac, ifindex=me.link.index, state=0x80)
