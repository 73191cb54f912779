"""What a deck shows, read as a speaker would (issue "Slides a speaker would keep"), on records
made up to the shape a run writes: the plot shows the spread of its data, says its title once,
never draws the capability probe or one test's MTU as the lab's, the template lab stays out of
other labs' decks, a verdict column marks only what did not pass, a lab split across kernels
is one table with the kernel of each figure, and the first frame after the title says what the
run found."""

import json

import matplotlib
import pytest

import harness.measure.accounting  # noqa: F401  (declares the tunnel figures the slides name)
import harness.measure.shaping  # noqa: F401  (declares the shaping figures the slides name)
from harness.report import plots, presentation, render, summary, topology
from harness.report.files import topology_of
from harness.report.tables import Run, labs_of, verdict_of

SHAPING = ("ingress_ifb", "test_ingress_ifb.py::test_ingress_shaping_is_accurate")


def record(lab, test, name, verdict="passed", params=None, derived=None, release="6.1.0",
           where="vm", state=None, attempt=1):
    return {"lab": lab, "test_id": f"labs/{lab}/{test}[{name}]", "name": name, "verdict": verdict,
            "params": params or {}, "derived": derived or {}, "tolerance": 0.01, "attempt": attempt,
            "kernel": {"release": release, "where": where}, "state": state or {}}


def shaped(qdisc, mbit, error, verdict="passed", **kw):
    return record(*SHAPING, f"{qdisc} {mbit}mbit iperf3", verdict,
                  {"qdisc": qdisc, "generator": "iperf3", "direction": "ingress via ifb"},
                  {"configured_bps": mbit * 1e6, "goodput_bps": mbit * 1e6 * (1 + error),
                   "goodput_error": error, "counter_error": error / 2}, **kw)


def runs_of(*groups):
    return [Run(f"/nowhere/run{i}", list(recs), []) for i, recs in enumerate(groups)]


def test_the_shaping_plot_scales_to_its_data_and_labels_the_worst_point(tmp_path):
    errors = [0.0004, -0.0007, 0.0002, 0.0001]  # within ±0.07 %, as on the host
    (run,) = runs_of([shaped("htb", 10 * (i + 1), e) for i, e in enumerate(errors)])
    made = plots.make_plots([run], str(tmp_path))
    drawn = json.loads((tmp_path / "ingress_ifb-1.json").read_text())
    low, high = drawn["axes"]["ylim"]
    assert high <= 3 * 0.07 and low == -high  # a few times the data's reach (in %), not ±7.5
    assert "±1 % tolerance: off scale" in drawn["texts"]  # the band is named, not drawn
    assert "-0.07 %" in drawn["texts"]  # the worst point carries its value
    title = next(iter(made))  # said once, by the slide: not in the image, no kernel subtitle
    assert not any(title.split(": ", 1)[1] in t or run.label in t for t in drawn["texts"])


def test_a_tolerance_inside_the_datas_reach_is_drawn_as_a_band(tmp_path):
    (run,) = runs_of([shaped("htb", 10, 0.009), shaped("tbf", 20, -0.004)])
    plots.make_plots([run], str(tmp_path))
    drawn = json.loads((tmp_path / "ingress_ifb-1.json").read_text())
    assert "±1 % tolerance" in drawn["texts"] and drawn["axes"]["ylim"][1] >= 1.0


def test_panels_of_different_measurements_do_not_share_an_axis():
    spec = {"kind": "bars", "group": "params.tunnel", "series": "params.traffic",
            "value": "derived.goodput_bps", "where": "params.gso"}

    def tcp(tunnel, bps, where):
        return record("gre_mtu", "t.py::test_tcp", f"{tunnel} tcp", where=where,
                      params={"tunnel": tunnel, "traffic": "TCP", "gso": True},
                      derived={"goodput_bps": bps})

    guest, host = runs_of([tcp("gre", 4e8, "vm")], [tcp("vxlan", 1e10, "host")])
    split = plots.bars(spec, "gre_mtu", [guest, host])
    assert not split.axes[0].get_shared_y_axes().joined(split.axes[0], split.axes[1])
    guest, host = runs_of([tcp("vxlan", 4e8, "vm")], [tcp("vxlan", 1e10, "host")])
    same = plots.bars(spec, "gre_mtu", [guest, host])
    assert same.axes[0].get_shared_y_axes().joined(same.axes[0], same.axes[1])


