"""``--replay-recipes`` replays one record per test function (a passed attempt first), never an
OVS lab's (not netlink) or a record without a recipe, and says where two builds differ."""

from harness.net import recipe_replay


def rec(test_id, verdict="passed", recipe=("ip netns add kl0001-a",), ovs=False):
    ns = {"name": "kl0001-a", "links": [], "qdiscs": [], "classes": [], "filters": []}
    if ovs:
        ns["ovs"] = {"bridges": {}}
    return {"test_id": test_id, "lab": "x", "verdict": verdict,
            "state": {"recipe": list(recipe), "topology": {"prefix": "kl0001-", "namespaces": [ns]}}}


def test_one_record_per_test_function_and_a_passed_attempt_first(monkeypatch):
    seen = []
    monkeypatch.setattr(recipe_replay, "rebuilt",
                        lambda recipe, prefix, run: seen.append(recipe) or {"namespaces": []})
    monkeypatch.setattr(recipe_replay, "comparable", lambda topo: {"namespaces": []})
    rows = recipe_replay.replay_records([
        rec("t.py::test_a[x]", "failed", ["A1"]), rec("t.py::test_a[y]", "passed", ["A2"]),
        rec("t.py::test_b", recipe=["B"]), rec("t.py::test_ovs", recipe=["O"], ovs=True),
        rec("t.py::test_c", recipe=[])], run=None)
    assert seen == [["A2"], ["B"]]
    assert [row["test_id"] for row in rows] == ["t.py::test_a[y]", "t.py::test_b"]
    assert all(row["equal"] and row["differences"] == [] for row in rows)


def test_differences_name_the_namespace_the_part_and_the_entries():
    ns = {"name": "a", "links": [], "qdiscs": [], "classes": [{"rate": 2}], "filters": []}
    other = dict(ns, classes=[{"rate": 1}])
    assert recipe_replay.differences({"namespaces": [ns]}, {"namespaces": [other]}) == \
        ['a: classes; replay only: {"rate": 2}; lab only: {"rate": 1}']
    assert recipe_replay.differences({"namespaces": [ns]}, {"namespaces": []}) == \
        ["a: only in the replay"]
