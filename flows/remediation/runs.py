"""Starting and stopping a case's lifecycle run."""

from __future__ import annotations

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import arun_deployment
from prefect.states import Cancelled

LIFECYCLE_DEPLOYMENT = "case-lifecycle/case-lifecycle"


def case_tag(reference: str) -> str:
    return f"case:{reference}"


async def start_lifecycle(reference: str, round_number: int) -> None:
    """Start the case's lifecycle run for this round (once: the idempotency key sees to it)."""
    await arun_deployment(
        LIFECYCLE_DEPLOYMENT,
        parameters={"case_reference": reference},
        timeout=0,
        as_subflow=False,
        tags=[case_tag(reference)],
        idempotency_key=f"{reference}/r{round_number}",
        flow_run_name=f"{reference} round {round_number}",
    )


async def cancel_waiting_lifecycles(reference: str) -> int:
    """Cancel the case's lifecycle runs that wait for input: the case moved on without them."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[case_tag(reference)]),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PAUSED, StateType.SCHEDULED])
                ),
            )
        )
        for run in runs:
            await client.set_flow_run_state(run.id, Cancelled(message="the case moved on"), force=True)
        return len(runs)
