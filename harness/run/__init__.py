"""run: the identity of one run and what it owns.

Owns the run's unique prefix (``kl<4 hex>-``), its registry file under ``/run/kernel-lab/``
(owner PID and start time, namespaces, processes, borrowed NICs), its state folder, its
session-wide LIFO undo stack, and starting and stopping the processes it owns (by PID, never a
stranger).  It imports ``harness.core`` only; what to do with a dead run's leftovers is the
sweeper's business (``harness.net.sweeper``).
"""
