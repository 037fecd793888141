"""The floor of bench/resume_latency.py: a flow that does nothing but wait for a person, step after step.

    python bench/empty_flow.py      serve it (from the checkout's root), as the stack serves its flows

It imports Prefect and nothing of ours, so a resume of it costs what any served flow's resume costs:
the runner's poll, a process, Prefect's engine, and one suspension.
"""

from __future__ import annotations

import asyncio
import contextlib

from prefect import flow
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.runner import Runner


class Nothing(RunInput):
    """A form with one field, like the lifecycle's smallest (who answers)."""

    answered_by: str = ""


@flow(name="empty-flow")
async def empty_flow(steps: int = 50) -> int:
    """Suspend ``steps`` times, each with a form; a resume re-runs from the top, as the lifecycle does."""
    for step in range(steps):
        await suspend_flow_run(
            wait_for_input=Nothing.with_initial_data(description=f"Empty step {step}"),
            key=f"empty-step-{step}",
            timeout=None,
        )
    return steps


if __name__ == "__main__":
    # Started as the stack's runners start their runs (remediation_flows/stack/warm_start.py), so that
    # the floor is an empty flow served the same way.
    from remediation_flows.stack.wake_on_scheduled_runs import start_runner_woken_by_events
    from remediation_flows.stack.warm_start import start_flow_runs_from_a_warm_process

    start_flow_runs_from_a_warm_process([])
    # add_flow, as the stack's serve_in_memory does, so that each run starts from the flow in memory,
    # and woken by the run's event as the stack's runners are.
    runner = Runner(pause_on_shutdown=False)
    runner.add_flow(empty_flow, name="empty-flow")
    print("Your deployments are being served and polling for scheduled runs!", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # the bench stops it with SIGINT
        asyncio.run(start_runner_woken_by_events(runner))
