"""Stage 1: a notification opens one case per child and starts each case's lifecycle run."""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from flows.common import case_store, programme_from_block
from flows.remediation.runs import start_lifecycle
from remediation_core import casework as cw
from remediation_core.errors import InvalidInput, RemediationError


class CaseNotification(BaseModel):
    """A report of a suspected child worker. No names or birth dates: Prefect stores this form."""

    enterprise_id: str = Field(
        title="Enterprise",
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="The enterprise's id: the name of its enterprise-programme block.",
        examples=["northwind-apparel"],
    )
    site_id: str = Field(title="Site / work unit", min_length=1, examples=["dhaka-knit-01"])
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


@flow(
    name="open-a-case",
    description="Register a notification: one case per child, each with its lifecycle run.",
)
async def open_a_case(notification: CaseNotification) -> list[str]:
    """Open the cases, start their lifecycles and return their references."""
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
    references = []
    for _ in range(notification.children_count):
        view = cw.open_case(
            store,
            programme,
            cw.Notification(
                enterprise_id=notification.enterprise_id,
                site_id=notification.site_id,
                notified_at=notified_at,
                source=notification.source,
                children_count=1,
                suspected_age=notification.suspected_age,
                suspected_cause=notification.suspected_cause,
            ),
            actor=notification.reported_by,
        )
        await start_lifecycle(view.reference, view.round)
        logger.info("opened %s; on-site assessment due %s", view.reference, view.open_milestones[0].due_local)
        references.append(view.reference)
    return references