def limiter(name, mbit, error, generator="iperf3", **kw):
    return record("rate_limiters", "test_rate_limiters.py::test_limiter_holds_its_rate",
                  f"{name} {mbit}mbit {generator}",
                  params={"limiter": name, "generator": generator},
                  derived={"configured_bps": mbit * 1e6, "counter_error": error,
                           "goodput_error": error}, **kw)


def policing(size, share, drops, **kw):
    if size == "shaped":
        return record("rate_limiters", "test_rate_limiters.py::test_policing_drops_where_shaping_"
                      "queues", "ifb htb", params={"limiter": "ifb+htb", "burst": "default",
                                                   "versus": "policing against shaping"},
                      derived={"goodput_bps": share * 95e6, "expected_goodput_bps": 95e6,
                               "shaper_drops": drops, "sender_rtt_ms": 11.0}, **kw)
    return record("rate_limiters", "test_rate_limiters.py::test_policing_drops_where_shaping_"
                  "queues", f"police {size}", params={"limiter": "police", "burst": size,
                                                      "versus": "policing against shaping"},
                  derived={"goodput_bps": share * 95e6, "expected_goodput_bps": 95e6,
                           "goodput_share": share, "limiter_drops": drops,
                           "sender_rtt_ms": 0.8}, **kw)


def test_the_policing_slide_shows_goodput_as_a_share_of_the_rate_and_drops(tmp_path):
    """In bucket order, then the shaper; goodput in % of what the rate carries, each bar with
    its drops; the host, which lacks police, gets no empty panel."""
    guest, host = runs_of([policing("large", 0.88, 59), policing("shaped", 1.0003, 0),
                           policing("small", 0.11, 108), policing("default", 0.16, 59)],
                          [limiter("htb", 20, 0.0001, release="6.18", where="host")])
    plots.make_plots([guest, host], str(tmp_path))
    drawn = json.loads((tmp_path / "rate_limiters-2.json").read_text())
    assert [p["group"] for p in drawn["points"]] == ["police small", "police default",
                                                      "police large", "ifb+htb default"]
    assert [round(p["y"], 4) for p in drawn["points"]] == [0.11, 0.16, 0.88, 1.0003]
    assert {"108 dropped", "59 dropped", "0 dropped"} <= set(drawn["texts"])
    assert {p["panel"] for p in drawn["points"]} == {guest.label}
    assert guest.label in drawn["texts"] and host.label not in drawn["texts"]


def test_the_atlas_gives_each_limiter_one_colour_and_names_every_series(tmp_path):
    """Twelve series and more: a colour per limiter on every panel (a palette of six wrapped
    round before), floods hollow, and the legend names the series of every panel, not only
    the last one's."""
    names = ["htb", "tbf", "tbf-peakrate", "hfsc", "fq", "netem-rate", "cake"]
    guest = [limiter(n, 20, 0.001) for n in names] + [limiter(n, 8, -0.001, "iperf3 udp")
                                                       for n in names]
    host = [limiter("htb", 20, 0.0002, release="6.18", where="host")]
    g, h = runs_of(guest, host)
    fig = plots.error_vs_rate(presentation.load("rate_limiters").plots[0], "rate_limiters",
                              [g, h])
    colours = {}
    for ax in fig.axes:
        for series in ax.containers:  # one errorbar per series and figure
            line, label = series.lines[0], series.get_label()
            colours.setdefault(label.split(" ")[0], set()).add(
                matplotlib.colors.to_hex(line.get_color()))
            assert (line.get_markerfacecolor() == "white") == ("udp" in label), label
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({next(iter(c)) for c in colours.values()}) == len(names)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "cake iperf3 udp, counter" in legend and "htb iperf3, goodput" in legend


