"""What waits for whom: every open milestone with the roles that must act on it, most urgent first.

The program manager's desk reads it as one list per role: a milestone waits for its owner role,
an approval for the roles that have not yet decided. Built with a fixed number of queries however
many cases are open, so the sweep can refresh it without its cost growing per case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.board import milestone_clock
from remediation_flows.core.holds import active_holds, hold_label
from remediation_flows.core.ladder import Calendars
from remediation_flows.core.statuses import ApprovalStatus, MilestoneStatus
from remediation_flows.core.store.repository import programme_versions
from remediation_flows.core.store.schema import Approval, Case, Milestone


@dataclass(frozen=True)
class Wait:
    """One open milestone and who must act on it."""

    reference: str
    step: str
    enterprise_id: str
    site_id: str
    due_at: dt.datetime
    due_local: str
    working_days_late: int
    escalation_level: str
    #: The roles that must act: the approvers still to decide, else the milestone's owner role.
    roles: tuple[str, ...]
    on_hold: str = ""


def open_waits(session: Session, as_of: dt.datetime) -> list[Wait]:
    """Every open milestone of a case, most urgent (earliest due) first, with the roles it waits for."""
    calendars = Calendars(programme_versions(session))
    rows = session.execute(
        select(Milestone, Case.reference)
        .join(Case, Case.id == Milestone.case_id)
        .where(Milestone.status == MilestoneStatus.OPEN)
        .order_by(Milestone.due_at, Milestone.id)
    ).all()
    ids = [milestone.id for milestone, _ in rows]
    approvers: dict[int, list[str]] = {}
    for milestone_id, role in session.execute(
        select(Approval.milestone_id, Approval.role)
        .where(Approval.status == ApprovalStatus.REQUESTED, Approval.milestone_id.in_(ids))
        .order_by(Approval.id)
    ):
        approvers.setdefault(milestone_id, []).append(role)
    holds = active_holds(session, ids)
    waits = []
    for milestone, reference in rows:
        clock = milestone_clock(calendars, milestone, as_of)
        waits.append(
            Wait(
                reference=reference,
                step=milestone.kind,
                enterprise_id=milestone.enterprise_id,
                site_id=milestone.site_id,
                due_at=milestone.due_at,
                due_local=clock.due_local,
                working_days_late=clock.working_days_late,
                escalation_level=clock.escalation_level,
                roles=tuple(approvers.get(milestone.id) or [milestone.owner_role]),
                on_hold=hold_label(holds.get(milestone.id), clock.time_zone),
            )
        )
    return waits


def waits_by_role(waits: list[Wait]) -> dict[str, list[Wait]]:
    """The waits of each role, each list still most urgent first."""
    by_role: dict[str, list[Wait]] = {}
    for wait in waits:
        for role in wait.roles:
            by_role.setdefault(role, []).append(wait)
    return by_role
