"""The labs over real drivers: a Debian kernel booted with two virtio-net NICs cabled to each
other through a QEMU hub (``--vm-net loop``), the labs' pair on them (``--nics``, named by their
MAC addresses), the same assertions as over veth."""

import json
import os
import sys

from harness.core.procs import run_unwinding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOOP_MACS = "52:54:00:12:34:56,52:54:00:12:34:57"  # what virtme-ng gives the two loop NICs
#: ingress_ifb's shaping at the rate a virtio-net pair under TCG carries (10 Mbit/s: 100 is
#: above its capacity and skips), and gre_mtu over GRE, the tunnel a guest adds to the host's
#: VXLAN (VXLAN's four tests here were 2 of this test's 8 minutes, and ran over veth anyway)
SELECTION = ("goes_through or baseline or cannot_hold or (accurate and 10mbit and tbf and netperf)"
             " or ((overhead or (sized and iperf3) or (segmented and kept)) and not vxlan)")


def test_ingress_ifb_and_gre_mtu_pass_over_a_virtio_net_pair(tmp_path, debian_image):
    r = run_unwinding([sys.executable, "-m", "pytest", "--kernel", debian_image, "--vm-net",
                       "loop", "--nics", LOOP_MACS, "labs/ingress_ifb", "labs/gre_mtu", "-k",
                       SELECTION, "--results", str(tmp_path), "--run-id", "nics"],
                      cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    guest = next(p for p in (tmp_path / "nics").iterdir() if p.is_dir())
    records = [json.loads(p.read_text()) for lab in ("ingress_ifb", "gre_mtu")
               for p in (guest / lab).glob("*.json")]
    assert {rec["lab"] for rec in records} == {"ingress_ifb", "gre_mtu"}
    passed = [rec for rec in records if rec["verdict"] == "passed"]
    assert len(passed) >= 8 and all(rec["verdict"] in ("passed", "skipped") for rec in records)
    for rec in passed:  # a figure over NICs says so, with the driver that carried it
        nics = rec["state"]["nics"]
        assert [n["driver"] for n in nics] == ["virtio_net", "virtio_net"], rec["name"]
        assert all(n["offloads"] for n in nics)
    shaped = [rec for rec in passed if "goodput_error" in rec["derived"]]
    assert shaped and all(abs(rec["derived"]["counter_error"]) <= 0.01 for rec in shaped)
    # a goodput read through this machine's own loss recovery (QEMU's hub drops frames under
    # an emulated CPU) is recorded unjudged, with its reason; every other one is judged
    judged = [rec for rec in shaped if rec["derived"]["goodput_judged"]]
    assert all(abs(rec["derived"]["goodput_error"]) <= 0.02 for rec in judged)
    assert all(rec["derived"]["metrics"]["goodput_bps"].get("not_judged")
               for rec in shaped if not rec["derived"]["goodput_judged"])
