"""kernel: what the kernel under test can do, and whether it stayed healthy.

Owns the feature table (each lab feature and the CONFIG option behind it), reading a kernel's
config, loading modules the classic way (``modprobe ifb numifbs=1``, only where allowed),
probing a feature by creating it in a scratch namespace, the capability check that alone may
say "this kernel lacks X" (``KernelLacks``), and the kernel log (``/dev/kmsg``) with the splat
detector.  It imports only ``harness.core``.
"""
