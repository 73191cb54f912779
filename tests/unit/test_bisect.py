"""kernel-lab bisect's rules, with a runner that stands in for the kernels: the search, the
step verdicts (good, bad, skip), figure mode's intervals, endpoints, re-verification, resume."""

import json
import random

import pytest

from harness.core.errors import HarnessError
from harness.orchestrate.bisect import (BAD, BISECT_FILE, EXIT_FOUND, EXIT_INFRA, EXIT_NONE,
                                        GOOD, SKIP, Bisect, Figure, search)
from harness.orchestrate.cells import KernelResult
from harness.report import bisect_report


@pytest.mark.parametrize("n", range(2, 40))
def test_search_finds_the_first_bad_in_log2_steps(n):
    for first_bad in range(1, n):
        asked = []

        def decide(i):
            asked.append(i)
            return BAD if i >= first_bad else GOOD

        good, bad, skipped = search(n, decide)
        assert (good, bad, skipped) == (first_bad - 1, first_bad, [])
        assert len(asked) <= max(1, (n - 2).bit_length())
        assert 0 not in asked and n - 1 not in asked  # the endpoints are the caller's


def test_a_skipped_kernel_is_stepped_around_and_named_when_it_hides_the_culprit():
    # 0 good ... 9 bad, the first bad is 5, kernel 4 cannot be judged
    good, bad, skipped = search(10, lambda i: SKIP if i == 4 else BAD if i >= 5 else GOOD)
    assert (good, bad, skipped) == (3, 5, [4])
    # kernel 6 cannot be judged: the answer is still exact
    assert search(10, lambda i: SKIP if i == 6 else BAD if i >= 5 else GOOD) == (4, 5, [])


def result(passed=0, failed=0, skipped=0, errors=(), splats=0, records=(), rcs=(0,)):
    k = KernelResult("x", errors=list(errors), rcs=list(rcs), records=list(records))
    k.per_lab = {"lab": {"passed": passed, "failed": failed, "skipped": skipped}}
    if splats:
        k.records.append({"kernel_log": {"splats": [{"text": "WARNING"}] * splats}})
    return k


class Kernels:
    """Runner for a list of pretend kernels: ``outcome(index, session)`` gives a KernelResult."""

    def __init__(self, outcome):
        self.outcome, self.sessions = outcome, []

    def __call__(self, spec, folder, repeat):
        i = int(spec[1:])
        self.sessions.append((i, folder, repeat))
        return self.outcome(i, sum(1 for s in self.sessions if s[0] == i))


def specs(n):
    return [f"k{i}" for i in range(n)]


def test_verdict_mode_finds_the_kernel_that_fails_and_verifies_it(tmp_path):
    run = Kernels(lambda i, _: result(failed=1, passed=3, rcs=[1]) if i >= 6
                  else result(passed=4))
    b = Bisect(specs(11), str(tmp_path), run)
    assert b.run() == EXIT_FOUND
    data = json.loads((tmp_path / BISECT_FILE).read_text())
    assert data["outcome"]["first_bad"] == {"index": 6, "spec": "k6"}
    assert data["outcome"]["last_good"] == {"index": 5, "spec": "k5"}
    roles = [(s["index"], s["role"], s["decision"]) for s in data["steps"]]
    assert roles[:2] == [(0, "good endpoint", GOOD), (10, "bad endpoint", BAD)]
    assert roles[-2:] == [(6, "re-verify", BAD), (5, "re-verify", GOOD)]
    assert "first bad: k6" in bisect_report.markdown(data)


def test_a_splat_is_bad_and_what_could_not_run_or_verified_nothing_is_skipped(tmp_path):
    def outcome(i, _):
        return {3: result(errors=["lab: could not boot"]), 4: result(skipped=5),
                5: result(), 7: result(passed=4, splats=1)}.get(
                    i, result(failed=1, rcs=[1]) if i >= 8 else result(passed=4))
    b = Bisect(specs(10), str(tmp_path), Kernels(outcome))
    assert b.run() == EXIT_FOUND
    got = {s.index: (s.decision, s.reason) for s in b.steps if s.role == "step"}
    assert got[7][0] == BAD and "splat" in got[7][1]
    # the culprit is 7 with every kernel before it judged, or the skipped ones are named
    assert b.outcome["first_bad"]["spec"] == "k7"
    for i in (3, 4, 5):
        if i in got:
            assert got[i][0] == SKIP