def test_a_test_that_failed_before_its_figures_stays_in_the_lab_table():
    """rate_limiters' netem floods on Debian 7.2 (run 20261202-rl4-nightly) failed before they
    recorded: the record has no limiter, and the table left it out, so its row read "-" on that
    kernel beside the others' figures.  The failure is a row of its own, named, marked."""
    pres = presentation.load("ingress_ifb")
    failed = record(*SHAPING, "tbf 20mbit iperf3 (failed before its first record)", "failed",
                    release="7.2")
    guest, other = runs_of([shaped("htb", 10, 0.001), failed],
                           [shaped("htb", 10, 0.002, release="6.12")])
    headers, rows = presentation.cross_kernel(pres, [guest, other], verdict_of)
    mine = [row for row in rows if row[0].startswith("tbf 20mbit iperf3 (failed")]
    assert len(mine) == 1 and mine[0][headers.index(guest.label)] == "failed", rows
    headers, rows = presentation.table(pres, guest.records, verdict_of)
    assert any(row[0].startswith("tbf 20mbit") and "failed" in row for row in rows), rows


def test_the_template_lab_stays_out_of_a_deck_of_other_labs():
    (run,) = runs_of([shaped("htb", 10, 0.001),
                      record("_example", "test_example.py::test_tbf_holds_its_rate", "tbf")])
    assert labs_of([run]) == ["ingress_ifb"]
    deck = render.beamer([run])
    assert "_example" not in deck and "example" not in deck.lower()
    (alone,) = runs_of([record("_example", "test_example.py::test_tbf_holds_its_rate", "tbf")])
    assert labs_of([alone]) == ["_example"]  # the template's own run still has its report


def test_a_verdict_column_marks_only_what_did_not_pass():
    pres = presentation.load("ingress_ifb")
    green = [shaped("htb", 10, 0.001), shaped("tbf", 20, 0.002)]
    headers, rows = presentation.table(pres, green, verdict_of)
    assert "verdict" not in headers and not any("passed" in c for row in rows for c in row)
    headers, rows = presentation.table(pres, green + [shaped("htb", 30, -0.03, "failed")],
                                       verdict_of)
    column = [row[headers.index("verdict")] for row in rows]
    assert sorted(column) == ["", "", "failed"]


def test_a_lab_split_across_kernels_is_one_table_with_the_kernel_of_each_figure():
    pres = presentation.load("ingress_ifb")
    guest, host = runs_of([shaped("htb", 10, 0.001)],
                          [shaped("tbf", 20, 0.002, release="6.18", where="host")])
    headers, rows = presentation.cross_kernel(pres, [guest, host], verdict_of)
    assert headers[-1] == "kernel" and len(rows) == 2 and "-" not in sum(rows, [])
    assert [row[-1] for row in rows] == [guest.label, host.label]
    guest, host = runs_of([shaped("htb", 10, 0.001)],
                          [shaped("htb", 10, 0.002, release="6.18", where="host")])
    headers, rows = presentation.cross_kernel(pres, [guest, host], verdict_of)
    assert headers[-2:] == [guest.label, host.label]
    assert rows[0][-2:] == ["+0.10 %", "+0.20 %"]  # the figure, not ", passed"


def test_a_cross_kernel_cell_shows_the_first_figure_the_row_has_and_names_it():
    pres = presentation.load("gre_mtu")

    def gre(name, derived, verdict="passed", release="6.1.0"):
        return record("gre_mtu", "t.py::test", name, verdict, release=release,
                      params={"tunnel": "vxlan", "inner_mtu": 1400, "traffic": name},
                      derived=derived)

    a, b = runs_of([gre("TCP", {"goodput_bps": 4.9e8}), gre("UDP", {"fragments_per_datagram": 2.0})],
                   [gre("TCP", {"goodput_bps": 1e10}, "failed", release="6.18"),
                    gre("UDP", {"fragments_per_datagram": 2.0}, release="6.18")])
    headers, rows = presentation.cross_kernel(pres, [a, b], verdict_of)
    by = {row[headers.index("traffic")]: row for row in rows}
    assert by["TCP"][headers.index("figure")] == "throughput"
    assert by["TCP"][-2:] == [presentation.fmt_value(4.9e8, "rate"),
                              presentation.fmt_value(1e10, "rate") + ", failed"]
    assert by["UDP"][headers.index("figure")] == "frags/dgram" and by["UDP"][-1] == "2.00"


