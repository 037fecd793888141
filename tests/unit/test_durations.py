"""The suite's order: longest first within each xdist worker's share (tests/durations.py)."""

from __future__ import annotations

import json

from tests.durations import expected_seconds, longest_first, read_durations


def test_each_workers_share_runs_its_longest_tests_first():
    ids = ["tests/unit/a", "tests/integration/b", "tests/unit/c", "tests/integration/d", "tests/unit/e"]
    durations = {"tests/integration/b": 30.0, "tests/integration/d": 90.0, "tests/unit/c": 2.0}
    ordered = longest_first(ids, ids, durations, workers=2)
    # Ranked d 90, b 30, c 2, then a and e at the unit default in collection order; dealt in turn.
    assert ordered == [
        "tests/integration/d",
        "tests/unit/c",
        "tests/unit/e",
        "tests/integration/b",
        "tests/unit/a",
    ]
    first_share, second_share = ordered[:3], ordered[3:]
    for share in (first_share, second_share):
        seconds = [expected_seconds(test, durations) for test in share]
        assert seconds == sorted(seconds, reverse=True)


def test_one_worker_keeps_every_test_once_longest_first():
    ids = [f"tests/unit/t{i}" for i in range(7)]
    durations = {test: float(i % 3) for i, test in enumerate(ids)}
    ordered = longest_first(ids, ids, durations, workers=1)
    assert sorted(ordered) == sorted(ids)
    assert [durations[t] for t in ordered] == sorted(durations.values(), reverse=True)


def test_a_missing_or_broken_durations_file_counts_tests_by_folder(tmp_path):
    assert read_durations(tmp_path / "absent.json") == {}
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert read_durations(broken) == {}
    listed = tmp_path / "listed.json"
    listed.write_text(json.dumps({"tests/unit/x": 3}), encoding="utf-8")
    assert read_durations(listed) == {"tests/unit/x": 3.0}
    assert expected_seconds("tests/integration/y", {}) > expected_seconds("tests/unit/y", {})
