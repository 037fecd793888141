"""Stage 1: a notification opens one case per child and starts each case's lifecycle run."""

from __future__ import annotations

import asyncio
import datetime as dt

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import Field, field_validator

from remediation_flows.core import casework as cw
from remediation_flows.core.choices import AcceptsWords, id_from_label
from remediation_flows.core.errors import InvalidInput, RemediationError
from remediation_flows.flows.common import case_store, programme_from_block
from remediation_flows.flows.due_diligence.reassessment import start_reassessments
from remediation_flows.flows.remediation.runs import start_lifecycle


class CaseNotification(AcceptsWords):
    """A report of a suspected child worker. No names or birth dates: Prefect stores this form."""

    # The deployment's form offers the programme blocks' enterprises and sites as choices that read
    # "Name (id)" (flows/form_choices.py); the API may send the bare id.

    enterprise_id: str = Field(
        title="Enterprise",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="The enterprise whose programme the case follows.",
        examples=["northwind-apparel"],
    )
    site_id: str = Field(
        title="Site / work unit",
        min_length=1,
        description="One of the enterprise's sites, as its programme lists them.",
        examples=["dhaka-knit-01"],
    )
    notified_at: dt.datetime | None = Field(
        default=None, title="Notified at", description="When the report reached the NGO; leave empty for now."
    )
    source: cw.Source = Field(title="Source of the report")
    children_count: int = Field(default=1, ge=1, le=50, title="How many children")
    suspected_age: int | None = Field(default=None, ge=5, le=25, title="Suspected age (years)")
    suspected_cause: cw.SuspectedCause | None = Field(default=None, title="Suspected cause, if known")
    reported_by: str = Field(
        title="Your name or email", min_length=2, description="Recorded in the audit trail."
    )

    @field_validator("enterprise_id", "site_id", mode="before")
    @classmethod
    def _id_from_choice(cls, value: object) -> object:
        return id_from_label(value) if isinstance(value, str) else value


@flow(
    name="open-a-case",
    description="Register a notification: one case per child, each with its lifecycle run.",
)
async def open_a_case(notification: CaseNotification) -> list[str]:
    """Open the cases (all or none, once per run), start their lifecycles and return their references.

    Run again under the same flow run (Retry in the UI), it opens no child twice.
    """
    logger = get_run_logger()
    store = await case_store()
    notified_at = notification.notified_at or dt.datetime.now(dt.UTC)
    if notified_at.tzinfo is None:
        notified_at = notified_at.replace(tzinfo=dt.UTC)
    try:
        programme = await programme_from_block(notification.enterprise_id)
        programme.site(notification.site_id)
        if notified_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5):
            raise InvalidInput(f"notified_at {notified_at.isoformat()} is in the future")
    except RemediationError as error:
        logger.error("notification refused, nothing was stored: %s", error)
        raise
    views = cw.open_notification(
        store,
        programme,
        cw.Notification(
            enterprise_id=notification.enterprise_id,
            site_id=notification.site_id,
            notified_at=notified_at,
            source=notification.source,
            children_count=notification.children_count,
            suspected_age=notification.suspected_age,
            suspected_cause=notification.suspected_cause,
        ),
        actor=notification.reported_by,
        key=f"open-a-case/{flow_run.id}",
    )
    # Each start is idempotent (keyed by case and round). A Prefect API too busy to start one is
    # tried again; a case still without its run gets it from recover-case-lifecycles, never lost.
    for view in views:
        due = view.open_milestones[0].due_local if view.open_milestones else "n/a"
        if await _start_with_retries(view.reference, view.round):
            logger.info("opened %s; on-site assessment due %s", view.reference, due)
        else:
            logger.warning(
                "opened %s, but its lifecycle run could not be started now; "
                "recover-case-lifecycles will start it",
                view.reference,
            )
    if programme.due_diligence.reassess_site_on_new_case:
        # The case opened the site's reassessment (or one was open already): its run asks the questionnaire.
        await start_reassessments(store, notification.enterprise_id, notification.site_id)
    return [view.reference for view in views]


async def _start_with_retries(reference: str, round_number: int, attempts: int = 4) -> bool:
    for attempt in range(attempts):
        try:
            await start_lifecycle(reference, round_number)
            return True
        except Exception:  # the API refused or timed out: the store already holds the case
            if attempt == attempts - 1:
                return False
            await asyncio.sleep(2**attempt)
    return False
