"""A failure's pcap files are linked from wherever the report is written: a record names them
from its session's folder (a nightly cell's, a guest's), the loaded record from the run folder
the reader was given, and the HTML page from its own folder.  A name that leaves the run folder
(a guest's record is not trusted) is dropped."""

import json
import os

from harness.report.render import html_page
from harness.report.tables import load_runs
from harness.results.records import load_records


def night(tmp_path):
    cell = tmp_path / "night" / "ingress_ifb" / "6.1.0-57-amd64"  # the cell's session folder
    (cell / "ingress_ifb").mkdir(parents=True)
    (cell / "captures").mkdir()
    (cell / "captures" / "b-vb.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    rec = {"schema": 4, "lab": "ingress_ifb", "test_id": "labs/ingress_ifb/t.py::test_x",
           "name": "x", "verdict": "failed", "reason": "AssertionError: 3 % fast",
           "kernel": {"release": "6.1.0-57-amd64", "where": "vm"}, "params": {}, "derived": {},
           "evidence": {"captures": [{"namespace": "b", "link": "vb", "summary": {"packets": 9},
                                      "files": ["captures/b-vb.pcap", "../../../../etc/passwd"]}]}}
    (cell / "ingress_ifb" / "test_x.json").write_text(json.dumps(rec))
    return tmp_path / "night"


def test_a_loaded_record_names_its_captures_from_the_run_folder(tmp_path):
    folder = night(tmp_path)
    (rec,) = load_records(str(folder), validate=False)[0]
    (capture,) = rec["evidence"]["captures"]
    assert capture["files"] == ["ingress_ifb/6.1.0-57-amd64/captures/b-vb.pcap"]
    assert (folder / capture["files"][0]).is_file()


def test_the_failure_view_links_the_pcap_from_where_the_page_is_written(tmp_path):
    folder = night(tmp_path)
    out = tmp_path / "elsewhere" / "report"
    out.mkdir(parents=True)
    page = html_page(load_runs([str(folder)], validate=False), out_dir=str(out))
    link = page.split("<a href='")[1].split("'")[0]
    assert (out / link).resolve() == (folder / "ingress_ifb/6.1.0-57-amd64/captures/b-vb.pcap")
    assert "passwd" not in page
    page = html_page(load_runs([str(folder)], validate=False), out_dir=str(folder))
    assert "<a href='ingress_ifb/6.1.0-57-amd64/captures/b-vb.pcap' download>" in page
    assert os.path.isfile(folder / "ingress_ifb/6.1.0-57-amd64/captures/b-vb.pcap")
