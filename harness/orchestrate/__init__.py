"""orchestrate: runs of runs.  The same labs on several kernels (``kernel-lab matrix``), each
as its own pytest session (the running kernel directly, the others booted with virtme-ng),
joined into one table.  It imports ``harness.vm``, ``harness.report`` and below.
"""
