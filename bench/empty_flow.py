"""The floor of bench/resume_latency.py: a flow that does nothing but wait for a person, step after step.

    python bench/empty_flow.py      serve it (from the checkout's root), as the stack serves its flows

It imports Prefect and nothing of ours, so a resume of it costs what any served flow's resume costs:
the runner's poll, a process, Prefect's engine, and one suspension.
"""

from __future__ import annotations

from prefect import flow
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput


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
    # Served as the stack's runners serve their flows, so that the floor is an empty flow served alike.
    from remediation_flows.stack.serve import serve_flow

    serve_flow(empty_flow, "empty-flow")
