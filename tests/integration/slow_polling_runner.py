"""A runner that polls only every 10 minutes, serving one flow that waits for a person once.

    python -m tests.integration.slow_polling_runner

Started by test_wake_on_scheduled_runs.py: with a poll this rare, a run created or resumed after the
runner's first poll starts within seconds only if the runner is woken by the run's event.
"""

from __future__ import annotations

from prefect import flow
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput

POLL_SECONDS = 600


class Answer(RunInput):
    answered_by: str = ""


@flow(name="wake-probe")
async def wake_probe() -> str:
    """Wait for one answer, then return who gave it."""
    answer = await suspend_flow_run(
        wait_for_input=Answer.with_initial_data(description="Who is there?"), key="who", timeout=None
    )
    return answer.answered_by


if __name__ == "__main__":
    from remediation_flows.stack.serve import serve_flow

    serve_flow(wake_probe, "wake-probe", query_seconds=POLL_SECONDS)
