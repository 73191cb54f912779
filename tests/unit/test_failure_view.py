"""The failure view's link table shows the lab's links, not the devices a tunnel module makes
in every namespace by itself (the diagram hides the same set)."""

from harness.report import failures


def test_link_table_leaves_out_the_tunnel_modules_fallback_devices():
    rec = {"test_id": "labs/gre_mtu/test_gre_mtu.py::test_x", "verdict": "failed",
           "reason": "boom", "kernel": {"release": "6.1.0-57-amd64", "where": "vm"},
           "state": {"lab": {"kl0001-a": {
               "links": {"kl0001-va": {"kind": "veth", "mtu": 1500, "gso": True},
                         "gre0": {"kind": "gre", "mtu": 1476},
                         "gretap0": {"kind": "gretap", "mtu": 1462},
                         "kl0001-gre": {"kind": "gre", "mtu": 1400}},
               "tc": {"kl0001-va netem": {}}}}}}
    rows = failures._lab_rows(rec)
    assert [row[1] for row in rows] == ["kl0001-va", "kl0001-gre"]
    assert rows[0] == ["kl0001-a", "kl0001-va", "veth", 1500, "gso", "netem"]
    text = failures.markdown([rec])
    assert "kl0001-gre" in text and "gretap0" not in text


def test_a_test_that_built_nothing_gets_no_empty_diagram():
    rec = {"test_id": "t.py::test_early", "verdict": "failed", "reason": "broke early",
           "evidence": {"topology": {"prefix": "kl0001-", "namespaces": []}}}
    assert failures.diagram_svg(rec) == ""
    assert "The lab at the end" not in failures.html_section([rec])
