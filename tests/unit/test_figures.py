"""Each figure is declared once (harness.core.figures), and everything derives from it: a
record with an undeclared or misspelled key is refused, a slides.toml path naming no figure is
an error (at collection and in a report), a column takes the figure's header and format, and a
lab's own compared figure gets a baseline with no central list, even where the lab's code is
not loaded."""

import json
import os
import subprocess
import sys

import pytest

from harness.core import figures
from harness.core.errors import HarnessError
from harness.core.figures import RATE, TWO_SIDED, check_derived, declared, figure
from harness.report import presentation
from harness.results import baseline
from harness.results.records import Recorder, load_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
META = {"run_id": "r1", "kernel": {"release": "6.18.44", "where": "host"}, "host": {}, "tools": {}}


def test_a_misspelled_or_undeclared_key_is_named_with_the_nearest_figure():
    assert check_derived({"goodput_bps": 1.0, "counter_error": -0.001}) == []
    assert check_derived({"countr_error": 0.1}) == [
        "derived.countr_error is not a declared figure (did you mean counter_error?)"]
    assert "does not fit its unit" in check_derived({"goodput_bps": -5.0})[0]


def test_a_figure_is_declared_once_and_a_family_matches_its_members():
    fam = figure("demo_error_1:{minor}", figures.ERROR, "demo class error")
    assert declared("demo_error_1:1f") is fam and declared("demo_error_2:1f") is None
    assert figure("demo_error_1:{minor}", figures.ERROR, "demo class error") == fam
    with pytest.raises(HarnessError, match="declared twice, differently"):
        figure("goodput_bps", RATE, "goodput", better=TWO_SIDED, threshold=0.5)
    with pytest.raises(HarnessError, match="needs a first night's threshold"):
        figure("demo_judged", RATE, "x", better=TWO_SIDED)


def lab_dir(tmp_path, slides: str):
    lab = tmp_path / "labs" / "demo"
    lab.mkdir(parents=True)
    (lab / "slides.toml").write_text(slides)
    return str(tmp_path / "labs")


def test_a_slide_path_naming_no_figure_is_an_error_not_a_blank_cell(tmp_path):
    labs = lab_dir(tmp_path, 'title = "demo"\n[[column]]\nvalue = "derived.goodput_eror"\n')
    with pytest.raises(HarnessError, match=r"labs/demo/slides.toml: derived.goodput_eror names "
                                           r"no declared figure \(did you mean goodput_error\?\)"):
        presentation.load("demo", labs_dir=labs, strict=True)


def test_a_column_takes_its_header_and_format_from_the_declaration(tmp_path):
    labs = lab_dir(tmp_path, '[[column]]\nvalue = "derived.goodput_error"\n'
                             '[[column]]\nvalue = "derived.configured_bps"\nheader = "shaped at"\n'
                             '[[column]]\nvalue = "derived.own_rate_bps"\n')
    carried = {"lab": "demo", "derived": {"metrics": {"own_rate_bps": {
        "key": "own_rate_bps", "unit": RATE, "label": "own rate"}}}}
    pres = presentation.load("demo", labs_dir=labs, records=[carried])
    assert [(c.header, c.format) for c in pres.columns] == [
        ("goodput error", "percent"), ("shaped at", "rate"), ("own rate", "rate")]
    with pytest.raises(HarnessError, match="own_rate_bps names no declared figure"):
        presentation.load("demo", labs_dir=labs, strict=True)  # without what declares it
    # a report of a run that did not measure it: an empty column, not an error
    assert presentation.load("demo", labs_dir=labs).columns[2].header == "derived.own_rate_bps"


def test_collection_fails_on_a_misspelled_slide_path(tmp_path):
    labs = lab_dir(tmp_path, '[[column]]\nvalue = "derived.goodput_bpss"\n')
    with open(os.path.join(labs, "demo", "test_demo.py"), "w") as f:
        f.write("def test_nothing():\n    pass\n")
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                        "no:cacheprovider", "--rootdir", ROOT, "-c", os.path.join(ROOT, "pyproject.toml"),
                        os.path.join(labs, "demo"), "--results", str(tmp_path / "results")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "derived.goodput_bpss names no declared figure (did you mean goodput_bps?)" in r.stderr


def test_a_labs_own_compared_figure_gets_a_baseline_without_its_code(tmp_path):
    figure("demo_widget_bps", RATE, "widget rate", better=TWO_SIDED, threshold=0.05)
    for run, value in (("night1", 100e6), ("night2", 110e6)):
        Recorder(str(tmp_path / run), dict(META, run_id=run)).write(
            "demo", "labs/demo/t.py::test_w", 0,
            {"name": "widget", "derived": {"demo_widget_bps": value}}, "passed", "", "")
    figures._FIGURES.pop("demo_widget_bps")  # as in `kernel-lab compare`: the lab not loaded
    first = load_records(str(tmp_path / "night1"))[0]
    assert first[0]["derived"]["metrics"]["demo_widget_bps"]["better"] == TWO_SIDED
    baseline.save(first, str(tmp_path), "demo", source="night1")
    stored = json.loads((tmp_path / "baselines" / "demo.json").read_text())
    assert stored["figures"] == {"demo::widget": {"demo_widget_bps": 100e6}}
    (change,) = baseline.compare(load_records(str(tmp_path / "night2"))[0], stored)
    assert change.metric.key == "demo_widget_bps" and change.regression  # +10 % against 5 %


def test_a_value_every_repeat_shares_has_no_interval_and_a_spread_keeps_one():
    # a configured rate repeated 4 times read "8 Mbit/s ± 0 bit/s" in a --repeat 4 table
    assert presentation.fmt_summary([8e6] * 4, "rate") == presentation.fmt_value(8e6, "rate")
    assert "±" in presentation.fmt_summary([0.001, -0.002, 0.0005], "error")
