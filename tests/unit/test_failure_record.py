"""A lab test that fails before its first ``record(...)`` still leaves a record, so the report's
failure view shows it; a passing one that records nothing, or a harness test, leaves none."""

import os
import subprocess
import sys

from harness.results.records import load_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LAB = '''
def test_breaks_before_recording(record):
    assert 1 + 1 == 3, "the lab broke early"


def test_passes_without_recording(record):
    pass


def test_fails_without_the_record_fixture():
    assert False
'''


def test_a_failure_before_the_first_record_is_recorded(tmp_path):
    lab = tmp_path / "labs" / "early"
    lab.mkdir(parents=True)
    (lab / "test_early.py").write_text(LAB)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), "-c", os.path.join(ROOT, "pyproject.toml"),
                        str(lab), "--results", str(tmp_path / "results"), "--run-id", "early"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    records, problems = load_records(str(tmp_path / "results" / "early"))
    assert not problems
    assert [(rec["test_id"].split("::")[-1], rec["name"], rec["verdict"]) for rec in records] == [
        ("test_breaks_before_recording",
         "test_breaks_before_recording (failed before its first record)", "failed")]
    assert "the lab broke early" in records[0]["reason"]
