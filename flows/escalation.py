"""The deadline sweep: fires every escalation level that has come, and refreshes the overdue board."""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.events import emit_event

from remediation_flows.core import casework as cw
from remediation_flows.core.board import overdue_board
from remediation_flows.core.escalation import Escalation, sweep
from remediation_flows.core.inbox import open_waits
from remediation_flows.flows.common import case_store
from remediation_flows.flows.remediation.artifacts import publish_case, publish_open_cases
from remediation_flows.flows.remediation.inbox import publish_inboxes
from remediation_flows.flows.remediation.runs import case_tag
from remediation_flows.flows.wait_labels import mark_overdue

OVERDUE_EVENT = "remediation.milestone.overdue"
#: Once per sweep that escalated anything; the outbox dispatcher's automation listens for it.
SWEEP_ESCALATED_EVENT = "remediation.sweep.escalated"


def escalation_event(escalation: Escalation) -> dict:
    """The Prefect event of one escalation, with enterprise, case and milestone as resources."""
    related = [
        {
            "prefect.resource.id": f"remediation.enterprise.{escalation.enterprise_id}",
            "prefect.resource.role": "enterprise",
            "prefect.resource.name": escalation.enterprise_id,
        },
        {
            "prefect.resource.id": f"remediation.site.{escalation.enterprise_id}.{escalation.site_id}",
            "prefect.resource.role": "site",
        },
    ]
    if escalation.case_reference:
        related.append(
            {
                "prefect.resource.id": f"remediation.case.{escalation.case_reference}",
                "prefect.resource.role": "case",
                "prefect.resource.name": escalation.case_reference,
            }
        )
    return {
        "event": OVERDUE_EVENT
        if escalation.stage == "overdue"
        else f"remediation.milestone.{escalation.stage}",
        "resource": {
            "prefect.resource.id": f"remediation.milestone.{escalation.milestone_id}",
            "prefect.resource.name": escalation.milestone_key,
        },
        "related": related,
        "payload": {
            "step": escalation.step,
            "level": escalation.level_name,
            "level_index": escalation.level_index,
            "due_at": escalation.due_at.isoformat(),
            "working_days_late": escalation.working_days_late,
            "notified_roles": list(escalation.notified_roles),
        },
    }


def sweep_summary_event(escalations: list[Escalation], flow_run_id: str | None) -> dict:
    """One event per sweep that escalated anything: the dispatcher's trigger.

    A sweep may escalate hundreds of milestones at once; triggering the dispatcher on each
    milestone's event started one dispatcher run per event, which swamped the Prefect server.
    This event comes once per sweep, so a sweep starts at most one dispatcher run.
    """
    enterprises = sorted({e.enterprise_id for e in escalations})
    return {
        "event": SWEEP_ESCALATED_EVENT,
        "resource": {
            "prefect.resource.id": f"remediation.sweep.{flow_run_id or 'local'}",
            "prefect.resource.name": "escalation sweep",
        },
        "related": [
            {"prefect.resource.id": f"remediation.enterprise.{e}", "prefect.resource.role": "enterprise"}
            for e in enterprises
        ],
        "payload": {"escalated": len(escalations), "enterprises": enterprises},
    }


@flow(
    name="escalation-sweep",
    description="Escalate open milestones whose ladder level has come; refresh the overdue board and "
    "the open-cases table. "
    "With `as_of` later than now it is a preview: it lists what would fire and writes nothing.",
)
async def escalation_sweep(as_of: dt.datetime | None = None) -> dict[str, int | bool]:
    """Sweep now; emails go to the outbox, one event per escalation and one for the sweep.

    ``as_of`` later than now makes a preview: what would fire, to whom, logged; nothing is
    written, emitted or published.
    """
    logger = get_run_logger()
    store = await case_store()
    now = dt.datetime.now(dt.UTC)
    when = as_of or now
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    result = sweep(store, when, now=now)
    for skipped in result.skipped:
        logger.warning("not escalated: %s", skipped)
    if result.preview:
        for e in result.escalations:
            logger.info(
                "would fire %s for %s (%s, %s/%s, %d working day(s) late) to %s",
                e.level_name,
                e.case_reference or e.milestone_key,
                e.step,
                e.enterprise_id,
                e.site_id,
                e.working_days_late,
                ", ".join(e.recipients) or "nobody",
            )
        logger.info(
            "preview as of %s: %d escalation(s) would fire; nothing was written",
            when.isoformat(),
            len(result.escalations),
        )
        return {"preview": True, "escalated": len(result.escalations)}
    for escalation in result.escalations:
        emit_event(**escalation_event(escalation))
    if result.escalations:
        emit_event(**sweep_summary_event(result.escalations, _flow_run_id()))
        # The waiting runs of the escalated cases carry the `overdue` tag the Runs page filters on.
        escalated_cases = {e.case_reference for e in result.escalations if e.case_reference}
        await mark_overdue(case_tag(reference) for reference in escalated_cases)
        # Each escalated case's own artifact shows the level it has now reached (it said "none"
        # after the director had been emailed, since only the case's steps refreshed it).
        for reference in sorted(escalated_cases):
            await publish_case(cw.case_view(store, reference))
    with store.reading() as session:
        board = overdue_board(session, when)
        waits = open_waits(session, when)
    await publish_inboxes(waits)
    await acreate_table_artifact(
        key="overdue-board",
        table=[
            {
                "due (site time)": row.due_local,
                "enterprise": row.enterprise_id,
                "site": row.site_id,
                "case": row.reference,
                "milestone": row.milestone,
                "working days overdue": row.working_days_overdue,
                "escalation": row.escalation_level,
                "on hold": row.on_hold,
            }
            for row in board
        ],
        description=f"Open milestones past due or due within 7 days, as of {when.isoformat()}",
    )
    await publish_open_cases(store)
    overdue = sum(row.working_days_overdue > 0 for row in board)
    logger.info(
        "as of %s: %d escalation(s) fired, %d milestone(s) overdue, %d due within 7 days",
        when.isoformat(),
        len(result.escalations),
        overdue,
        len(board) - overdue,
    )
    return {"escalated": len(result.escalations), "overdue": overdue, "on_board": len(board)}


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.id
