"""Slide-ready output, looked at as a person would: a deck from a run of all four labs compiles
as it is, its text holds the run's figures and no escape debris, every table fits its frame at
a readable size, its pages render, and a plot's points are the records' figures."""

import json
import os
import re
import subprocess
import sys

import pytest

from harness.core.procs import run_unwinding
from harness.report.render import latex_escape
from harness.results.records import load_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def deck(four_labs, tmp_path_factory):
    assert four_labs.returncode == 0, four_labs.output[-3000:]
    out = tmp_path_factory.mktemp("deck")
    r = run_unwinding([sys.executable, "-m", "harness.cli", "report", str(four_labs.folder), "--format",
                       "beamer", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                      timeout=300)
    assert r.returncode == 0, r.stderr
    tex = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "deck.tex"],
                         cwd=out, capture_output=True, text=True, timeout=300)
    assert tex.returncode == 0, tex.stdout[-3000:]
    return out


def test_latex_is_escaped_exactly_once():
    assert latex_escape("inner_mtu ±5 % a&b") == r"inner\_mtu \ensuremath{\pm}5 \% a\&b"


def test_the_deck_compiles_and_every_table_fits_its_frame_at_a_readable_size(deck):
    source = (deck / "deck.tex").read_text()
    assert "\\titlepage" in source and "\\resizebox" not in source and "\\tiny" not in source
    assert source.count("\\begin{tabular}") >= 4  # a table of each lab (split, never shrunk)
    log = (deck / "deck.log").read_text(errors="replace")
    too_wide = [float(m) for m in re.findall(r"Overfull \\hbox \((\d+\.\d+)pt too wide", log)]
    assert not [w for w in too_wide if w > 1.0], too_wide


def test_the_decks_text_holds_the_runs_figures_and_no_escape_debris(deck, four_labs):
    text = subprocess.run(["pdftotext", "-layout", "deck.pdf", "-"], cwd=deck,
                          capture_output=True, text=True, check=True).stdout
    records, _ = load_records(str(four_labs.folder))
    shaped = next(r for r in records if r["name"] == "htb 10mbit iperf3")
    goodput = f"{shaped['derived']['goodput_bps'] / 1e6:.2f} Mbit/s"
    assert goodput in text, goodput
    assert "four" in text and "ingress_ifb" in text  # title frame: run id, labs
    for debris in ("textbackslash", "\\_", "\\%", "$\\pm$", "ensuremath", "{}"):
        assert debris not in text, debris


def test_the_decks_pages_render_and_are_not_blank(deck):
    subprocess.run(["pdftoppm", "-png", "-r", "40", "deck.pdf", "page"], cwd=deck, check=True)
    pages = sorted(deck.glob("page-*.png"))
    assert len(pages) >= 8
    from matplotlib import image

    for page in pages:
        pixels = image.imread(str(page))[..., :3].reshape(-1, 3)
        assert (pixels.min(axis=1) < 0.8).mean() > 0.01, page  # something is drawn on it


def test_each_labs_topology_is_drawn_from_netlink_state(deck):
    for lab in ("ingress_ifb", "gre_mtu", "ovs_gre", "netlink_kinds"):
        topo = json.loads((deck / f"{lab}-topology.json").read_text())
        assert (deck / f"{lab}-topology.png").stat().st_size > 2000
        assert topo["namespaces"] and all(ns["links"] for ns in topo["namespaces"])
    ifb = json.loads((deck / "ingress_ifb-topology.json").read_text())
    b = next(ns for ns in ifb["namespaces"] if ns["short"] == "b")
    assert any(a["kind"] == "mirred" and a["action"] == "egress redirect"
               for f in b["filters"] for a in f["actions"])
    ovs = json.loads((deck / "ovs_gre-topology.json").read_text())
    assert any("greport0" in br["ports"] for ns in ovs["namespaces"]
               for br in ns.get("ovs", {}).get("bridges", {}).values())


def test_a_plots_points_are_the_records_figures(deck, four_labs):
    records, _ = load_records(str(four_labs.folder))
    plotted = json.loads((deck / "ingress_ifb-1.json").read_text())["points"]
    assert plotted
    for p in plotted:
        qdisc, generator, what = re.match(r"(\w+) (\w+), (.*)", p["series"]).groups()
        key = "goodput_error" if what == "goodput" else "counter_error"
        mine = [r["derived"][key] for r in records
                if r["lab"] == "ingress_ifb" and r["params"].get("qdisc") == qdisc
                and r["params"].get("generator") == generator
                and r["derived"].get("configured_bps") == p["x"]
                and r["params"].get("direction") == "ingress via ifb"]
        assert mine and abs(sum(mine) / len(mine) - p["y"]) < 1e-9, p
    loss = json.loads((deck / "gre_mtu-2.json").read_text())["points"]
    measured = {p["group"]: p["y"] for p in loss if p["series"] == "measured"}
    for r in records:
        if r["lab"] == "gre_mtu" and "tunnel_loss" in r["derived"]:
            group = f"{r['params']['tunnel']} {r['params']['inner_mtu']}"
            assert abs(measured[group] - r["derived"]["tunnel_loss"]) < 1e-9


def test_a_speaker_would_keep_the_deck(deck, four_labs):
    """The first frame after the title says what the run found; the shaping plot's y range is
    a few times its data's reach; no diagram draws the capability probe."""
    frames = (deck / "deck.tex").read_text().split("\\begin{frame}")
    assert "\\titlepage" in frames[1]
    assert "What the run found" in frames[2] and "\\begin{tabular}" in frames[2]
    assert all(lab.replace("_", "\\_") in frames[2] or lab in frames[2]
               for lab in ("ingress_ifb", "gre_mtu", "ovs_gre", "netlink_kinds"))
    shaping = json.loads((deck / "ingress_ifb-1.json").read_text())
    reach = max(abs(p["y"]) + (p.get("ci95") or 0) for p in shaping["points"]) * 100
    assert shaping["axes"]["ylim"][1] <= max(3 * reach, 0.15), (shaping["axes"], reach)
    for lab in ("ingress_ifb", "gre_mtu", "ovs_gre", "netlink_kinds"):
        topo = json.loads((deck / f"{lab}-topology.json").read_text())
        assert not [ns["short"] for ns in topo["namespaces"] if "probe" in ns["short"]]
        assert not [lk["name"] for ns in topo["namespaces"] for lk in ns["links"]
                    if "probe" in lk["name"]]
    gre = json.loads((deck / "gre_mtu-topology.json").read_text())
    assert any(lk.get("varies", {}).get("MTU") == ["1400", "1500"]
               for ns in gre["namespaces"] for lk in ns["links"])
