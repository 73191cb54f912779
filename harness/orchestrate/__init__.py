"""orchestrate: runs of runs.  The same labs on several kernels (``kernel-lab nightly``: cells,
each its own pytest session, the running kernel directly, the others booted with virtme-ng),
shards merged, what this kernel lacks run elsewhere (``kernel-lab lab``), the first bad kernel
or commit (``kernel-lab bisect``).  It imports ``harness.vm``, ``harness.report`` and below.
"""
