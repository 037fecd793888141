"""The suite's order: the longest tests first on every worker, from the durations a run recorded.

Under ``-n 2 --dist worksteal`` each worker is given a contiguous half of the collection and a worker
that runs dry steals from the tail of the other's. In the folders' own order the longest integration
tests (a whole `remediate up`, the scale-out run) could start last, and then one worker ran alone for
minutes. Ordered longest first within each worker's share, the short tests come last, where stealing
evens the two out.

``tests/durations.json`` holds seconds per test id, written by a run with
``REMEDIATION_RECORD_DURATIONS=tests/durations.json``; a test not in it counts by its folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

DURATIONS_FILE = Path(__file__).with_name("durations.json")
#: What a test not yet recorded is taken to last: a flow-driving test seconds, a unit test little.
DEFAULT_SECONDS = {"tests/integration/": 20.0, "tests/unit/": 0.2}

Item = TypeVar("Item")


def read_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    """The recorded seconds per test id, or none when the file is missing or unreadable."""
    try:
        durations = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in durations.items()} if isinstance(durations, dict) else {}


def expected_seconds(test_id: str, durations: Mapping[str, float]) -> float:
    """How long ``test_id`` is expected to take: as recorded, else as its folder's tests do."""
    if test_id in durations:
        return durations[test_id]
    return next((s for folder, s in DEFAULT_SECONDS.items() if test_id.startswith(folder)), 1.0)


def longest_first(
    items: Sequence[Item], ids: Sequence[str], durations: Mapping[str, float], workers: int
) -> list[Item]:
    """``items`` so that each of ``workers`` contiguous shares runs its tests longest first.

    The tests are ranked by expected time and dealt round-robin, so that each share gets a like
    mix of long and short ones; ties keep the collection's order, so every worker computes the
    same order (xdist refuses to run when the workers' collections differ).
    """
    ranked = sorted(range(len(items)), key=lambda i: (-expected_seconds(ids[i], durations), i))
    workers = max(workers, 1)
    return [items[i] for share in range(workers) for i in ranked[share::workers]]
