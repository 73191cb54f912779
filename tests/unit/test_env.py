"""Every KERNEL_LAB_* environment variable is read in harness.core.env and listed in the
README; no other module reads one."""

import glob
import os
import re

from harness.core import env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READS = re.compile(r"""(os\.environ(\.get)?[\[(]|os\.getenv\()\s*["']KERNEL_LAB_""")


def test_only_the_env_module_reads_kernel_lab_variables():
    readers = [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "harness", "**", "*.py"),
                                                           recursive=True)
               if READS.search(open(p).read()) and not p.endswith(os.path.join("core", "env.py"))]
    assert readers == []


def test_every_variable_the_code_names_is_declared_and_in_the_readme():
    named = set()
    for p in glob.glob(os.path.join(ROOT, "harness", "**", "*.py"), recursive=True):
        named |= set(re.findall(r"KERNEL_LAB_[A-Z_]+[A-Z]", open(p).read()))
    assert named <= set(env.VARIABLES), named - set(env.VARIABLES)
    assert env.readme_table() in open(os.path.join(ROOT, "README.md")).read()


def test_a_default_and_a_set_value(monkeypatch):
    monkeypatch.delenv("KERNEL_LAB_BOOT", raising=False)
    assert env.get("KERNEL_LAB_BOOT") == "fast"
    monkeypatch.setenv("KERNEL_LAB_BOOT", "vng")
    assert env.get("KERNEL_LAB_BOOT") == "vng" and env.is_set("KERNEL_LAB_BOOT")