def test_only_skipped_kernels_between_is_no_answer_and_names_them(tmp_path):
    b = Bisect(specs(4), str(tmp_path), Kernels(
        lambda i, _: result(errors=["lab: no such kernel"]) if i in (1, 2)
        else result(failed=1, rcs=[1]) if i == 3 else result(passed=2)))
    assert b.run() == EXIT_NONE
    assert b.outcome["summary"].startswith("the first bad kernel is one of k1, k2, k3")


def test_endpoints_are_verified_first(tmp_path):
    ok = Kernels(lambda i, _: result(passed=2))
    b = Bisect(specs(5), str(tmp_path / "a"), ok)
    assert b.run() == EXIT_NONE and "the bad endpoint k4 is not bad" in b.outcome["summary"]
    assert len(ok.sessions) == 2
    down = Bisect(specs(5), str(tmp_path / "b"), Kernels(
        lambda i, _: result(errors=["lab: could not fetch"]) if i == 0 else result(passed=1)))
    assert down.run() == EXIT_INFRA and "good endpoint k0" in down.outcome["summary"]


def test_a_culprit_that_does_not_hold_when_measured_again_is_no_answer(tmp_path):
    # k2 fails once, then passes: a flaky test, not a culprit
    b = Bisect(specs(5), str(tmp_path), Kernels(
        lambda i, n: result(failed=1, rcs=[1]) if i >= 3 or (i == 2 and n == 1)
        else result(passed=2)))
    assert b.run() == EXIT_NONE and "did not hold" in b.outcome["summary"]


def shaped(value, n):
    # a figure 3 % off fails its +-1 % test: the bisect reads it all the same
    return [{"lab": "ingress_ifb", "name": "htb 100mbit iperf3", "test_id": "t",
             "verdict": "failed" if abs(v) > 0.01 else "passed", "attempt": 1,
             "derived": {"counter_error": v}} for v in value(n)]


FIG = Figure("ingress_ifb::htb 100mbit iperf3", "counter_error", 0.01)


def test_figure_mode_finds_a_three_percent_shaper_that_passes_every_test(tmp_path):
    """The regression a pass/fail bisect cannot see: from k5 on, HTB is 3 % fast and every
    test still passes (inside a +-5 % bound)."""
    rng = random.Random(3)

    def outcome(i, _):
        centre = 0.03 if i >= 5 else 0.0
        return result(passed=3, records=shaped(
            lambda n: [centre + rng.gauss(0, 0.001) for _ in range(n)], 3))

    run = Kernels(outcome)
    b = Bisect(specs(12), str(tmp_path), run, figure=FIG, repeat=3)
    assert b.run() == EXIT_FOUND, b.outcome
    assert b.outcome["first_bad"]["spec"] == "k5"
    assert all(repeat == 3 for _, _, repeat in run.sessions)
    bad = next(s for s in b.steps if s.role == "bad endpoint")
    assert bad.interval["n"] == 3 and bad.interval["mean"] > 0.02
    written = bisect_report.write(json.loads((tmp_path / BISECT_FILE).read_text()), str(tmp_path))
    assert set(written) == {"md", "html", "tex", "png"}
    frame = (tmp_path / "bisect-frame.tex").read_text()
    assert frame.startswith("\\begin{frame}") and "first bad: k5" in frame and "bisect.png" in frame
    assert "first bad: k5" in (tmp_path / "bisect.html").read_text()


