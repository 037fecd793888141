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

from flows.common import case_store
from flows.dispatcher import outbox_dispatcher
from flows.escalation import OVERDUE_EVENT, escalation_sweep
from flows.remediation.acts import grant_an_extension, reassign_a_case, reopen_a_case, withdraw_a_case
from flows.remediation.lifecycle import case_lifecycle
from flows.remediation.notification import open_a_case
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


def deployments() -> list[RunnerDeployment]:
    """Every deployment, with its schedule where it has one."""
    return [
        open_a_case.to_deployment(name="open-a-case", tags=["remediation"]),
        case_lifecycle.to_deployment(name="case-lifecycle", tags=["remediation"]),
        reopen_a_case.to_deployment(name="re-open-a-case", tags=["remediation"]),
        grant_an_extension.to_deployment(name="grant-an-extension", tags=["remediation"]),
        reassign_a_case.to_deployment(name="reassign-a-case", tags=["remediation"]),
        withdraw_a_case.to_deployment(name="withdraw-a-case", tags=["remediation"]),
        # 0 turns a schedule off (the integration tests run these on demand).
        escalation_sweep.to_deployment(
            name="escalation-sweep",
            interval=dt.timedelta(minutes=SWEEP_MINUTES) if SWEEP_MINUTES else None,
            tags=["escalation"],
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
