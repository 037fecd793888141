"""Starting and stopping a case's lifecycle run, and delivering it answers the task page applied."""

from __future__ import annotations

import json

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import arun_deployment
from prefect.states import Cancelled

from remediation_flows.core.store import CaseStore
from remediation_flows.core.task_links import applied_or_given_answers
from remediation_flows.flows.forms import resume_input
from remediation_flows.flows.prompts import SUSPENDED

LIFECYCLE_DEPLOYMENT = "case-lifecycle/case-lifecycle"


def case_tag(reference: str) -> str:
    return f"case:{reference}"


async def start_lifecycle(reference: str, round_number: int, recovery: str | None = None) -> None:
    """Start the case's lifecycle run for this round (once: the idempotency key sees to it).

    ``recovery`` names a restart by the recovery flow, so that it is not mistaken for the
    round's first run.
    """
    suffix = f"/{recovery}" if recovery else ""
    await arun_deployment(
        LIFECYCLE_DEPLOYMENT,
        parameters={"case_reference": reference},
        timeout=0,
        as_subflow=False,
        tags=[case_tag(reference)],
        idempotency_key=f"{reference}/r{round_number}{suffix}",
        flow_run_name=f"{reference} round {round_number}" + (" (recovered)" if recovery else ""),
    )


LIVE_STATES = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED]


async def lifecycle_runs(states: list[StateType]) -> dict[str, str]:
    """Case reference -> id of its lifecycle run in one of ``states``, read 200 runs at a time."""
    found: dict[str, str] = {}
    async with get_client() as client:
        offset, page = 0, 200
        while True:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["case-lifecycle"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))
                ),
                limit=page,
                offset=offset,
            )
            for run in runs:
                for tag in run.tags:
                    if tag.startswith("case:"):
                        found[tag.removeprefix("case:")] = str(run.id)
            if len(runs) < page:
                return found
            offset += page


async def cases_with_a_live_lifecycle() -> set[str]:
    """References of the cases whose lifecycle run is waiting, scheduled or running."""
    return set(await lifecycle_runs(LIVE_STATES))


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


async def redeliver_applied_answers(store: CaseStore) -> list[str]:
    """Resume every suspended lifecycle run still waiting on an answer the task page applied.

    The page resumes the run itself after it commits; if Prefect could not be reached then (or the
    page stopped in between), the run would wait for an answer the store already holds. Resumed
    with it, the run settles it and asks the next question. Returns the references resumed.
    """
    logger = get_run_logger()
    async with get_client() as client:
        waiting = {}
        offset, page = 0, 200
        while True:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["case-lifecycle"])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                ),
                limit=page,
                offset=offset,
            )
            for run in runs:
                if run.state is not None and run.state.state_details.pause_key:
                    waiting[run.state.state_details.pause_key] = run
            if len(runs) < page:
                break
            offset += page
        resumed = []
        for key, link in applied_or_given_answers(store, waiting).items():
            if link.applied_at is None:
                continue
            run = waiting[key]
            schema = json.loads(await client.read_flow_run_input(run.id, f"{SUSPENDED}{key}-schema"))
            response = await client.resume_flow_run(run.id, run_input=resume_input(schema, link.answer))
            reference = next(
                (t.removeprefix("case:") for t in run.tags if t.startswith("case:")), str(run.id)
            )
            logger.info("%s: resumed with the answer the task page applied (%s)", reference, response.status)
            resumed.append(reference)
        return resumed