def test_a_diagram_draws_the_lab_alone_and_says_what_varies_by_test():
    def topo(mtu, probe=False):
        ns = [{"name": "kl0001-a", "short": "a", "qdiscs": [], "classes": [], "filters": [],
               "links": [{"name": "kl0001-tun", "index": 3, "kind": "vxlan", "mtu": mtu,
                          "addresses": [], "peer": None}]}]
        if probe:
            ns.append({"name": "kl0001-probet", "short": "probet", "qdiscs": [], "classes": [],
                       "filters": [], "links": [{"name": "probe0", "index": 2, "kind": "veth",
                                                 "mtu": 1500, "addresses": [], "peer": None}]})
        return {"prefix": "kl0001-", "namespaces": ns}

    drawn = record("gre_mtu", "t.py::test_tcp_is_segmented_not_fragmented", "tcp",
                   state={"topology": topo(1500, probe=True)})
    other = record("gre_mtu", "t.py::test_datagrams", "udp 1400",
                   state={"lab": {"a": {"links": {"kl0002-tun": {"kind": "vxlan", "mtu": 1400}}}}})
    (run,) = runs_of([drawn, other])
    topo_ = topology_of("gre_mtu", [run])
    (tun,) = topo_["namespaces"][0]["links"]
    assert tun["varies"] == {"MTU": ["1400", "1500"]}
    source = topology.diagram(topo_).source
    assert "MTU 1400 | 1500" in source and "by test" in source
    assert "probe" not in source


def test_the_first_frame_after_the_title_says_what_the_run_found():
    guest, host = runs_of([shaped("htb", 10, 0.0014), shaped("tbf", 10, 0.0, "failed")],
                          [shaped("htb", 10, -0.0004, release="6.18", where="host"),
                           record("gre_mtu", "t.py::test_x", "gre", "skipped", release="6.18",
                                  where="host")])
    s = summary.summarize([guest, host])
    assert s.cell("ingress_ifb", guest.label) == "1 FAILED, 1 passed"
    assert s.cell("gre_mtu", guest.label) == "-" and s.cell("gre_mtu", host.label) == "1 skipped"
    assert s.line() == "4 tests of 2 labs on 2 kernels: 1 failed, 2 passed, 1 skipped"
    assert any(h.startswith("HTB and TBF on an ifb") and "3 figures, worst +0.07 % on "
               + guest.label in h for h in s.headlines), s.headlines
    assert f"ingress_ifb on {guest.label}: 1 failed" in s.attention
    deck = render.beamer([guest, host])
    frames = deck.split("\\begin{frame}")
    assert "\\titlepage" in frames[1] and "What the run found" in frames[2]
    assert "1 FAILED, 1 passed" in frames[2] and "worst +0.07" in frames[2]
    page = render.html_page([guest, host])
    assert page.index("What the run found") < page.index("<section><h2>")


@pytest.mark.parametrize("lab", ["ingress_ifb", "gre_mtu", "ovs_gre", "_example"])
def test_each_measuring_lab_has_a_headline_figure(lab):
    """(that it names a declared figure is checked when pytest collects the lab, with every
    other derived path of its slides.toml)"""
    pres = presentation.load(lab)
    assert pres.headline.get("value", "").startswith("derived.")


