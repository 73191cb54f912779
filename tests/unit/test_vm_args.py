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


def test_the_guest_exit_code_comes_from_its_own_file_and_never_through_a_link(tmp_path):
    """Old code took vng's exit code alone: on a tree with CONFIG_DEVTMPFS_MOUNT=y the virtio
    port that carries it was missing and a run with 4 passed tests read 255."""
    import os

    from harness.vm.guest import EXIT_CODE_FILE, guest_command
    from harness.vm.launch import guest_exit_code, remove_symlinks

    script = guest_command(["labs/_example"], str(tmp_path), "6.1.0-x", "/boot/vmlinuz-x")
    assert f"echo $rc > {tmp_path}/6.1.0-x/{EXIT_CODE_FILE}" in script
    assert script.rstrip().endswith("exit $rc")
    assert guest_exit_code(str(tmp_path), 255) == (255, "unknown")  # no file, no port
    assert guest_exit_code(str(tmp_path), 1) == (1, "vng")
    (tmp_path / EXIT_CODE_FILE).write_text("0\n")
    assert guest_exit_code(str(tmp_path), 255) == (0, "file")
    (tmp_path / "target").write_text("1\n")
    os.unlink(tmp_path / EXIT_CODE_FILE)
    os.symlink(tmp_path / "target", tmp_path / EXIT_CODE_FILE)
    assert guest_exit_code(str(tmp_path), 255) == (255, "unknown")  # O_NOFOLLOW
    (tmp_path / "sub").mkdir()
    os.symlink("/etc", tmp_path / "sub" / "etc")
    assert remove_symlinks(str(tmp_path)) == [f"exit-code -> {tmp_path}/target",
                                              "sub/etc -> /etc"]
    assert os.path.exists("/etc/hostname") and (tmp_path / "target").exists()


def test_repeat_works_where_plugins_are_loaded_by_module_name_as_in_a_guest():
    """A guest runs pytest with plugin autoload off and ``-p pytest_repeat``: the plugin then
    goes by its module's name, and --repeat once refused to run there ("needs pytest-repeat"),
    which broke a bisect's figure mode on every kernel it booted."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                        "pytest_repeat", "--repeat", "2",
                        "tests/unit/test_units.py::test_rate_label_and_format_round_trip"],
                       cwd=root, capture_output=True, text=True,
                       env=dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"))
    assert r.returncode == 0, r.stdout[-1500:] + r.stderr[-1500:]
    assert "needs pytest-repeat" not in r.stdout + r.stderr and "2 passed" in r.stdout
