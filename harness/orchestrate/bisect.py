"""``kernel-lab bisect``: the first bad kernel of a list, by verdict or by a figure.

    kernel-lab bisect --kernels K0,K1,...,Kn --labs ingress_ifb [-- -k SELECTION]
    kernel-lab bisect --kernels ... --labs ingress_ifb --figure 'ingress_ifb::htb 100mbit iperf3' \\
                      --metric counter_error --threshold 0.01 --repeat 3 [--max-repeat 9]

The kernels are named as ``--kernel`` takes them, oldest first: K0 is the good one, Kn the bad
one.  Each step is a normal run of the lab selection on one kernel (``nightly``'s cells: the
running kernel directly, the others booted), in ``results/<bisect id>/step-NN-<try>/``.

Judging a step (git bisect's words: good, bad, skip):

- **verdict mode** (no ``--figure``): a failed test or a kernel splat is bad; every selected
  test passed is good; a kernel that could not be fetched, booted or run, where no test ran,
  or where every test skipped, is ``skip``: never good or bad.
- **figure mode**: the figure (``lab::name`` and metric, signed as recorded) is measured
  ``--repeat`` times.  The bad endpoint sets the direction that regressed.  A step is good
  when its 95 % interval overlaps the good endpoint's and it moved less than ``--threshold``
  that way; bad when it moved more than the threshold that way and the intervals separate.
  Neither: more samples, ``--repeat`` at a time up to ``--max-repeat``, then skip.  Never a
  guess.

Before: both endpoints are verified (good is good, bad is bad, by the same rule), else it
stops in one line.  After: the culprit and the kernel before it are measured again and must
judge the same.  ``bisect.json`` (the steps, figures, intervals, decisions) is rewritten after
each step, and a bisect started again with the same ``--id`` reuses the steps it holds.
Exit code: 0 culprit found and verified, 1 none (endpoints not as claimed, only skipped
kernels between the last good and the first bad, or a culprit that did not hold), 2 when an
endpoint could not be run (infrastructure).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..core.errors import HarnessError
from ..core.paths import check_run_id
from ..measure.stats import Summary, separated, summarize
from ..results import baseline
from .cells import KernelResult

GOOD, BAD, SKIP = "good", "bad", "skip"
EXIT_FOUND, EXIT_NONE, EXIT_INFRA = 0, 1, 2
BISECT_FILE = "bisect.json"


def search(n: int, decide: Callable[[int], str]) -> tuple[int, int, list[int]]:
    """The first bad index of ``n`` kernels whose first is good and last bad, asking
    ``decide(i)`` (GOOD, BAD or SKIP) about as few as git bisect would: the untested index
    nearest the middle of the open range; a skipped one is set aside and its neighbours
    tried.  Returns (last good, first bad, the skipped indexes between them)."""
    if n < 2:
        raise HarnessError("bisect needs at least two kernels: a good one and a bad one")
    good, bad, skipped = 0, n - 1, set()
    while True:
        open_range = [i for i in range(good + 1, bad) if i not in skipped]
        if not open_range:
            return good, bad, [i for i in range(good + 1, bad)]
        middle = (good + bad) / 2
        pick = min(open_range, key=lambda i: (abs(i - middle), i))
        d = decide(pick)
        if d == GOOD:
            good = pick
        elif d == BAD:
            bad = pick
        elif d == SKIP:
            skipped.add(pick)
        else:
            raise ValueError(f"decide() gave {d!r}")


@dataclass(frozen=True)
class Figure:
    """The figure judged in figure mode: ``lab::name`` (as baselines name a measurement), one
    metric, and the move that counts as a regression (in the metric's unit)."""

    measurement: str
    metric: str
    threshold: float

    def values(self, records: list[dict]) -> list[float]:
        """Every sample of the figure, signed as recorded, whatever the test's verdict: a
        shaper 3 % fast fails a +-1 % test, and its figure is what the bisect is about."""
        out = []
        for r in records:
            if baseline.key_of(r) != self.measurement or r.get("verdict") == "skipped":
                continue
            v = (r.get("derived") or {}).get(self.metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(float(v))
        return out

    def decide(self, good: Summary, direction: int, now: Summary) -> str | None:
        """GOOD, BAD, or None (cannot be said yet: more samples) for ``now`` against the good
        endpoint's ``good``; ``direction`` +1 or -1, the way the bad endpoint moved."""
        moved = (now.mean - good.mean) * direction
        apart = separated(good, now)
        if moved > self.threshold and apart:
            return BAD
        if moved < self.threshold and not apart:
            return GOOD
        return None


@dataclass
class Step:
    index: int
    spec: str
    role: str  # "good endpoint", "bad endpoint", "step", "re-verify"
    decision: str = ""
    reason: str = ""
    runs: list = field(default_factory=list)  # run folders of this step's sessions
    release: str | None = None
    verdict: str = ""  # the kernel's verdict as nightly gives it (last session)
    values: list = field(default_factory=list)  # figure mode: every sample
    interval: dict | None = None


Runner = Callable[[str, str, int], KernelResult]  # (spec, step folder, repeat) -> result


class Bisect:
    """One bisect over ``kernels`` (oldest first); ``runner`` runs the lab selection on a
    kernel into a folder (``run_step`` for real; tests pass their own)."""

    extendable = False  # kernels may be appended after the search (git's revert check)

    def __init__(self, kernels: list[str], folder: str, runner: Runner,
                 figure: Figure | None = None, repeat: int = 1, max_repeat: int | None = None):
        if len(kernels) < 2:
            raise HarnessError("bisect needs at least two kernels: the good one first, the bad "
                               "one last")
        if figure and repeat < 2:
            raise HarnessError("figure mode needs --repeat 2 or more: a figure is judged by its "
                               "interval")
        self.kernels, self.folder, self.runner = kernels, folder, runner
        self.figure, self.repeat = figure, repeat
        self.max_repeat = max(max_repeat or 3 * repeat, repeat)
        self.steps: list[Step] = []
        self.known = self._resume()
        self.good_ref: Summary | None = None
        self.direction = 0
        self.outcome: dict = {}

    # -- a bisect that was stopped continues from its file --------------------------------
    def _resume(self) -> dict[tuple[int, str], Step]:
        path = os.path.join(self.folder, BISECT_FILE)
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            data = json.load(f)
        saved = data.get("kernels") or []
        if self.extendable:  # a git bisect appends its revert check's commit
            saved = saved[:len(self.kernels)]
        if saved != self.kernels or data.get("figure") != (
                asdict(self.figure) if self.figure else None):
            raise HarnessError(f"{path} is a bisect of other kernels or another figure: "
                               "give another --id")
        return {(s["index"], s["role"]): Step(**s) for s in data.get("steps", [])
                if s.get("decision")}

    def _save(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        data = {"kernels": self.kernels, "figure": asdict(self.figure) if self.figure else None,
                "mode": "figure" if self.figure else "verdict", "repeat": self.repeat,
                "max_repeat": self.max_repeat, "steps": [asdict(s) for s in self.steps],
                "outcome": self.outcome,
                "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        tmp = os.path.join(self.folder, f".{BISECT_FILE}.{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, os.path.join(self.folder, BISECT_FILE))

    # -- one step ------------------------------------------------------------------------
    def _session(self, step: Step, repeat: int) -> KernelResult:
        name = f"step-{step.index:02d}-{step.role.split()[0]}-{len(step.runs) + 1}"
        result = self.runner(step.spec, os.path.join(self.folder, name), repeat)
        step.runs.append(name)
        step.verdict = result.verdict
        if result.kernel is not None:
            step.release = result.kernel.release
        return result

    def judge(self, index: int, role: str = "step") -> Step:
        if (index, role) in self.known:
            step = self.known.pop((index, role))
            self.steps.append(step)
            if self.figure and step.values:
                self._reference(step)
            return step
        step = Step(index, self.kernels[index], role)
        self.steps.append(step)
        if self.figure:
            self._judge_figure(step)
        else:
            self._judge_verdict(step, self._session(step, self.repeat))
        self._save()
        return step

    def _judge_verdict(self, step: Step, result: KernelResult) -> None:
        n = result.counts
        if result.splats:  # a panic too: the guest's last test gets a failed record with it
            step.decision, step.reason = BAD, f"{result.splats} kernel splat(s)"
        elif result.errors:
            step.decision, step.reason = SKIP, f"could not run: {result.error}"
        elif n["failed"]:
            step.decision = BAD
            step.reason = f"{n['failed']} failed, {n['passed']} passed"
        elif any(rc != 0 for rc in result.rcs):
            step.decision, step.reason = SKIP, f"sessions ended with exit codes {result.rcs}"
        elif n["passed"] == 0:
            step.decision = SKIP
            step.reason = "no test ran" if n["skipped"] == 0 else (
                f"every test skipped ({n['skipped']}): nothing verified")
        else:
            step.decision, step.reason = GOOD, f"{n['passed']} passed, {n['skipped']} skipped"

    def _reference(self, step: Step) -> None:
        if step.role == "good endpoint":
            self.good_ref = summarize(step.values)
        elif step.role == "bad endpoint" and self.good_ref is not None:
            moved = summarize(step.values).mean - self.good_ref.mean
            self.direction = 1 if moved >= 0 else -1

    def _judge_figure(self, step: Step) -> None:
        fig = self.figure
        while len(step.values) < self.max_repeat:
            result = self._session(step, self.repeat)
            if result.errors:
                step.decision, step.reason = SKIP, f"could not run: {result.error}"
                return
            if result.splats:
                step.decision, step.reason = BAD, f"{result.splats} kernel splat(s)"
                return
            got = fig.values(result.records)
            if not got:
                step.decision = SKIP
                step.reason = (f"no {fig.measurement} with {fig.metric} in the run "
                               f"({result.counts})")
                return
            step.values += got
            now = summarize(step.values)
            step.interval = now.as_record()
            if step.role == "good endpoint":
                if now.half_width is not None:
                    step.decision, step.reason = GOOD, "the reference"
                    self._reference(step)
                    return
                continue
            if step.role == "bad endpoint":
                self.direction = 1 if now.mean >= self.good_ref.mean else -1
            d = fig.decide(self.good_ref, self.direction, now)
            if d is not None:
                step.decision = d
                step.reason = (f"{fig.metric} {now.mean:+.4g} (95 % ±{now.half_width:.2g}, "
                               f"n={now.n}) against {self.good_ref.mean:+.4g}: moved "
                               f"{(now.mean - self.good_ref.mean) * self.direction:+.4g} the "
                               f"bad way, threshold {fig.threshold:g}")
                return
        step.decision = SKIP
        step.reason = (f"{fig.metric} undecided after {len(step.values)} samples: neither within "
                       f"the good endpoint's interval nor {fig.threshold:g} beyond it")

    # -- the whole bisect ----------------------------------------------------------------
    def run(self) -> int:
        last = len(self.kernels) - 1
        good = self.judge(0, "good endpoint")
        if good.decision != GOOD:
            return self._end(EXIT_INFRA if good.reason.startswith("could not run") else EXIT_NONE,
                             f"the good endpoint {good.spec} is not good: {good.reason}")
        bad = self.judge(last, "bad endpoint")
        if bad.decision != BAD:
            return self._end(EXIT_INFRA if bad.reason.startswith("could not run") else EXIT_NONE,
                             f"the bad endpoint {bad.spec} is not bad: {bad.reason}")
        last_good, first_bad, skipped = search(
            len(self.kernels),
            lambda i: GOOD if i == 0 else BAD if i == last else self.judge(i).decision)
        if skipped:
            return self._end(EXIT_NONE, "the first bad kernel is one of "
                             + ", ".join(self.kernels[i] for i in skipped + [first_bad])
                             + f": the ones before {self.kernels[first_bad]} could not be judged")
        # the culprit, and the kernel before it, once more
        again_bad = self.judge(first_bad, "re-verify")
        again_good = self.judge(last_good, "re-verify")
        if again_bad.decision != BAD or again_good.decision != GOOD:
            return self._end(EXIT_NONE, f"the culprit did not hold when measured again: "
                             f"{again_good.spec} {again_good.decision}, {again_bad.spec} "
                             f"{again_bad.decision}")
        return self._end(EXIT_FOUND, f"first bad: {self.kernels[first_bad]} (last good: "
                         f"{self.kernels[last_good]})", first_bad=first_bad, last_good=last_good)

    def _end(self, code: int, text: str, **extra) -> int:
        self.outcome = {"exit": code, "summary": text, **{
            k: {"index": v, "spec": self.kernels[v]} for k, v in extra.items()}}
        self._save()
        return code


def run_step(spec: str, folder: str, repeat: int, lab_paths: list[str], vm_timeout: float,
             extra: list[str]) -> KernelResult:
    """The lab selection on one kernel, as one nightly cell session per lab, into ``folder``."""
    from ..results.cellfiles import read_cells
    from .cells import by_kernel
    from .nightly import run_cells

    results, run_id = os.path.split(folder)
    check_run_id(run_id)
    args = list(extra) + (["--repeat", str(repeat)] if repeat > 1 else [])
    run_cells([spec], lab_paths, results, run_id, vm_timeout, args)
    kernels = by_kernel(read_cells(folder), [spec])
    if not kernels:
        return KernelResult(spec, errors=[f"bisect: no cell of {spec} ran"])
    return kernels[0]

