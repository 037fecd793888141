"""The deadline sweep: fires every escalation level that has come, and refreshes the overdue board."""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.events import emit_event

from flows.common import case_store
from remediation_core.board import overdue_board
from remediation_core.escalation import Escalation, sweep

OVERDUE_EVENT = "remediation.milestone.overdue"


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


@flow(
    name="escalation-sweep",
    description="Escalate open milestones whose ladder level has come; refresh the overdue board.",
)
async def escalation_sweep(as_of: dt.datetime | None = None) -> dict[str, int]:
    """Sweep as of ``as_of`` (default: now). Emails go to the outbox; one event per escalation."""
    logger = get_run_logger()
    store = await case_store()
    when = as_of or dt.datetime.now(dt.UTC)
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    result = sweep(store, when)
    for escalation in result.escalations:
        emit_event(**escalation_event(escalation))
    for skipped in result.skipped:
        logger.warning("not escalated: %s", skipped)
    with store.transaction() as session:
        board = overdue_board(session, when)
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
            }
            for row in board
        ],
        description=f"Open milestones past due or due within 7 days, as of {when.isoformat()}",
    )
    overdue = sum(row.working_days_overdue > 0 for row in board)
    logger.info(
        "as of %s: %d escalation(s) fired, %d milestone(s) overdue, %d due within 7 days",
        when.isoformat(),
        len(result.escalations),
        overdue,
        len(board) - overdue,
    )
    return {"escalated": len(result.escalations), "overdue": overdue, "on_board": len(board)}
