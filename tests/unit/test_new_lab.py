"""`kernel-lab new-lab NAME` gives a lab that is the example under a new name."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def kl(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_new_lab_copies_the_example(tmp_path):
    r = kl("new-lab", "mylab", "--labs-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "mylab")) == ["README.md", "slides.toml", "test_mylab.py"]
    text = (tmp_path / "mylab" / "test_mylab.py").read_text()
    assert text.startswith('"""mylab: the smallest lab') and "def test_tbf_holds_its_rate" in text
    compile(text, "test_mylab.py", "exec")


def test_new_lab_refuses_a_bad_name_or_an_existing_lab(tmp_path):
    assert kl("new-lab", "My-Lab", "--labs-dir", str(tmp_path)).stderr.startswith(
        "kernel-lab: bad lab name 'My-Lab'")
    (tmp_path / "taken").mkdir()
    r = kl("new-lab", "taken", "--labs-dir", str(tmp_path))
    assert r.returncode == 2 and "exists already" in r.stderr
