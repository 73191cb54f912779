"""The shaping verdict: a shaper that does not shape fails, it is never skipped."""

from harness.measure.shaping import FAIL, PASS, SENDER_LIMITED, judge_flooded, judge_shaping

TOL = 0.05


def test_a_shaper_that_ignores_its_rate_fails_although_it_never_throttled():
    """Seen before: HTB let 13.54 Gbit/s through at 100 Mbit/s and the old rule ("no
    overlimits = sender-limited") reported a skip."""
    v = judge_shaping({"kernel counter": 134.4, "goodput": 140.6}, throttled=0, tolerance=TOL)
    assert v.outcome == FAIL and "does not shape" in v.reason


def test_a_shaper_10_percent_fast_fails():
    assert judge_shaping({"kernel counter": 0.10, "goodput": 0.10}, 0, TOL).outcome == FAIL
    assert judge_shaping({"kernel counter": 0.10, "goodput": 0.10}, 50, TOL).outcome == FAIL


def test_below_the_rate_without_throttling_is_sender_limited_and_says_why():
    v = judge_shaping({"kernel counter": -0.30, "goodput": -0.31}, throttled=0, tolerance=TOL)
    assert v.outcome == SENDER_LIMITED and "did not fill the shaper" in v.reason


def test_below_the_rate_while_throttling_fails():
    assert judge_shaping({"kernel counter": -0.08, "goodput": -0.02}, 12, TOL).outcome == FAIL


def test_within_the_tolerance_passes_whatever_the_overlimits():
    assert judge_shaping({"kernel counter": 0.004, "goodput": -0.01}, 30, TOL).outcome == PASS
    assert judge_shaping({"kernel counter": 0.049, "goodput": -0.049}, 0, TOL).outcome == PASS


def test_a_figure_may_carry_a_bound_of_its_own():
    """In an emulated guest the receiver's goodput gets 2 % while the shaper's counter keeps
    1 %: a goodput +1.5 % passes there, a counter +1.5 % still fails."""
    from harness.measure.shaping import judge_shaping

    wide = {"goodput": 0.02}
    assert judge_shaping({"kernel counter": 0.001, "goodput": 0.015}, 10, 0.01, wide).outcome \
        == "pass"
    assert judge_shaping({"kernel counter": 0.015, "goodput": 0.001}, 10, 0.01, wide).outcome \
        == "fail"
    assert judge_shaping({"kernel counter": 0.001, "goodput": 0.015}, 10, 0.01).outcome == "fail"


def test_a_floor_widens_the_low_side_only():
    """TBF with a bucket shallower than the sender's gaps (1 Gbit/s, 0.54 ms) loses time: its
    low side may reach the floor, its high side keeps the tolerance."""
    assert judge_shaping({"kernel counter": -0.016, "goodput": -0.018}, 9, 0.01,
                         floor=0.03).outcome == PASS
    assert judge_shaping({"kernel counter": -0.016, "goodput": -0.018}, 9, 0.01).outcome == FAIL
    assert judge_shaping({"kernel counter": -0.035, "goodput": -0.01}, 9, 0.01,
                         floor=0.03).outcome == FAIL
    assert judge_shaping({"kernel counter": 0.015, "goodput": 0.0}, 9, 0.01,
                         floor=0.03).outcome == FAIL


def _window(samples, method):
    from harness.measure.counters import CounterWindow

    return CounterWindow(samples[0][1], samples[-1][1], samples[-1][0] - samples[0][0], 6.4,
                         samples, method)


#: the CI run's readings (2026-12-01, Debian 6.1 guest, TBF 10 Mbit/s, netperf, two virtio-net
#: ports on a QEMU hub): the shaper's byte counter and the receiver's in-order bytes
CI_SHAPER = [(0.046, 8393788), (0.296, 8722326), (0.528, 9016042), (0.785, 9326412),
             (0.942, 9535344), (1.038, 9677660), (1.133, 9795752), (1.225, 9880536),
             (1.306, 10010740), (1.383, 10107636), (1.472, 10219672), (1.559, 10333222),
             (1.680, 10470996), (1.826, 10651162), (1.979, 10851010), (2.124, 11017550),
             (2.291, 11229510), (2.452, 11418760), (2.608, 11632234), (2.760, 11822998),
             (2.913, 12009220)]
CI_RECEIVER = [(0.214, 8228528), (0.444, 8502200), (0.690, 8783112), (0.898, 9043752),
               (1.002, 9192896), (1.097, 9311632), (1.192, 9433264), (1.278, 9523040),
               (1.354, 9620056), (1.440, 9722864), (1.530, 9824224), (1.626, 9918344),
               (1.772, 9983504), (1.926, 9983504), (2.069, 9983504), (2.225, 9983504),
               (2.397, 9983504), (2.552, 10688680), (2.705, 10688680), (2.856, 10688680),
               (3.008, 10997104)]