def test_a_tunnel_headline_quotes_the_case_that_carries_the_finding():
    """gre_mtu's finding is what a 1500 inner MTU does; the 1400 rows (no fragments) and the
    loss rows do not water it down to "12 figures, at most 2.00", a number without a unit."""
    def udp(tunnel, mtu, frags):
        return record("gre_mtu", "test_gre_mtu.py::test_udp", f"{tunnel}-{mtu}", params={
            "tunnel": tunnel, "inner_mtu": mtu}, derived={"fragments_per_datagram": frags})
    (run,) = runs_of([udp(t, m, 2.0 if m == 1500 else 0.0) for t in ("gre", "vxlan")
                      for m in (1400, 1500)])
    line = summary.headline("gre_mtu", [run])
    assert line == ("UDP through GRE and VXLAN, inner MTU 1500 over a 1500 underlay: "
                    "2.00 fragments per datagram in all 2 figures"), line
    (broken,) = runs_of([udp("gre", 1500, 2.0), udp("vxlan", 1500, 1.0)])
    assert "2 figures, at least 1.00 fragments per datagram" in summary.headline("gre_mtu", [broken])


def test_an_ovs_headline_names_which_setup_loses_what():
    """ovs_gre's finding is which datapath and setup black-holes a 1500-byte VM MTU: the
    headline gives the lowest and highest loss with the setup of each, for the 1500 rows only."""
    def vm(datapath, setup, mtu, loss):
        return record("ovs_gre", "test_ovs_gre.py::test_vm_mtu_over_a_1500_underlay",
                      f"{datapath}-{setup}-{mtu}", params={
                          "datapath": datapath, "setup": setup, "vm_mtu": mtu},
                      derived={"tunnel_loss": loss})
    (run,) = runs_of([vm("system", "a, df_default=false", 1500, 0.0),
                      vm("system", "a, df_default=true", 1500, 0.9941),
                      vm("netdev", "a, df_default=false", 1500, 0.9938),
                      vm("netdev", "a, df_default=false", 1400, 0.0)])
    line = summary.headline("ovs_gre", [run])
    assert line == ("VM MTU 1500 over a 1500 underlay, VM frames lost in the GRE tunnel: from "
                    "0.0 % (system, a, df_default=false) to 99.4 % (system, a, df_default=true), "
                    "3 figures"), line


def test_a_test_that_wrote_no_record_is_counted_from_its_sessions_junit(tmp_path):
    """A skip usually writes no record: the summary counts it from the session's junit.xml, so
    a kernel that skipped half a lab does not read as all passed."""
    session = tmp_path / "run" / "gre_mtu" / "6.18"
    session.mkdir(parents=True)
    (session / "run.json").write_text(json.dumps({"kernel": {"release": "6.18",
                                                             "where": "host"}}))
    (session / "junit.xml").write_text(
        '<testsuites><testsuite><testcase classname="labs.gre_mtu.test_gre_mtu" name="test_x[gre]">'
        '<skipped message="kernel lacks CONFIG_NET_IPGRE"/></testcase>'
        '<testcase classname="labs.gre_mtu.test_gre_mtu" name="test_x[vxlan]"/></testsuite>'
        '</testsuites>')
    recorded = record("gre_mtu", "test_gre_mtu.py::test_x", "vxlan", release="6.18", where="host")
    recorded["test_id"] = "labs/gre_mtu/test_gre_mtu.py::test_x[vxlan]"
    run = Run(str(tmp_path / "run"), [recorded], [])
    s = summary.summarize([run])
    assert s.cell("gre_mtu", run.label) == "1 passed, 1 skipped"
    assert s.line() == "2 tests of 1 lab on 1 kernel: 1 passed, 1 skipped"


def test_the_readmes_slide_images_name_their_run_and_exist():
    """The README's slide pages are generated (scripts/readme_slides.py RUN), name the run they
    came from, and every image they show is in the tree."""
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = open(os.path.join(root, "README.md")).read()
    block = text[text.index("<!-- slides: begin -->"):text.index("<!-- slides: end -->")]
    assert re.search(r"rendered by `scripts/readme_slides\.py [\w.-]+`", block), block
    images = re.findall(r"\]\((docs/images/[\w.-]+\.png)\)", block)
    assert len(images) == 4 and all(os.path.isfile(os.path.join(root, i)) for i in images)


