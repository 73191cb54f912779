"""traffic: real traffic between the lab's namespaces, and what the tools saw.

Owns the generators (iperf3 through its PyPI wrapper in a child process that entered the
namespace; netperf through subprocess), ping, a bounded TCP transfer probe for paths that may
black-hole, packet captures (tcpdump), and :class:`TrafficResult`, the one shape every
generator's figures come back in.  It imports ``harness.core`` and ``harness.run`` only (a
namespace and a run are passed in; their processes are recorded there).
"""