def test_a_goodput_read_through_this_machines_loss_recovery_is_recorded_not_judged():
    """CI, Debian 6.1 guest, two virtio-net ports joined by QEMU's hub, TBF 10 Mbit/s with
    netperf (35 retransmits): the receiver's in-order count stood still for 0.8 s behind a
    segment the hub lost and was behind again when the window closed (goodput -20.4 %), while
    the shaper's counter read +0.56 % and the shaper dropped nothing.  The goodput is kept,
    unjudged, with why; the counter is judged.  When the shaper dropped 1 % of what it carried
    or more, the stall is its doing: judged, it fails."""
    from harness.measure.shaping import ShapedRun

    class Traffic:
        goodput_bps = 9.595e6

    rate, expected = 10_000_000, 10e6 * 1448 / 1514
    run = ShapedRun(Traffic(), _window(CI_SHAPER, "slope"), _window(CI_RECEIVER, "in-order"),
                    rate, expected, throttled=637, shaper_drops=0)
    assert abs(run.counter_error) < 0.01 and run.goodput_error < -0.1
    assert run.received.stalled and run.received.longest_still_s > 0.6
    assert run.goodput_not_judged(0.02) and "loss recovery" in run.goodput_not_judged(0.02)
    assert run.verdict(0.01, 0.02).outcome == PASS
    derived = run.derived(0.01, 0.02)
    assert derived["goodput_judged"] is False
    assert derived["metrics"]["goodput_bps"]["not_judged"] == run.goodput_not_judged(0.02)
    # a few tail drops at the shaper's queue limit are TCP probing it, not the shaper's rate
    # (the next CI, same port pair: 5 drops of ~7600 packets, stalled, goodput -22.8 %)
    tail = ShapedRun(Traffic(), run.window, run.received, rate, expected, throttled=792,
                     shaper_drops=5)
    assert "5 of ~76" in tail.goodput_not_judged(0.02) and tail.verdict(0.01, 0.02).outcome == PASS
    # a shaper that drops 1 % of what it carries or more has its stalled goodput judged: fails
    dropped = ShapedRun(Traffic(), run.window, run.received, rate, expected, throttled=637,
                        shaper_drops=200)
    assert not dropped.goodput_not_judged(0.02) and dropped.verdict(0.01, 0.02).outcome == FAIL
    # a stall at the window's end alone: fit and edges agree (both low), the stillness tells
    end = [(t, min(v, 9983504)) for t, v in CI_SHAPER]
    assert _window(end, "in-order").stalled
    # a steady receiver is always judged: a shaper 3 % slow fails on its goodput too
    slow = [(t, int(8.2e6 + t * expected * 0.97 / 8)) for t, _ in CI_SHAPER]
    judged_run = ShapedRun(Traffic(), run.window, _window(slow, "in-order"), rate, expected,
                           throttled=637)
    assert not judged_run.received.stalled and not judged_run.goodput_not_judged(0.02)
    assert judged_run.verdict(0.01, 0.02).outcome == FAIL


#: host 6.18, TBF 10 Mbit/s, 8 TCP flows, 6313 drops at the shaper (run 20261203-055805-f439,
#: every 4th reading): its byte counter, the receiver's in-order bytes, and the senders'
#: ACK + SACK view of what the receiver got (harness.net.diag.tcp_delivered)
FLOWS8_SHAPER = [(0.001, 8084195), (0.201, 8334005), (0.401, 8574731), (0.601, 8833625),
                 (0.801, 9083435), (1.001, 9333245), (1.201, 9584569), (1.401, 9817725),
                 (1.601, 10070099), (1.801, 10332021), (2.001, 10572747), (2.201, 10816501),
                 (2.401, 11070853), (2.601, 11328233), (2.801, 11581071), (3.001, 11833909)]
FLOWS8_IN_ORDER = [(0.005, 7505861), (0.204, 7734645), (0.405, 8037277), (0.604, 8335565),
                   (0.803, 8460093), (1.004, 8568693), (1.204, 8670053), (1.403, 8782997),
                   (1.603, 8949517), (1.803, 9159477), (2.003, 9547541), (2.204, 9982925),
                   (2.404, 10466557), (2.603, 10744573), (2.803, 11071821), (3.003, 11313637)]
FLOWS8_DELIVERED = [(0.011, 7738998), (0.208, 7976470), (0.408, 8198014), (0.608, 8454310),
                    (0.805, 8690334), (1.008, 8932150), (1.206, 9163830), (1.405, 9386822),
                    (1.606, 9628638), (1.805, 9882038), (2.005, 10109374), (2.208, 10366654),
                    (2.408, 10604126), (2.606, 10831462), (2.806, 11073278), (3.005, 11315094)]


