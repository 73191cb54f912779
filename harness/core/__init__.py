"""core: the harness's ground floor.

Owns errors (HarnessError), units and input checks (rates, MTUs, the allowed address ranges),
the LIFO undo stack (``Defer``), the file cache, tool lookup, process identity (PID + start
time), running code inside a network namespace (``netns``), crash-test checkpoints and the
fault-injection switchboard.  It imports nothing from the rest of the harness.
"""
