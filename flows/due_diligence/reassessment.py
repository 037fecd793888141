"""An ad-hoc risk reassessment of one site: one run per open reassessment, waiting for its questionnaire.

The core opens the milestone (a case opened at the site, a child found at work again there);
`open-a-case` and `recover-case-lifecycles` start this run for it, once per milestone (the
milestone's key is the run's idempotency key). The run asks the site's questionnaire in its
Resume dialog, the same form as the yearly cycle's, and records it through the core.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.deployments import arun_deployment
from pydantic import Field

from remediation_flows.core.due_diligence.reassessment import (
    OpenReassessment,
    open_reassessments,
    record_site_reassessment,
)
from remediation_flows.core.due_diligence.risk import SiteQuestionnaire
from remediation_flows.core.errors import NotFound
from remediation_flows.core.mail.render import format_instant
from remediation_flows.core.store import CaseStore
from remediation_flows.flows.common import case_store
from remediation_flows.flows.prompts import apply, ask
from remediation_flows.flows.remediation.artifacts import role_name
from remediation_flows.flows.wait_labels import label_this_wait, wait_name, wait_tags

REASSESSMENT_DEPLOYMENT = "reassess-a-site/reassess-a-site"


async def start_reassessments(
    store: CaseStore, enterprise_id: str | None = None, site_id: str | None = None
) -> list[str]:
    """Start the run of every open reassessment (of one site when given) that has none; returns their keys."""
    started = []
    for reassessment in open_reassessments(store, enterprise_id, site_id):
        await arun_deployment(
            REASSESSMENT_DEPLOYMENT,
            parameters={"milestone_key": reassessment.key},
            timeout=0,
            as_subflow=False,
            idempotency_key=reassessment.key,
            flow_run_name=f"{reassessment.reference} risk reassessment",
        )
        started.append(reassessment.key)
    return started


def _find(store: CaseStore, milestone_key: str) -> OpenReassessment:
    for reassessment in open_reassessments(store, key=milestone_key):
        return reassessment
    raise NotFound(f"no open site reassessment '{milestone_key}'")


@flow(
    name="reassess-a-site",
    description="Ask a site's risk questionnaire out of the yearly turn (a new case, a child at work again).",
)
async def reassess_a_site(
    milestone_key: Annotated[
        str, Field(title="Reassessment", description="e.g. RA-northwind-apparel-dhaka-knit-01/reassessment/1")
    ],
) -> str:
    """Wait for the site's questionnaire and record it; returns the site's new risk level."""
    from remediation_flows.flows.due_diligence.answers import SiteRiskAnswer

    logger = get_run_logger()
    store = await case_store()
    reassessment = _find(store, milestone_key)
    due = format_instant(reassessment.due_at, reassessment.time_zone)
    roles = [reassessment.owner_role]
    while True:
        await label_this_wait(
            wait_name(reassessment.reference, "risk reassessment", due, roles),
            wait_tags(
                reassessment.enterprise_id,
                reassessment.site_id,
                roles,
                reassessment.due_at,
                dt.datetime.now(dt.UTC),
            ),
        )
        answer = await ask(
            store,
            f"Site {reassessment.site_name} ({reassessment.site_id}) of {reassessment.enterprise_id}",
            milestone_key,
            SiteRiskAnswer,
            question=f"Risk reassessment of site {reassessment.site_id}: workforce, hiring and past findings",
            asked_of=role_name(reassessment.owner_role),
            due=due,
        )
        fields = answer.model_dump(exclude={"answered_by"})
        result: list[str] = []

        def record(
            fields: dict = fields, answer: SiteRiskAnswer = answer, result: list[str] = result
        ) -> None:
            risk = record_site_reassessment(
                store, milestone_key, SiteQuestionnaire(**fields), answer.answered_by
            )
            result.append(str(risk.level))

        if await apply(store, reassessment.reference, milestone_key, answer, record):
            logger.info("%s: site reassessed, risk %s", reassessment.reference, result[0])
            return result[0]
