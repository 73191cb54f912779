import errno

from harness.core.defer import Defer


def test_unwinds_last_in_first_out():
    order = []
    d = Defer()
    for i in range(3):
        d.push(f"step {i}", order.append, i)
    assert d.unwind() == []
    assert order == [2, 1, 0]
    assert len(d) == 0


def test_already_gone_is_fine_other_failures_are_reported_and_the_rest_still_runs():
    ran = []

    def gone():
        raise OSError(errno.ENODEV, "No such device")

    def broken():
        raise OSError(errno.EBUSY, "busy")

    d = Defer()
    d.push("first", ran.append, "first")
    d.push("broken", broken)
    d.push("gone", gone)
    failures = d.unwind()
    assert ran == ["first"]
    assert len(failures) == 1 and failures[0].startswith("broken")
