"""The formats kernel CI reads: KTAP parsed back by a parser written from ktap.rst, KCIDB
validated with kcidb-io's own schema, JUnit with one suite per kernel."""

import copy
import re

import pytest
from harness.report.exports import Kernel, Outcome, junit, kcidb, ktap

STARTED, ENDED = "2026-11-28T10:00:00.000+00:00", "2026-11-28T10:00:12.500+00:00"


def rec(name, derived, verdict="passed", measurement=0):
    return {"name": name, "derived": derived, "verdict": verdict, "measurement": measurement,
            "started": STARTED, "ended": ENDED}


def two_kernels() -> list[Kernel]:
    host = Kernel("6.18.4 (host)", "6.18.4", "host", "running", {"kind": "running"}, labs={
        "ingress_ifb": [
            Outcome("ingress_ifb", "labs/ingress_ifb/test_ingress_ifb.py::test_accurate[htb-10mbit]",
                 "passed", "", 1, [rec("htb 10mbit", {"goodput_error": 0.004,
                                                      "goodput_bps": 9.6e6})]),
            Outcome("ingress_ifb", "labs/ingress_ifb/test_ingress_ifb.py::test_accurate[tbf-1gbit]",
                 "skipped", "1 Gbit/s is above a third of the veth's capacity", 1, []),
            Outcome("ingress_ifb", "labs/ingress_ifb/test_ingress_ifb.py::test_flaky_one", "flaky",
                 "", 2, [rec("tbf 10mbit", {"goodput_error": 0.01})])],
        "gre_mtu": [
            Outcome("gre_mtu", "labs/gre_mtu/test_gre_mtu.py::test_loss_multiplies[gre]", "failed",
                 "assert 0.31 < 0.2 # the loss", 1,
                 [rec("gre 1500", {"datagram_loss": 0.31, "fragments_per_datagram": 2.0},
                      "failed")])]})
    guest = Kernel("6.1.0-28-amd64 (vm)", "6.1.0-28-amd64", "vm", "debian:bookworm",
                   {"kind": "debian"}, labs={
                       "ingress_ifb": [Outcome("ingress_ifb", "labs/x.py::test_baseline", "passed",
                                            "", 1, [rec("veth", {"goodput_bps": 3.1e9})])]},
                   errors={"ovs_gre": "the guest did not boot: timed out after 600 s"})
    return [host, guest]


# -- a KTAP parser from Documentation/dev-tools/ktap.rst, strict about what the spec requires --
RESULT = re.compile(r"(ok|not ok) (\d+)(?: ([^#]*?))?\s*(?:# ?(.*))?$")


class KtapError(AssertionError):
    pass


def parse_ktap(text: str) -> list[dict]:
    lines = text.split("\n")
    assert lines[-1] == "", "KTAP output ends with a newline"
    tests, pos = _parse_block(lines[:-1], 0, 0)
    if pos != len(lines) - 1:
        raise KtapError(f"trailing lines from {pos}: {lines[pos:]!r}")
    return tests


def _parse_block(lines, pos, indent):
    pad = " " * indent
    if lines[pos] != pad + "KTAP version 1":
        raise KtapError(f"line {pos}: expected version line, got {lines[pos]!r}")
    m = re.fullmatch(re.escape(pad) + r"1\.\.(\d+)", lines[pos + 1])
    if not m:
        raise KtapError(f"line {pos + 1}: expected plan, got {lines[pos + 1]!r}")
    planned, pos, tests = int(m.group(1)), pos + 2, []
    subtests, diagnostics = [], []
    while pos < len(lines) and len(tests) < planned:
        line = lines[pos]
        if line.startswith(pad + "  KTAP version 1"):
            if subtests:
                raise KtapError(f"line {pos}: two subtest blocks for one test")
            subtests, pos = _parse_block(lines, pos, indent + 2)
            continue
        if line.startswith(pad + "# "):
            diagnostics.append(line[len(pad) + 2:])
            pos += 1
            continue
        if not line.startswith(pad) or line[len(pad):len(pad) + 1] == " ":
            raise KtapError(f"line {pos}: bad indentation: {line!r}")
        m = RESULT.fullmatch(line[len(pad):])
        if not m:
            raise KtapError(f"line {pos}: not a result line: {line!r}")
        if int(m.group(2)) != len(tests) + 1:
            raise KtapError(f"line {pos}: test number {m.group(2)}, expected {len(tests) + 1}")
        directive = m.group(4) or ""
        tests.append({"ok": m.group(1) == "ok", "name": m.group(3) or "",
                      "directive": directive.split(" ", 1)[0] if directive.split(" ", 1)[0]
                      in ("SKIP", "TODO", "XFAIL", "TIMEOUT", "ERROR") else "",
                      "why": directive, "subtests": subtests, "diagnostics": diagnostics})
        subtests, diagnostics, pos = [], [], pos + 1
    if len(tests) != planned:
        raise KtapError(f"plan 1..{planned} but {len(tests)} results")
    return tests, pos


