"""The kernel x lab cells in practice: shards on "two machines" merged into the run one machine
would have made, and two guests on two pytest-xdist workers at once with separate records."""

import datetime as dt
import json
import os
import re
import sys

from harness.core.procs import run_unwinding
from harness.results.records import load_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LABS = "_example,netlink_kinds"


def cli(results, *args, timeout=900):
    return run_unwinding([sys.executable, "-m", "harness.cli", "--results", str(results), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def cell_folders(run) -> set[str]:
    return {str(p.parent.relative_to(run)) for p in run.glob("*/*/cell.json")}


def verdicts(run) -> list[tuple]:
    return [(k["spec"], k["verdict"], json.dumps(k["counts"], sort_keys=True))
            for k in json.loads((run / "nightly.json").read_text())]


def masked(text: str, *run_ids: str) -> str:
    """A report with its figures and run ids blanked: what is left is its shape and verdicts."""
    for run_id in run_ids:
        text = text.replace(run_id, "RUN")
    return re.sub(r"[+-]?\d+(\.\d+)?", "#", text)


def test_two_shards_merged_are_the_run_one_machine_makes(tmp_path):
    single = cli(tmp_path, "nightly", "--kernels", "running", "--labs", LABS, "--run-id", "single")
    assert single.returncode == 0, single.stdout[-3000:] + single.stderr[-2000:]
    for i in (1, 2):  # the two machines of a CI matrix, each with its own results folder
        shard = cli(tmp_path / f"machine{i}", "nightly", "--kernels", "running", "--labs", LABS,
                    "--shard", f"{i}/2", "--run-id", f"s{i}")
        assert shard.returncode == 0, shard.stdout[-3000:] + shard.stderr[-2000:]
        assert len(cell_folders(tmp_path / f"machine{i}" / f"s{i}")) == 1
    s1, s2 = tmp_path / "machine1" / "s1", tmp_path / "machine2" / "s2"
    assert cell_folders(s1).isdisjoint(cell_folders(s2))

    merged = cli(tmp_path, "merge", str(s1), str(s2), "--into", "merged")
    assert merged.returncode == 0, merged.stdout[-3000:] + merged.stderr[-2000:]
    run = tmp_path / "merged"
    assert cell_folders(run) == cell_folders(s1) | cell_folders(s2) == cell_folders(
        tmp_path / "single")
    records = load_records(str(run))[0]
    assert sorted(r["test_id"] for r in records) == sorted(
        r["test_id"] for r in load_records(str(s1))[0] + load_records(str(s2))[0])
    assert verdicts(run) == verdicts(tmp_path / "single")

    reports = {}
    for name in ("single", "merged"):
        r = cli(tmp_path, "report", name)
        assert r.returncode == 0, r.stderr
        reports[name] = masked(r.stdout, name, "s1", "s2")
    assert reports["merged"] == reports["single"]
    for fmt, marker in (("--ktap", "KTAP version 1"), ("--kcidb", '"checkouts"'),
                        ("--junit", "<testsuites")):
        r = cli(tmp_path, "export", fmt, "merged")
        assert r.returncode == 0 and marker in r.stdout, r.stderr

    again = cli(tmp_path, "merge", str(s1), str(s1), "--into", "twice")
    assert again.returncode == 2 and "is in both" in again.stderr
    alone = cli(tmp_path, "merge", str(s1), "--into", "half")
    assert alone.returncode == 2, alone.stdout  # shard 2 never arrived: infrastructure
    assert "the cell did not run" in alone.stdout


def test_two_workers_run_two_guests_at_once_with_separate_records(tmp_path, debian_image):
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                       "--kernel", debian_image, "labs/_example", "labs/netlink_kinds",
                       "-k", "tbf_holds or tap_owned", "--results", str(tmp_path),
                       "--run-id", "pair"], cwd=ROOT, capture_output=True, text=True,
                      timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    run = tmp_path / "pair"
    cells = [json.loads(p.read_text()) for p in run.glob("*/*/cell.json")]
    assert sorted(c["lab"] for c in cells) == ["_example", "netlink_kinds"]
    assert {c["worker"] for c in cells} == {"gw0", "gw1"}
    (a, b) = [(dt.datetime.fromisoformat(c["started"]), dt.datetime.fromisoformat(c["ended"]))
              for c in cells]
    assert a[0] < b[1] and b[0] < a[1], "the two cells did not run at the same time"
    for c in cells:
        folder = run / c["folder"]
        records, problems = load_records(str(folder))
        assert records and not problems
        assert {rec["lab"] for rec in records} == {c["lab"]}  # each cell wrote only its own
        assert {rec["kernel"]["where"] for rec in records} == {"vm"}
        for rec in records:
            assert rec["conditions"]["jobs"] == 2
            assert rec["conditions"]["oversubscribed"] == (2 * 2 > os.cpu_count())
        assert (folder / "vm.json").exists() and (folder / "console.log").exists()
    plan = json.loads((run / "plan.json").read_text())
    assert sorted(plan["cells"]) == sorted(c["cell"] for c in cells)
    report = run_unwinding([sys.executable, "-m", "harness.cli", "--results", str(tmp_path),
                            "report", "pair"], cwd=ROOT, capture_output=True, text=True)
    assert ("host oversubscribed (2 cells at once" in report.stdout) == (2 * 2 > os.cpu_count())


def test_the_longest_cells_start_first_one_per_worker(tmp_path):
    """By the durations of an earlier run: with two workers the two longest cells start at
    once, one on each, and the two shortest after them."""
    labs = tmp_path / "labs"
    seconds = {"a": 5.0, "b": 50.0, "c": 40.0, "d": 1.0}
    for lab, took in seconds.items():
        (labs / lab).mkdir(parents=True)
        (labs / lab / f"test_{lab}.py").write_text(
            f"def test_{lab}(record):\n    record('{lab}')\n")
        earlier = tmp_path / "res" / "earlier" / lab / "6.0"
        earlier.mkdir(parents=True)
        (earlier / "cell.json").write_text(json.dumps({"cell": f"{lab}@running", "seconds": took}))
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                       *(str(labs / lab) for lab in seconds), "--results", str(tmp_path / "res"),
                       "--run-id", "now"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    cells = sorted((json.loads(p.read_text()) for p in (tmp_path / "res" / "now").glob(
        "*/*/cell.json")), key=lambda c: c["started"])
    first = {c["cell"]: c["worker"] for c in cells[:2]}
    assert set(first) == {"b@running", "c@running"}, cells
    assert set(first.values()) == {"gw0", "gw1"}
    assert {c["cell"] for c in cells[2:]} == {"a@running", "d@running"}
