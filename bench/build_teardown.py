#!/usr/bin/env python3
"""Build and tear down the two-namespace ifb topology, harness versus iproute2 shell script.

Both build the same thing: namespaces a and b, a veth pair with IPv4 and IPv6 addresses, an ifb
in b, the ingress qdisc ffff: with a match-all u32 filter and mirred egress redirect to the ifb,
and HTB 1: with class 1:10 at 100mbit on the ifb; then remove it all.  They alternate, so drift
in the machine hits both alike, and the script prints the medians and their ratio.

    .venv/bin/python bench/build_teardown.py [--rounds 30]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.run.session import Run  # noqa: E402
from harness.net.tc import HTB, ingress_redirect  # noqa: E402
from harness.net.topology import Lab  # noqa: E402

SHELL = r"""
set -e
P=$1
ip netns add ${P}a
ip netns add ${P}b
ip -n ${P}a link set lo up
ip -n ${P}b link set lo up
ip -n ${P}a link add ${P}va type veth peer name ${P}vb netns ${P}b
ip -n ${P}a addr add 198.18.1.1/24 dev ${P}va
ip -n ${P}a addr add 2001:db8:1::1/64 dev ${P}va nodad
ip -n ${P}b addr add 198.18.1.2/24 dev ${P}vb
ip -n ${P}b addr add 2001:db8:1::2/64 dev ${P}vb nodad
ip -n ${P}a link set ${P}va up
ip -n ${P}b link set ${P}vb up
ip -n ${P}b link add ${P}ifb0 type ifb
ip -n ${P}b link set ${P}ifb0 up
tc -n ${P}b qdisc add dev ${P}vb handle ffff: ingress
tc -n ${P}b filter add dev ${P}vb parent ffff: protocol all prio 1 u32 match u32 0 0 \
    flowid 1:1 action mirred egress redirect dev ${P}ifb0
tc -n ${P}b qdisc add dev ${P}ifb0 root handle 1: htb default 10
tc -n ${P}b class add dev ${P}ifb0 parent 1: classid 1:10 htb rate 100mbit ceil 100mbit quantum 60000
ip netns del ${P}a
ip netns del ${P}b
"""


def harness_once(run):
    lab = Lab(run)
    pair = lab.veth_pair(lab.namespace("a"), lab.namespace("b"))
    ifb = lab.ifb(pair.b.ns)
    ingress_redirect(pair.b.link, to=ifb)
    HTB("100mbit").apply(ifb)
    failures = lab.close()
    assert not failures, failures


def shell_once(run):
    subprocess.run(["bash", "-c", SHELL, "bench", run.prefix + "s"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    run = Run(results_root="results")
    times = {"harness (pyroute2)": [], "shell (iproute2)": []}
    try:
        harness_once(run), shell_once(run)  # warm caches once, not measured
        for _ in range(args.rounds):
            for name, fn in (("harness (pyroute2)", harness_once), ("shell (iproute2)", shell_once)):
                t0 = time.perf_counter()
                fn(run)
                times[name].append(time.perf_counter() - t0)
    finally:
        run.close()
    print(f"build + tear down the ifb topology, {args.rounds} rounds each, alternating")
    for name, ts in times.items():
        print(f"  {name:20} median {statistics.median(ts) * 1000:7.1f} ms   "
              f"min {min(ts) * 1000:6.1f}   max {max(ts) * 1000:6.1f}")
    ratio = statistics.median(times["harness (pyroute2)"]) / statistics.median(times["shell (iproute2)"])
    print(f"ratio of medians harness/shell: {ratio:.2f}x (target <= 0.3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
