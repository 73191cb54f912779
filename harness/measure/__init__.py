"""measure: turning traffic and kernel counters into figures, and judging them.

Owns counter windows (read every counter at the same instants after the burst drained), the
expectations (goodput = rate x payload/frame), the shaping verdict rule, and the path
accounting that separates what a lab is about (what a tunnel dropped) from what the machine
lost around it; and the figures each measurement makes (harness.core.figures declarations).
It imports ``harness.core``, and ``harness.net.diag`` for the receiver's TCP byte count;
generators and links are passed in.
"""
