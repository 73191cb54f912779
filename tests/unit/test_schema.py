"""Records follow record.schema.json: the writer refuses one that breaks it, readers name it."""

import json

import pytest

from harness.core.errors import HarnessError
from harness.results.records import Recorder, load_records, schema_problem, upgrade

META = {"run_id": "r1", "kernel": {"release": "6.18.44", "where": "host"}, "host": {}, "tools": {}}


def write(tmp_path, **measurement):
    entry = {"name": "htb 10mbit", "params": {"rate": "10mbit"}, "derived": {"goodput_bps": 9.6e6}}
    entry.update(measurement)
    return Recorder(str(tmp_path), dict(META)).write("demo", "labs/demo/test_x.py::test_x", 0,
                                                     entry, "passed", "t0", "t1")


def test_a_good_record_is_written_and_read_back(tmp_path):
    path = write(tmp_path)
    rec = json.load(open(path))
    assert rec["schema"] == 2 and rec["attempt"] == 1 and rec["kernel_log"] == {"splats": []}
    records, problems = load_records(str(tmp_path))
    assert problems == [] and records == [rec]


def test_the_writer_refuses_a_record_that_breaks_the_schema(tmp_path):
    with pytest.raises(HarnessError, match="derived.goodput_bps = 'fast' does not fit its unit bit/s"):
        write(tmp_path, derived={"goodput_bps": "fast"})
    with pytest.raises(HarnessError, match=r"derived.goodput_bsp is not a declared figure "
                                           r"\(did you mean goodput_bps\?\)"):
        write(tmp_path, derived={"goodput_bsp": 9.6e6})
    with pytest.raises(HarnessError, match="breaks the record schema"):
        Recorder(str(tmp_path), dict(META)).write("demo", "t", 0, {"name": "x"}, "maybe", "", "")


def test_readers_name_a_file_that_breaks_the_schema(tmp_path):
    path = write(tmp_path)
    rec = json.load(open(path))
    rec["verdict"] = "probably fine"
    json.dump(rec, open(path, "w"))
    records, problems = load_records(str(tmp_path))
    assert records == [] and len(problems) == 1 and "breaks the record schema: verdict" in problems[0]


def test_schema_1_records_are_read_in_todays_shape():
    old = {"schema": 1, "run_id": "r", "lab": "l", "test_id": "t", "measurement": 0, "name": "n",
           "params": {}, "kernel": {"release": "6.1", "where": "vm"}, "host": {}, "tools": {},
           "state": {}, "samples": {}, "derived": {}, "tolerance": None, "verdict": "passed",
           "started": "", "ended": ""}
    assert schema_problem(old) is not None
    assert schema_problem(upgrade(old)) is None
