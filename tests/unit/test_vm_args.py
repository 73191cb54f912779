"""Bad kernel images and the guest's pytest arguments, without booting anything."""

import pytest

from harness.core.errors import HarnessError
from harness.vm.guest import guest_plugin_opts
from harness.vm.image import kernel_release


@pytest.mark.parametrize("bad, message", [("/nonexistent/vmlinuz", "does not exist"),
                                          ("/etc/hostname", "not a Linux kernel image"),
                                          ("/boot", "not a file")])
def test_bad_images_are_refused_in_one_line(bad, message):
    with pytest.raises(HarnessError, match=message):
        kernel_release(bad)


def test_optional_pytest_plugins_stay_off_in_the_guest_unless_asked_for():
    off = guest_plugin_opts(["labs/ingress_ifb", "-q"])
    assert "no:doctest" in off and "no:debugging" in off and "no:legacypath" in off
    assert "no:debugging" not in guest_plugin_opts(["--pdb", "labs/ingress_ifb"])
    assert "no:doctest" not in guest_plugin_opts(["--doctest-modules"])
