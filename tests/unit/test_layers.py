"""The layout: one-way imports between the layers (import-linter's layers contract, in
pyproject.toml), the plugin in small parts, and no private pytest API."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "harness")
LINT = os.path.join(os.path.dirname(sys.executable), "lint-imports")


def lint(cwd, pythonpath):
    return subprocess.run([LINT, "--config", os.path.join(cwd, "pyproject.toml"), "--no-cache"],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=pythonpath))


def test_the_layers_contract_is_kept():
    r = lint(ROOT, ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 kept, 0 broken" in r.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The same contract on a copy of the tree where core imports the plugin: it must fail."""
    shutil.copytree(HARNESS, tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp_path / "pyproject.toml")
    units = tmp_path / "harness" / "core" / "units.py"
    units.write_text(units.read_text() + "\nfrom ..plugin import options  # noqa\n")
    r = lint(str(tmp_path), str(tmp_path))
    assert r.returncode != 0
    assert "BROKEN" in r.stdout and "harness.core.units -> harness.plugin.options" in r.stdout


def python_files():
    for folder, _, files in os.walk(HARNESS):
        for fn in files:
            if fn.endswith(".py"):
                yield os.path.join(folder, fn)


def test_no_private_pytest_api():
    users = [os.path.relpath(p, ROOT) for p in python_files()
             if "_pytest" in open(p).read().replace("pytest_", "")]
    assert users == []


def test_the_plugins_parts_are_small():
    folder = os.path.join(HARNESS, "plugin")
    sizes = {fn: sum(1 for _ in open(os.path.join(folder, fn)))
             for fn in os.listdir(folder) if fn.endswith(".py")}
    assert sizes and all(n < 200 for n in sizes.values()), sizes


def test_every_package_says_what_it_owns():
    for folder, _, files in os.walk(HARNESS):
        if "__pycache__" in folder:
            continue
        init = os.path.join(folder, "__init__.py")
        assert os.path.exists(init), folder
        text = open(init).read()
        assert text.startswith('"""') and len(text) > 200, init


def test_a_traffic_child_imports_no_netlink_library():
    """The iperf3 child enters its namespace with harness.core.netns alone: in an emulated
    guest importing pyroute2 there costs seconds (servers then miss their 10 s start-up)."""
    code = ("import sys; import harness.core.netns, harness.traffic._iperf3_child; "
            "print(sorted(m for m in sys.modules if m.startswith('pyroute2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_version_is_the_one_pyproject_says():
    import re

    import harness

    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert harness.__version__ == re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def test_the_code_passes_the_linter():
    """ruff (pyproject's [tool.ruff]: pycodestyle, pyflakes, blind excepts), as make check runs
    it: make test and CI see a lint error too."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    assert ruff, "ruff is a dependency (pyproject.toml): pip install -e ."
    r = subprocess.run([ruff, "check", "harness", "labs", "tests", "bench"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:]
