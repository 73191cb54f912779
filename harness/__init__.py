"""kernel-lab: network labs in namespaces on a real kernel, with real traffic.

The sub-packages are layers, in the flow of a lab run (pyproject.toml's import contract keeps
each one importing only from those below it):

core         errors, units, caches, namespaces (setns), processes, checkpoints, the figures
             declarations, faults (one seam), the KERNEL_LAB_* variables
kernel       what the kernel under test can do: config, features, probes, modprobe, its log
run          the run's identity, prefix, registry and LIFO undo stack
net          topology, tc, tunnels, OVS, the sweeper, counters and captures of the namespaces,
             the recipe as ip/tc commands
traffic      iperf3 (PyPI wrapper, child process), netperf (subprocess), ping, tcpdump
measure      counter windows, expected goodput, shaping verdicts, statistics
results      one self-describing JSON record per measurement, baselines, history, evidence
             kept until the comparison
report       tables, plots, decks, exports; vm: kernels from anywhere, booted with virtme-ng
orchestrate  cells, nightly, merge, bisect
plugin       the pytest plugin: fixtures, markers, options, session state, health, evidence,
             recording, judging
cli          the kernel-lab command;  lab: the one module labs import from
"""

__version__ = "0.2.0"  # as pyproject.toml says (tests/unit/test_layers.py checks)
