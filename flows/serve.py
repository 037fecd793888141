"""Serve every deployment from one process: the embedded default, and the integration tests' runner.

python -m flows.serve
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron

from blocks import EnterpriseProgramme
from flows.common import case_store
from flows.dispatcher import outbox_dispatcher
from flows.due_diligence.cycle import due_diligence_cycle
from flows.escalation import SWEEP_ESCALATED_EVENT, escalation_sweep
from flows.remediation.acts import grant_an_extension, reassign_a_case, reopen_a_case, withdraw_a_case
from flows.remediation.lifecycle import case_lifecycle
from flows.remediation.notification import open_a_case
from flows.remediation.recovery import recover_case_lifecycles
from remediation_core.errors import RemediationError
from remediation_core.store import upgrade_schema


def _seconds(variable: str, default: int) -> int:
    """A schedule's interval from the environment; 0 turns the schedule off (the tests run on demand)."""
    return int(os.environ.get(variable, str(default)))


SWEEP_SECONDS = _seconds("REMEDIATION_SWEEP_SECONDS", 900)
DISPATCH_SECONDS = _seconds("REMEDIATION_DISPATCH_SECONDS", 60)
RECOVERY_SECONDS = _seconds("REMEDIATION_RECOVERY_SECONDS", 3600)


# The same automation as in prefect.yaml: a sweep's escalation emails leave at once. It listens for
# the sweep's one summary event, not each milestone's, so a sweep starts at most one dispatcher run.
SEND_ESCALATIONS_AT_ONCE = DeploymentEventTrigger(
    name="send escalations at once",
    description="Dispatch the outbox as soon as a sweep has escalated anything.",
    match={"prefect.resource.id": "remediation.sweep.*"},
    expect={SWEEP_ESCALATED_EVENT},
    threshold=1,
    within=dt.timedelta(0),
)


def cycle_schedules() -> list[Cron]:
    """One yearly schedule per enterprise block: 06:00 UTC on the 1st of its cycle's start month."""
    from prefect.client.orchestration import get_client

    async def programmes() -> list[tuple[str, int]]:
        async with get_client() as client:
            documents = await client.read_block_documents_by_type(EnterpriseProgramme.get_block_type_slug())
        found = []
        for document in documents:
            try:
                programme = await EnterpriseProgramme.aload_programme(document.name)
            except RemediationError:
                continue  # an invalid programme is refused when its flows load it, with the reasons
            found.append((programme.enterprise_id, programme.due_diligence.cycle_start_month))
        return found

    try:
        pairs = asyncio.run(programmes())
    except Exception:  # no block type yet on a new server: no cycles to schedule
        return []
    return [
        Cron(
            f"0 6 1 {month} *",
            timezone="UTC",
            parameters={"enterprise_id": enterprise_id},
            slug=f"cycle-{enterprise_id}",
        )
        for enterprise_id, month in pairs
    ]


def deployments() -> list[RunnerDeployment]:
    """Every deployment, with its schedule where it has one."""
    return [
        open_a_case.to_deployment(name="open-a-case", tags=["remediation"]),
        case_lifecycle.to_deployment(name="case-lifecycle", tags=["remediation"]),
        reopen_a_case.to_deployment(name="re-open-a-case", tags=["remediation"]),
        grant_an_extension.to_deployment(name="grant-an-extension", tags=["remediation"]),
        reassign_a_case.to_deployment(name="reassign-a-case", tags=["remediation"]),
        withdraw_a_case.to_deployment(name="withdraw-a-case", tags=["remediation"]),
        recover_case_lifecycles.to_deployment(
            name="recover-case-lifecycles",
            interval=dt.timedelta(seconds=RECOVERY_SECONDS) if RECOVERY_SECONDS else None,
            tags=["remediation"],
            concurrency_limit=1,
        ),
        escalation_sweep.to_deployment(
            name="escalation-sweep",
            interval=dt.timedelta(seconds=SWEEP_SECONDS) if SWEEP_SECONDS else None,
            tags=["escalation"],
            concurrency_limit=2,
        ),
        due_diligence_cycle.to_deployment(
            name="due-diligence-cycle",
            schedules=cycle_schedules() if SWEEP_SECONDS else [],
            tags=["due-diligence"],
        ),
        outbox_dispatcher.to_deployment(
            name="outbox-dispatcher",
            interval=dt.timedelta(seconds=DISPATCH_SECONDS) if DISPATCH_SECONDS else None,
            tags=["mail"],
            triggers=[SEND_ESCALATIONS_AT_ONCE],
            concurrency_limit=2,
        ),
    ]


def main() -> None:
    upgrade_schema(asyncio.run(case_store()).url)
    serve(
        *deployments(),
        limit=int(os.environ.get("REMEDIATION_SERVE_LIMIT", "8")),
        # Deployments are registered again at the next start; pausing them on the way out only slows Ctrl-C.
        pause_on_shutdown=False,
    )


if __name__ == "__main__":
    main()
