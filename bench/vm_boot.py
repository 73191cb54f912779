#!/usr/bin/env python3
"""Boot to first test under software emulation, for the three boot modes side by side.

Each round runs ``pytest --kernel IMAGE labs/ingress_ifb -k cannot_hold_classes`` once per
mode, in turn, so drift in the machine hits all alike:
- ``vng``:  the bzImage booted as virtme-ng boots it (decompressor, udev);
- ``pvh``:  the kernel entered through the PVH entry of its cached vmlinux, udev and tmpfiles
  as before;
- ``fast``: PVH entry and the kernel-lab pre-init (no udev, no tmpfiles): the default.
It prints the median seconds to the guest's command ("booted") and to the first test, and
their ratios to ``vng``.  Nothing else should run on the machine meanwhile.

    .venv/bin/python bench/vm_boot.py [--rounds 3] [--image /boot/vmlinuz-...]
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.vm.image import other_images  # noqa: E402
MODES = ("vng", "pvh", "fast")


def default_image() -> str:
    images = other_images()
    if not images:
        sys.exit("no kernel image in /boot besides the running one")
    return images[-1]


def once(image: str, mode: str, results: str, run_id: str) -> dict:
    env = dict(os.environ, KERNEL_LAB_BOOT=mode)
    r = subprocess.run([sys.executable, "-m", "pytest", "--kernel", image, "--results", results,
                        "--run-id", run_id, "labs/ingress_ifb", "-k", "cannot_hold_classes"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    vm = glob.glob(os.path.join(results, run_id, "*", "vm.json"))
    if r.returncode != 0 or not vm:
        sys.exit(f"{mode}: pytest exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    with open(vm[0]) as f:
        return json.load(f)["marks"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--image", default=None)
    args = ap.parse_args()
    image = args.image or default_image()
    marks = {m: {"booted": [], "first test": []} for m in MODES}
    with tempfile.TemporaryDirectory(prefix="kl-bench-") as results:
        for r in range(args.rounds):
            for mode in MODES:
                got = once(image, mode, results, f"r{r}-{mode}")
                for key in ("booted", "first test"):
                    marks[mode][key].append(got[key])
                print(f"round {r + 1} {mode:4s}: command at {got['booted']:5.1f} s, "
                      f"first test at {got['first test']:5.1f} s", flush=True)
    print(f"\n{image}, {args.rounds} rounds, medians (ratio to vng):")
    base = {k: statistics.median(v) for k, v in marks["vng"].items()}
    for mode in MODES:
        med = {k: statistics.median(v) for k, v in marks[mode].items()}
        print(f"  {mode:4s}  command {med['booted']:5.1f} s ({med['booted'] / base['booted']:.2f}x)"
              f"   first test {med['first test']:5.1f} s "
              f"({med['first test'] / base['first test']:.2f}x)")


if __name__ == "__main__":
    main()
