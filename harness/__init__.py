"""kernel-lab: network labs in namespaces on a real kernel, with real traffic.

The modules follow the flow of a lab run:

kernel      what the kernel under test can do (config, probes, modprobe)
run         the run's identity, prefix, registry, and its LIFO undo stack
sweeper     removes what dead runs left behind
netns       run a function inside a namespace (a thread that called setns)
topology    namespaces, veth pairs, ifb devices, addresses, MTU, offloads
tc          qdiscs, classes, filters, actions (the ifb ingress recipe is one call)
traffic     iperf3 (PyPI wrapper, child process) and netperf (subprocess)
measure     kernel counter windows, expected goodput, error figures
results     one self-describing JSON record per measurement
report      tables (tabulate) from records
plugin      the pytest plugin: fixtures, markers, options
cli         the kernel-lab command
"""

__version__ = "0.1.0"