def test_figure_mode_takes_more_samples_then_skips_rather_than_guess(tmp_path):
    """k2 sits half way (+1.5 % +- noise as wide as the move): undecided, then skip."""
    rng = random.Random(5)

    def outcome(i, _):
        centre, sd = {0: (0.0, 0.001), 1: (0.0, 0.001), 2: (0.005, 0.02)}.get(i, (0.03, 0.001))
        return result(passed=3, records=shaped(
            lambda n: [centre + rng.gauss(0, sd) for _ in range(n)], 2))

    run = Kernels(outcome)
    b = Bisect(specs(4), str(tmp_path), run, figure=FIG, repeat=2, max_repeat=6)
    code = b.run()
    k2 = next(s for s in b.steps if s.index == 2 and s.role == "step")
    assert k2.decision == SKIP and "undecided after 6 samples" in k2.reason
    assert sum(1 for i, _, _ in run.sessions if i == 2) == 3  # 2 + 2 + 2 samples
    assert code == EXIT_NONE and "one of k2, k3" in b.outcome["summary"]


def test_figure_mode_needs_repeats_and_a_figure_the_run_made(tmp_path):
    with pytest.raises(HarnessError, match="--repeat 2"):
        Bisect(specs(3), str(tmp_path), Kernels(lambda i, _: result()), figure=FIG, repeat=1)
    b = Bisect(specs(3), str(tmp_path), Kernels(lambda i, _: result(passed=1)), figure=FIG,
               repeat=2)
    assert b.run() == EXIT_NONE and "no ingress_ifb::htb 100mbit iperf3" in \
        b.outcome["summary"]


def test_a_stopped_bisect_continues_from_its_file(tmp_path):
    def outcome(i, _):
        return result(failed=1, rcs=[1]) if i >= 7 else result(passed=2)

    class Killed(Exception):
        pass

    first = Kernels(outcome)

    def dies(spec, folder, repeat):
        if len(first.sessions) == 3:
            raise Killed
        return first(spec, folder, repeat)

    with pytest.raises(Killed):
        Bisect(specs(16), str(tmp_path), dies).run()
    again = Kernels(outcome)
    b = Bisect(specs(16), str(tmp_path), again)
    assert b.run() == EXIT_FOUND and b.outcome["first_bad"]["spec"] == "k7"
    assert {i for i, _, _ in again.sessions}.isdisjoint({i for i, _, _ in first.sessions[:3]}
                                                        - {6, 7})
    with pytest.raises(HarnessError, match="other kernels"):
        Bisect(specs(15), str(tmp_path), again)


def test_a_nightly_regression_comes_with_the_bisect_line_to_paste(tmp_path):
    from harness.orchestrate.bisect_line import command_for, pinned
    from harness.results import baseline

    def rec(error):
        return {"lab": "ingress_ifb", "name": "htb 100mbit iperf3", "test_id": "t",
                "verdict": "passed", "attempt": 1,
                "derived": {"counter_error": error, "goodput_bps": 95.6e6 * (1 + error)}}

    baseline.save([rec(0.0001)], str(tmp_path), "b", source="night 1")
    changes = baseline.compare([rec(0.03)], baseline.load(str(tmp_path), "b"))
    (counter,) = [c for c in changes if c.metric.key == "counter_error"]
    good = {"kind": "image", "image": "/boot/vmlinuz-6.1.0-56-amd64", "spec": "6.1.0-56-amd64"}
    bad = {"kind": "tree", "tree": "/src/linux", "spec": "/src/linux"}
    line = command_for(counter, good, bad)
    assert line == ("kernel-lab bisect --kernels /boot/vmlinuz-6.1.0-56-amd64,/src/linux "
                    "--labs ingress_ifb --figure 'ingress_ifb::htb 100mbit iperf3' "
                    "--metric counter_error --threshold 0.01 --repeat 3")
    (goodput,) = [c for c in changes if c.metric.key == "goodput_bps"]
    assert "--threshold 4.78e+07" in command_for(goodput, good, bad)  # an unshaped rate: 50 %
    folder = tmp_path / "6.12.1+deb13-amd64"
    folder.mkdir()
    (folder / ".kernel-lab.json").write_text(json.dumps({"suite": "trixie",
                                                         "meta_version": "6.12.1-1"}))
    assert pinned({"kind": "debian", "modules_root": str(folder),
                   "spec": "debian:trixie"}) == "debian:trixie=6.12.1-1"
    assert pinned({"kind": "running", "spec": "running"}) == "running"