def test_a_four_namespace_diagram_is_laid_out_for_a_16_9_slide(tmp_path):
    """ovs_gre (vm1 - h1 = h2 - vm2, as a Debian 6.1 guest's run drew it, session 12): the VMs
    in a row above their hypervisors, not one column (1017 x 700 before) nor one row of four
    boxes (3.9 : 1), so the slide does not shrink its 12 nodes to illegible, and the hypervisors
    side by side."""
    import os

    from PIL import Image

    with open(os.path.join(os.path.dirname(__file__), "data", "ovs_gre-topology.json")) as f:
        topo = json.load(f)
    cross = [("vm1/eth1", "h1/vp1"), ("h1/nic1", "h2/nic2"), ("h2/vp2", "vm2/eth2")]
    assert topology._depths(["vm1", "h1", "h2", "vm2"], cross) == {"vm1": 0, "h1": 1, "h2": 1,
                                                                  "vm2": 0}
    width, height = Image.open(topology.render(topo, str(tmp_path / "ovs"), "png")).size
    assert 1.4 <= width / height <= 2.2, (width, height)  # 16:9 is 1.78
    laid = json.loads(topology.diagram(topo).pipe(format="json"))
    y = {o["name"]: float(o["pos"].split(",")[1]) for o in laid["objects"] if "pos" in o}
    x = {o["name"]: float(o["pos"].split(",")[0]) for o in laid["objects"] if "pos" in o}
    for vm, hv in (("vm1", "h1"), ("vm2", "h2")):  # graphviz's y grows upwards
        vm_y = min(v for n, v in y.items() if n.startswith(vm + "/"))
        assert all(vm_y > v for n, v in y.items() if n.startswith(hv + "/")), (vm, y)
    assert max(v for n, v in x.items() if n.startswith("h1/")) < \
        min(v for n, v in x.items() if n.startswith("h2/"))  # side by side


def test_two_namespaces_stay_one_row_left_to_right():
    def ns(short, index, peer):
        return {"name": f"kl0001-{short}", "short": short, "qdiscs": [], "classes": [],
                "filters": [], "links": [{"name": f"kl0001-v{short}", "index": index,
                                          "kind": "veth", "mtu": 1500, "addresses": [],
                                          "peer": peer, "peer_namespace": None}]}

    a, b = ns("a", 2, 3), ns("b", 3, 2)
    a["links"][0]["peer_namespace"], b["links"][0]["peer_namespace"] = b["name"], a["name"]
    assert topology._depths(["a", "b"], [("a/va", "b/vb")]) == {"a": 0, "b": 0}
    source = topology.diagram({"prefix": "kl0001-", "namespaces": [a, b]}).source
    assert "rankdir=LR" in source and "constraint" not in source


def test_two_figures_are_drawn_one_by_one_and_three_get_an_interval(tmp_path):
    """Two figures give a 95 % interval 9 times their spread (t = 12.7): on a night with
    --repeat 2 the atlas drew HTB's -0.13 and +0.30 % as a bar past the +-1 % band.  Fewer
    than three are drawn as dashes, said under the panels; three or more get the interval."""
    two = [limiter("htb", 20, -0.0013), limiter("htb", 20, 0.0030)]
    three = [limiter("tbf", 20, e) for e in (0.0001, 0.0004, -0.0002)]
    (g,) = runs_of(two + three)
    fig = plots.error_vs_rate(presentation.load("rate_limiters").plots[0], "rate_limiters", [g])
    points = {p["series"]: p for p in fig.kernel_lab_points}
    assert points["htb iperf3, counter"]["ci95"] is None
    assert points["htb iperf3, counter"]["figures"] == [-0.0013, 0.0030]
    assert points["tbf iperf3, counter"]["ci95"] > 0 and "figures" not in points["tbf iperf3, counter"]
    assert any("dashes: each figure" in t.get_text() for t in fig.texts)