def test_behind_a_dropping_shaper_goodput_is_what_arrived_not_what_was_released():
    """8 flows through TBF at 10 Mbit/s: the shaper dropped 6313 packets, and at the window's
    start the receiver held 233 KB out of order, which its in-order count released inside
    the window: +6.8 % over 3 s while the shaper's counter read -0.17 %.  What arrived, in
    order or not, reads -0.12 %: that is the goodput judged.  A shaper that drops nothing
    keeps the in-order count; one that passes 3 % too much fails on either."""
    from harness.measure.shaping import ShapedRun

    class Traffic:
        goodput_bps = 9.59e6

    rate, expected = 10_000_000, 10e6 * 1448 / 1514
    shaper, in_order = _window(FLOWS8_SHAPER, "slope"), _window(FLOWS8_IN_ORDER, "in-order")
    delivered = _window(FLOWS8_DELIVERED, "slope")
    old = ShapedRun(Traffic(), shaper, in_order, rate, expected, throttled=1992,
                    shaper_drops=6313)
    assert old.goodput_error > 0.06 and old.verdict(0.01).outcome == FAIL
    run = ShapedRun(Traffic(), shaper, in_order, rate, expected, throttled=1992,
                    shaper_drops=6313, delivered=delivered)
    assert run.goodput_window is delivered and abs(run.goodput_error) < 0.002
    assert run.verdict(0.01).outcome == PASS
    derived = run.derived(0.01)
    assert derived["goodput_counter"] == "delivered" and derived["goodput_judged"]
    assert derived["in_order_goodput_bps"] == in_order.rate_bps
    # no drops at the shaper: no hole to release, the receiver's own count is the goodput
    clean = ShapedRun(Traffic(), shaper, in_order, rate, expected, throttled=1992,
                      delivered=delivered)
    assert clean.goodput_window is in_order
    # what arrived 3 % above the rate fails, whatever the in-order count says
    fast = _window([(t, int(v + t * expected * 0.03 / 8)) for t, v in FLOWS8_DELIVERED], "slope")
    assert ShapedRun(Traffic(), shaper, in_order, rate, expected, throttled=1992,
                     shaper_drops=6313, delivered=fast).verdict(0.01).outcome == FAIL


def test_a_goodput_short_only_by_what_arrived_twice_is_recorded_not_judged():
    """TBF with a peak rate at 1 Gbit/s (host 6.18): the counter held +0.007 %, the goodput
    read -0.72 %, and 0.51 % of it came twice (D-SACK: TCP sent again what reordering on the
    veth made it think lost).  The shaper carried those at its rate: a goodput short only by
    them is not the shaper's; one short by more is judged."""
    from harness.measure.shaping import ShapedRun

    class Traffic:
        goodput_bps = 9.5e8

    rate, expected = 10**9, 1e9 * 1448 / 1514
    ts = [i * 0.05 for i in range(61)]

    def line(share):
        return _window([(t, int(1e8 + t * expected * share / 8)) for t in ts], "slope")

    shaper = _window([(t, int(1e8 + t * rate / 8)) for t in ts], "slope")

    def run(goodput, twice):
        return ShapedRun(Traffic(), shaper, _window(line(1 + goodput).samples, "in-order"),
                         rate, expected, throttled=500, duplicates=line(twice))

    short = run(-0.015, 0.008)
    assert "arrived twice" in short.goodput_not_judged(0.01)
    assert short.verdict(0.01).outcome == PASS and not short.derived(0.01)["goodput_judged"]
    assert run(-0.015, 0.0).verdict(0.01).outcome == FAIL  # nothing came twice: judged
    assert run(-0.025, 0.008).verdict(0.01).outcome == FAIL  # short by more than came twice
    assert run(-0.005, 0.008).goodput_not_judged(0.01) is None  # within the bound: judged


def test_a_flooded_limiter_is_sender_limited_only_when_its_queue_was_found_empty():
    # below the bound with a queue that never ran dry: the limiter's own shortfall
    assert judge_flooded(-0.02, 0, 60, 0.01).outcome == FAIL
    # below it with the queue found empty: the floods did not keep it backlogged
    limited = judge_flooded(-0.095, 7, 60, 0.01)
    assert limited.outcome == SENDER_LIMITED and "7 of 60 readings" in limited.reason
    # above the bound fails, empty readings or not; within it passes
    assert judge_flooded(+0.02, 7, 60, 0.01).outcome == FAIL
    assert judge_flooded(-0.004, 3, 60, 0.01).outcome == PASS
