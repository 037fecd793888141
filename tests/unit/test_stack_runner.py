"""The stack's runners start a scheduled run's process one poll ahead of its time, not Prefect's 10 s."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_RUNNER_POLL_FREQUENCY, temporary_settings

from remediation_flows.stack.serve import stack_runner


@pytest.mark.parametrize(("options", "poll"), [({}, 2.0), ({"query_seconds": 600}, 600.0)])
def test_a_run_s_process_starts_one_poll_and_a_second_before_its_time(options, poll):
    # A process started early waits in the flow engine for its run's time, holding slots of the runner
    # and of its deployment's limit: Prefect's default started the dispatcher's 10 s early, every 15 s.
    with temporary_settings({PREFECT_RUNNER_POLL_FREQUENCY: 2}):
        runner = stack_runner(limit=3, **options)
    assert runner._prefetch_seconds == poll + 1  # Prefect 3.8.8 keeps the option here
    assert runner.query_seconds == poll
    assert runner.pause_on_shutdown is False
