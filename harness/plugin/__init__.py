"""plugin: kernel-lab's pytest plugin, in parts.

- ``options``    command-line options and markers
- ``session``    the state the parts share (run id and folders, run, recorder), typed
- ``fixtures``   run, kernel, lab, pair, ifb, nic (labs/README.md has the reference: scope,
                 dependencies, an example each)
- ``traffic``    iperf3, netperf, and capacity (which shaped rates this machine can judge)
- ``health``     the kernel log read around every test phase; a splat fails the test
- ``evidence``   counters read around each lab test's call (kept when it failed), the lab's
                 state after it (MTU, offloads, TCP sysctls, qdisc statistics) on each record
- ``recording``  the ``record`` fixture, and one record per measurement and attempt
- ``replay``     ``--replay-recipes``: each test function's recipe replayed on this kernel
- ``verdicts``   skip only for KernelLacks, flaky labelling, the baseline verdict at the end
- ``reporting``  the end of the session on the terminal
- ``guest``      ``--kernel IMAGE`` hands the session to a booted kernel; marks in the guest
- ``cells``      several kernels, ``-n N`` or ``--shard I/N``: kernel x lab cells as items
- ``judge``      a shaping verdict as the test's outcome (labs import it through harness.lab)
- ``faults``     NOT loaded by default: ``-p harness.plugin.faults --inject-fault NAME``

Retries and repeats come from maintained plugins (pytest-rerunfailures, pytest-repeat),
driven through our ``--retries`` and ``--repeat``.  This package imports every layer below it
and nothing imports it.
"""

pytest_plugins = [
    "harness.plugin.options",
    "harness.plugin.fixtures",
    "harness.plugin.traffic",
    "harness.plugin.health",
    "harness.plugin.evidence",
    "harness.plugin.recording",
    "harness.plugin.replay",
    "harness.plugin.verdicts",
    "harness.plugin.guest",
    "harness.plugin.cells",
    "harness.plugin.reporting",
]
