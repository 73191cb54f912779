"""Evidence kept until the comparison: kept for what regressed, deleted for the rest, and nothing
outside the session's folder is touched (a record may come from a guest)."""

import json
import os

from harness.results.pending import PENDING, settle

PCAP = (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\x00" * 8 + b"\xff\xff\x00\x00\x01\x00\x00\x00")


def record(folder, name, test_id, evidence=None, measurement=0):
    rec = {"schema": 3, "lab": "demo", "name": name, "test_id": test_id, "attempt": 1,
           "measurement": measurement, "verdict": "passed", "derived": {}}
    if evidence is not None:
        rec["evidence"] = evidence
    path = folder / "demo" / f"{test_id.rsplit('::', 1)[-1]}-{measurement}.json"
    path.write_text(json.dumps(rec))
    return path


def captures(session, test):
    folder = session / "demo" / "captures" / test
    folder.mkdir(parents=True)
    (folder / "a-va.pcap0").write_bytes(PCAP)
    return [{"namespace": "a", "link": "va", "files": [f"demo/captures/{test}/a-va.pcap0"]}]


def test_a_regressed_test_keeps_its_evidence_and_the_rest_is_deleted(tmp_path):
    session = tmp_path / "cell"
    (session / "demo").mkdir(parents=True)
    kept = record(session, "tbf", "labs/demo/t.py::test_tbf",
                  {"pending": PENDING, "captures": captures(session, "test_tbf"), "rows": [["x", 5]]})
    # the figure that regressed is the test's second measurement: the evidence is on its first
    record(session, "tbf 2", "labs/demo/t.py::test_tbf", measurement=1)
    gone = record(session, "htb", "labs/demo/t.py::test_htb",
                  {"pending": PENDING, "captures": captures(session, "test_htb")})
    untouched = record(session, "ok", "labs/demo/t.py::test_ok")
    before = untouched.read_text()
    counts = settle(str(session), {"demo::tbf 2": "demo::tbf 2 counter_error: ... REGRESSION"})
    assert counts == {"kept": 1, "discarded": 1}
    ev = json.loads(kept.read_text())["evidence"]
    assert "pending" not in ev and ev["regressed"].endswith("REGRESSION")
    assert ev["captures"][0]["summary"]["packets"] == 0  # summarized now (an empty pcap)
    assert (session / "demo" / "captures" / "test_tbf" / "a-va.pcap0").exists()
    assert "evidence" not in json.loads(gone.read_text())
    assert not (session / "demo" / "captures" / "test_htb").exists()
    assert untouched.read_text() == before


def test_nothing_regressed_deletes_every_pending_capture_and_its_folders(tmp_path):
    session = tmp_path / "run"
    (session / "demo").mkdir(parents=True)
    record(session, "tbf", "labs/demo/t.py::test_tbf",
           {"pending": PENDING, "captures": captures(session, "test_tbf")})
    assert settle(str(session), {}) == {"kept": 0, "discarded": 1}
    assert not (session / "demo" / "captures").exists()


def test_settle_follows_no_symlink_and_deletes_nothing_outside_the_session(tmp_path):
    session = tmp_path / "guest"
    (session / "demo").mkdir(parents=True)
    outside = tmp_path / "precious"
    outside.write_text("keep me")
    (session / "demo" / "link.pcap0").symlink_to(outside)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "demo").mkdir(parents=True)
    target = record(elsewhere, "x", "labs/demo/t.py::test_x", {"pending": PENDING})
    os.symlink(target, session / "demo" / "planted.json")  # a record that is a link: not read
    record(session, "tbf", "labs/demo/t.py::test_tbf",
           {"pending": PENDING, "captures": [{"namespace": "a", "link": "va", "files": [
               "demo/link.pcap0", "../precious", str(outside)]}]})
    assert settle(str(session), {}) == {"kept": 0, "discarded": 1}
    assert outside.read_text() == "keep me"
    assert json.loads(target.read_text())["evidence"]["pending"] == PENDING
