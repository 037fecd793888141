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
from flows.escalation import OVERDUE_EVENT, escalation_sweep
from flows.remediation.acts import grant_an_extension, reassign_a_case, reopen_a_case, withdraw_a_case
from flows.remediation.lifecycle import case_lifecycle
from flows.remediation.notification import open_a_case
from flows.remediation.recovery import recover_case_lifecycles
from remediation_core.errors import RemediationError
from remediation_core.store import upgrade_schema

SWEEP_MINUTES = int(os.environ.get("REMEDIATION_SWEEP_MINUTES", "15"))
DISPATCH_SECONDS = int(os.environ.get("REMEDIATION_DISPATCH_SECONDS", "60"))


# The same automation as in prefect.yaml: an overdue escalation's email leaves at once.
SEND_ESCALATIONS_AT_ONCE = DeploymentEventTrigger(
    name="send escalations at once",
    description="Dispatch the outbox as soon as the sweep escalates an overdue milestone.",
    match={"prefect.resource.id": "remediation.milestone.*"},
    expect={OVERDUE_EVENT},
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
            interval=dt.timedelta(hours=1) if SWEEP_MINUTES else None,
            tags=["remediation"],
        ),
        # 0 turns a schedule off (the integration tests run these on demand).
        escalation_sweep.to_deployment(
            name="escalation-sweep",
            interval=dt.timedelta(minutes=SWEEP_MINUTES) if SWEEP_MINUTES else None,
            tags=["escalation"],
        ),
        due_diligence_cycle.to_deployment(
            name="due-diligence-cycle",
            schedules=cycle_schedules() if SWEEP_MINUTES else [],
            tags=["due-diligence"],
        ),
        outbox_dispatcher.to_deployment(
            name="outbox-dispatcher",
            interval=dt.timedelta(seconds=DISPATCH_SECONDS) if DISPATCH_SECONDS else None,
            tags=["mail"],
            triggers=[SEND_ESCALATIONS_AT_ONCE],
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
