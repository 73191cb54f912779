"""vm: kernels under test, booted with virtme-ng and QEMU, running the same pytest inside.

Owns kernel images (release, config, the PVH vmlinux cache), the host's tools (vng, QEMU, KVM
or not), the guest's pre-init and module bundle, booting and watching the console (panics,
timeouts), and the ``--kernel`` launch that brings the guest's records back.  It imports
``harness.kernel``, ``harness.results`` and below, never the pytest plugin.
"""
