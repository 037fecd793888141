"""Escalation: when each ladder level of a milestone fires, and the sweep that fires them.

A milestone stores ``next_escalation_at``, the instant its next ladder level
fires, so the sweep reads only the milestones that have something to do. Each
level is recorded once per milestone and due date (a unique key), with its
email in the outbox and an audit row, in the transaction that advances the
milestone; two sweeps at once take disjoint rows (``SKIP LOCKED``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from remediation_core.config.model import Programme, Role
from remediation_core.ladder import Calendars, ladder_schedule, next_escalation_at
from remediation_core.mail.render import escalation_mail
from remediation_core.store.repository import CaseStore, programme_versions
from remediation_core.store.schema import (
    AuditEvent,
    Case,
    Milestone,
    MilestoneEscalation,
    OutboxMessage,
    utcnow,
)

SWEEP_ACTOR = "escalation sweep"


@dataclass(frozen=True)
class Escalation:
    """One level fired for one milestone: what the sweep tells Prefect and the people."""

    milestone_id: int
    milestone_key: str
    step: str
    enterprise_id: str
    site_id: str
    case_reference: str | None
    level_index: int
    level_name: str
    stage: str
    due_at: dt.datetime
    working_days_late: int
    notified_roles: tuple[str, ...]


@dataclass
class SweepResult:
    as_of: dt.datetime
    escalations: list[Escalation] = field(default_factory=list)
    examined: int = 0
    skipped: list[str] = field(default_factory=list)


def resolve_recipients(
    programme: Programme, roles: Sequence[Role], assigned_case_manager: str | None
) -> list[str]:
    """The addresses for ``roles``; a case's assigned case manager stands in for the whole role."""
    addresses: dict[str, None] = {}
    for role in roles:
        if role is Role.CASE_MANAGER and assigned_case_manager and "@" in assigned_case_manager:
            addresses.setdefault(assigned_case_manager, None)
        else:
            for email in programme.emails_for([role]):
                addresses.setdefault(email, None)
    return list(addresses)


def sweep(store: CaseStore, as_of: dt.datetime | None = None, *, batch_size: int = 1000) -> SweepResult:
    """Fire every ladder level that has come by ``as_of`` (default now), batch by batch."""
    as_of = (as_of or utcnow()).astimezone(dt.UTC)
    result = SweepResult(as_of=as_of)
    with store.transaction() as session:
        calendars = Calendars(programme_versions(session))
    while True:
        with store.transaction() as session:
            fired = _sweep_batch(session, calendars, as_of, batch_size, result)
        if fired < batch_size:
            return result


def _sweep_batch(
    session: Session, calendars: Calendars, as_of: dt.datetime, batch_size: int, result: SweepResult
) -> int:
    # Plain columns, not ORM entities, and one bulk UPDATE: the sweep's cost is per row.
    rows = session.execute(
        select(
            Milestone.id,
            Milestone.key,
            Milestone.enterprise_id,
            Milestone.config_sha256,
            Milestone.site_id,
            Milestone.case_id,
            Milestone.kind,
            Milestone.owner_role,
            Milestone.due_at,
            Milestone.escalation_level,
            Case.reference,
            Case.case_manager,
        )
        .outerjoin(Case, Case.id == Milestone.case_id)
        .where(Milestone.status == "open", Milestone.next_escalation_at <= as_of)
        .order_by(Milestone.next_escalation_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True, of=Milestone)
    ).all()
    now = utcnow()
    escalation_rows: list[dict] = []
    audit_rows: list[dict] = []
    outbox_rows: list[dict] = []
    milestone_updates: list[dict] = []
    for milestone in rows:
        reference, case_manager = milestone.reference, milestone.case_manager
        result.examined += 1
        programme = calendars.programmes.get(milestone.config_sha256)
        if programme is None:
            result.skipped.append(
                f"{milestone.key}: programme version {milestone.config_sha256[:12]} is unknown"
            )
            milestone_updates.append({"id": milestone.id, "next_escalation_at": None})
            continue
        calendar = calendars.of(milestone.config_sha256, milestone.site_id)
        schedule = ladder_schedule(programme, calendar, milestone.kind, milestone.due_at)
        come = [lv for lv in schedule if lv.index > milestone.escalation_level and lv.fires_at <= as_of]
        if not come:
            # The ladder changed since the milestone was scheduled: re-aim and move on.
            milestone_updates.append(
                {
                    "id": milestone.id,
                    "next_escalation_at": next_escalation_at(
                        programme, calendar, milestone.kind, milestone.due_at, milestone.escalation_level
                    ),
                }
            )
            continue
        top = come[-1]
        late = calendar.working_days_late(milestone.due_at, as_of)
        for level in come:
            escalation_rows.append(
                {
                    "milestone_id": milestone.id,
                    "level_index": level.index,
                    "level_name": level.level.name,
                    "due_at": milestone.due_at,
                    "fired_at": now,
                    "notified": level is top,
                }
            )
        milestone_updates.append(
            {
                "id": milestone.id,
                "escalation_level": top.index,
                "next_escalation_at": next(
                    (lv.fires_at.astimezone(dt.UTC) for lv in schedule if lv.index > top.index), None
                ),
            }
        )
        subject_ref = reference or milestone.key.split("/")[0]
        recipients = resolve_recipients(programme, top.level.notify, case_manager)
        mail = escalation_mail(
            programme,
            reference=subject_ref,
            site_id=milestone.site_id,
            step=milestone.kind,
            due_at=milestone.due_at,
            owner_role=milestone.owner_role,
            working_days_late=late,
            stage=top.stage,
        )
        outbox_rows.append(
            {
                "message_id": f"<escalation-{milestone.id}-{int(milestone.due_at.timestamp())}-{top.index}"
                "@remediation-flows.local>",
                "kind": "escalation",
                "enterprise_id": milestone.enterprise_id,
                "case_id": milestone.case_id,
                "milestone_id": milestone.id,
                "recipients": recipients,
                "subject": mail.subject,
                "body_text": mail.text,
                "body_html": mail.html,
                "calendar_ics": None,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
        audit_rows.append(
            {
                "at": now,
                "actor": SWEEP_ACTOR,
                "action": "milestone_escalated",
                "entity": "milestone",
                "entity_id": str(milestone.id),
                "case_id": milestone.case_id,
                "reason": f"ladder level '{top.level.name}' came at {top.fires_at.isoformat()}",
                "details": {
                    "key": milestone.key,
                    "levels": [lv.level.name for lv in come],
                    "notified": [str(r) for r in top.level.notify],
                    "working_days_late": late,
                },
            }
        )
        result.escalations.append(
            Escalation(
                milestone_id=milestone.id,
                milestone_key=milestone.key,
                step=milestone.kind,
                enterprise_id=milestone.enterprise_id,
                site_id=milestone.site_id,
                case_reference=reference,
                level_index=top.index,
                level_name=top.level.name,
                stage=top.stage,
                due_at=milestone.due_at,
                working_days_late=late,
                notified_roles=tuple(str(r) for r in top.level.notify),
            )
        )
    reaimed = [u for u in milestone_updates if "escalation_level" not in u]
    advanced = [u for u in milestone_updates if "escalation_level" in u]
    for updates in (reaimed, advanced):
        if updates:
            session.execute(update(Milestone), updates)
    if escalation_rows:
        # The unique (milestone, due date, level) key is the last guard against a double send.
        session.execute(insert(MilestoneEscalation), escalation_rows)
        session.execute(insert(OutboxMessage), outbox_rows)
        session.execute(insert(AuditEvent), audit_rows)
    return len(rows)