def test_the_parser_refuses_what_the_spec_does_not_allow():
    with pytest.raises(KtapError, match="plan"):
        parse_ktap("KTAP version 1\n1..2\nok 1 a\n")
    with pytest.raises(KtapError, match="test number"):
        parse_ktap("KTAP version 1\n1..2\nok 1 a\nok 3 b\n")
    with pytest.raises(KtapError, match="version"):
        parse_ktap("1..1\nok 1 a\n")
    with pytest.raises(KtapError, match="indentation"):
        parse_ktap("KTAP version 1\n1..1\n ok 1 a\n")


def test_ktap_parses_back_as_kernel_lab_test():
    tree = parse_ktap(ktap(two_kernels()))
    host, guest = tree
    assert (host["name"], host["ok"]) == ("6.18.4 (host)", False)  # gre_mtu failed
    assert [(lab["name"], lab["ok"]) for lab in host["subtests"]] == [("ingress_ifb", True),
                                                                       ("gre_mtu", False)]
    accurate, skipped, flaky = host["subtests"][0]["subtests"]
    assert accurate == {"ok": True, "name": "test_accurate[htb-10mbit]", "directive": "",
                        "why": "", "subtests": [], "diagnostics": []}
    assert skipped["ok"] and skipped["directive"] == "SKIP"
    assert skipped["why"] == "SKIP 1 Gbit/s is above a third of the veth's capacity"
    assert flaky["ok"] and "attempt 2" in flaky["why"]
    (failed,) = host["subtests"][1]["subtests"]
    assert not failed["ok"] and failed["diagnostics"] == ["assert 0.31 < 0.2 the loss"]
    assert [(lab["name"], lab["ok"], lab["directive"]) for lab in guest["subtests"]] == [
        ("ingress_ifb", True, ""), ("ovs_gre", False, "ERROR")]
    assert not guest["ok"]


def test_kcidb_is_valid_by_kcidb_io_and_carries_the_figures():
    from kcidb_io.schema import LATEST

    data = kcidb(two_kernels(), "20261128-nightly")
    LATEST.validate_exactly(data)
    assert len(data["checkouts"]) == len(data["builds"]) == 2
    by_path = {t["path"]: t for t in data["tests"]}
    htb = by_path["kernel_lab.ingress_ifb.htb_10mbit"]
    assert htb["status"] == "PASS" and htb["number"] == {"value": pytest.approx(0.4), "unit": "%"}
    assert htb["misc"]["figures"]["goodput_bps"] == 9.6e6
    assert htb["duration"] == 12.5
    assert by_path["kernel_lab.gre_mtu.gre_1500"]["status"] == "FAIL"
    assert by_path["kernel_lab.gre_mtu.gre_1500"]["number"]["value"] == pytest.approx(31.0)
    assert by_path["kernel_lab.ingress_ifb.veth"]["number"] == {"value": 3.1e9, "unit": "bit/s",
                                                                "prefix": "metric"}
    assert by_path["kernel_lab.ovs_gre"]["status"] == "ERROR"
    skipped = [t for t in data["tests"] if t["status"] == "SKIP"]
    assert len(skipped) == 1 and "number" not in skipped[0]
    ids = [t["id"] for t in data["tests"]]
    assert len(ids) == len(set(ids))


def test_kcidb_validation_is_real():
    """The same check kcidb() makes refuses a submission that breaks the schema."""
    import jsonschema
    from kcidb_io.schema import LATEST

    data = copy.deepcopy(kcidb(two_kernels(), "r"))
    data["tests"][0]["status"] = "GREAT"
    with pytest.raises(jsonschema.exceptions.ValidationError):
        LATEST.validate_exactly(data)


def test_junit_has_one_suite_per_kernel(tmp_path):
    from junitparser import Error, Failure, JUnitXml, Skipped

    path = tmp_path / "junit.xml"
    junit(two_kernels()).write(str(path))
    suites = list(JUnitXml.fromfile(str(path)))
    assert [s.name for s in suites] == ["6.18.4 (host)", "6.1.0-28-amd64 (vm)"]
    host = {c.name: c for c in suites[0]}
    assert len(host) == 4
    assert isinstance(host["test_loss_multiplies[gre]"].result[0], Failure)
    assert isinstance(host["test_accurate[tbf-1gbit]"].result[0], Skipped)
    assert {c.classname for c in suites[0]} == {"labs.ingress_ifb", "labs.gre_mtu"}
    assert any(isinstance(r, Error) for c in suites[1] for r in c.result)
