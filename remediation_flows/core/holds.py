"""Clocks that can wait: a program manager puts a milestone on hold, and its deadline resumes later.

Practice stops a clock for reasons nobody at the site controls: the school term has not
started, the guardian is away, the labour office has not answered. While a milestone is on
hold its ladder fires nothing (the sweep skips it); when the hold ends its deadline moves by
the time the hold took, reckoned in the step's own unit on the site's calendar:

* **working days**: the working days that began after the day the hold started, up to and
  including the day it ended (the start day is not counted, as for any deadline). A hold
  placed and lifted on the same day moves nothing.
* **calendar days**: the days between the two local dates.
* **hours**: the elapsed time, to the second.

The ladder then resumes where it was: levels already fired are not fired again, and the
next one fires by the moved deadline. Each hold and release is one transaction with its
audit row; a release that moves the deadline also tells the enterprise, as an extension does.

A hold's reason is one of :class:`HoldReason`, which may be shown anywhere (the overdue
board, the case's artifact, the enterprise's email). Staff's free-text note stays in the
store, in the hold's own row, because free text may name a child.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.model import DurationUnit, Role
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.escalation import resolve_recipients
from remediation_flows.core.ladder import next_escalation_at
from remediation_flows.core.mail.render import extension_mail
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.statuses import MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Case, Milestone, MilestoneHold, utcnow


class HoldReason(StrEnum):
    """Why a milestone's clock waits; words safe to show outside the store."""

    SCHOOL_TERM_NOT_STARTED = "school_term_not_started"
    GUARDIAN_AWAY = "guardian_away"
    LABOUR_OFFICE_NOT_ANSWERED = "labour_office_not_answered"
    SITE_CLOSED = "site_closed"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class HoldView:
    """One hold of one case's milestone, by reference only."""

    reference: str
    step: str
    milestone_key: str
    reason: HoldReason
    held_by: str
    held_at: dt.datetime
    due_at_when_held: dt.datetime
    released_at: dt.datetime | None
    due_at: dt.datetime
    held_for: str | None

    @property
    def is_active(self) -> bool:
        return self.released_at is None


@dataclass(frozen=True)
class Resumption:
    """Where a held deadline lands when its hold ends, and how much the hold took, in words."""

    due_at: dt.datetime
    held_for: str


def resume_deadline(
    calendar: SiteCalendar,
    unit: DurationUnit,
    due_at: dt.datetime,
    held_at: dt.datetime,
    released_at: dt.datetime,
) -> Resumption:
    """The deadline ``due_at`` moved by the time held from ``held_at`` to ``released_at`` (see module)."""
    if released_at < held_at:
        raise InvalidInput(
            f"a hold cannot end ({released_at.isoformat()}) before it began ({held_at.isoformat()})"
        )
    if unit is DurationUnit.HOURS:
        elapsed = released_at - held_at
        hours = elapsed.total_seconds() / 3600
        return Resumption(due_at + elapsed, f"{hours:.1f} hours")
    if unit is DurationUnit.CALENDAR_DAYS:
        days = (calendar.local(released_at).date() - calendar.local(held_at).date()).days
        local_due = calendar.local(due_at)
        moved = dt.datetime.combine(
            local_due.date() + dt.timedelta(days=days),
            local_due.time().replace(tzinfo=None),
            tzinfo=calendar.zone,
        )
        return Resumption(moved, f"{days} calendar days")
    working_days = calendar.working_days_late(held_at, released_at)
    return Resumption(calendar.shift_working_days(due_at, working_days), f"{working_days} working days")


def _reason(value: HoldReason | str) -> HoldReason:
    try:
        return HoldReason(value)
    except ValueError:
        choices = ", ".join(r.value for r in HoldReason)
        raise InvalidInput(f"hold reason '{value}' is not one of: {choices}") from None


def _open_milestone_of(session: Session, case: Case, step: str) -> Milestone:
    """The case's earliest-due open milestone of ``step``, locked; NotFound names the open steps."""
    milestone = session.scalars(
        select(Milestone)
        .where(Milestone.case_id == case.id, Milestone.kind == step, Milestone.status == MilestoneStatus.OPEN)
        .order_by(Milestone.due_at, Milestone.id)
        .limit(1)
        .with_for_update()
    ).first()
    if milestone is None:
        open_steps = session.scalars(
            select(Milestone.kind).where(
                Milestone.case_id == case.id, Milestone.status == MilestoneStatus.OPEN
            )
        ).all()
        raise NotFound(
            f"case {case.reference} has no open '{step}' milestone (open: {', '.join(open_steps) or 'none'})"
        )
    return milestone


def _active_hold(session: Session, milestone: Milestone) -> MilestoneHold | None:
    return session.scalars(
        select(MilestoneHold)
        .where(MilestoneHold.milestone_id == milestone.id, MilestoneHold.released_at.is_(None))
        .order_by(MilestoneHold.id.desc())
        .limit(1)
    ).first()


def _hold_view(case: Case, milestone: Milestone, hold: MilestoneHold) -> HoldView:
    return HoldView(
        reference=case.reference,
        step=milestone.kind,
        milestone_key=milestone.key,
        reason=HoldReason(hold.reason),
        held_by=hold.held_by,
        held_at=hold.held_at,
        due_at_when_held=hold.due_at_when_held,
        released_at=hold.released_at,
        due_at=milestone.due_at,
        held_for=hold.held_for,
    )


def hold_milestone(
    store: CaseStore,
    reference: str,
    step: str,
    *,
    actor: str,
    reason: HoldReason | str,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> HoldView:
    """Stop the clock of the case's open ``step`` milestone, with who, when and why audited."""
    why = _reason(reason)
    if not actor.strip():
        raise InvalidInput("a hold needs the person who placed it")
    if why is HoldReason.OTHER and not (note or "").strip():
        raise InvalidInput("a hold for reason 'other' needs a note saying what the clock waits for")
    held_at = (at or utcnow()).astimezone(dt.UTC)
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        screen_case_texts(session, case, note=note)
        milestone = _open_milestone_of(session, case, step)
        if milestone.held_since is not None:
            raise InvalidInput(
                f"milestone '{milestone.key}' is already on hold since {milestone.held_since.isoformat()}"
            )
        hold = MilestoneHold(
            milestone_id=milestone.id,
            reason=why.value,
            note=(note or "").strip() or None,
            held_by=actor,
            held_at=held_at,
            due_at_when_held=milestone.due_at,
        )
        session.add(hold)
        milestone.held_since = held_at
        # No next level while held: the sweep's query does not even see the milestone.
        milestone.next_escalation_at = None
        session.flush()
        repo.record_audit(
            session,
            actor=actor,
            action="milestone_held",
            entity="milestone",
            entity_id=milestone.id,
            case_id=case.id,
            reason=why.label,
            details={"key": milestone.key, "hold_id": hold.id, "due_at": milestone.due_at.isoformat()},
            at=held_at,
        )
        return _hold_view(case, milestone, hold)


def release_milestone(
    store: CaseStore,
    reference: str,
    step: str,
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> HoldView:
    """End the hold on the case's ``step`` milestone: its deadline moves by the time held."""
    if not actor.strip():
        raise InvalidInput("a release needs the person who lifted the hold")
    released_at = (at or utcnow()).astimezone(dt.UTC)
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        milestone = _open_milestone_of(session, case, step)
        hold = _active_hold(session, milestone)
        if milestone.held_since is None or hold is None:
            raise InvalidInput(f"milestone '{milestone.key}' is not on hold")
        programme = repo.programme_version(session, milestone.config_sha256)
        calendar = SiteCalendar(programme.site(milestone.site_id))
        unit = programme.step(milestone.kind).deadline.unit
        previous = milestone.due_at
        resumed = resume_deadline(calendar, unit, previous, milestone.held_since, released_at)
        new_due_at = resumed.due_at.astimezone(dt.UTC)
        milestone.due_at = new_due_at
        milestone.held_since = None
        # The ladder resumes where it stood: levels fired before the hold are not fired again.
        milestone.next_escalation_at = next_escalation_at(
            programme, calendar, milestone.kind, new_due_at, milestone.escalation_level
        )
        hold.released_by = actor
        hold.released_at = released_at
        hold.due_at_when_released = new_due_at
        hold.held_for = resumed.held_for
        why = HoldReason(hold.reason)
        repo.record_audit(
            session,
            actor=actor,
            action="milestone_released",
            entity="milestone",
            entity_id=milestone.id,
            case_id=case.id,
            reason=f"hold ended ({why.label}); deadline moved by {resumed.held_for}",
            details={
                "key": milestone.key,
                "hold_id": hold.id,
                "from": previous.isoformat(),
                "to": new_due_at.isoformat(),
                "held_for": resumed.held_for,
            },
            at=released_at,
        )
        if new_due_at != previous:
            _tell_the_enterprise(session, case, milestone, previous, why, hold.held_at, released_at)
        return _hold_view(case, milestone, hold)


def _tell_the_enterprise(
    session: Session,
    case: Case,
    milestone: Milestone,
    previous: dt.datetime,
    why: HoldReason,
    held_at: dt.datetime,
    released_at: dt.datetime,
) -> None:
    """Send the moved deadline, with its calendar entry, to those an extension would tell."""
    programme = repo.programme_version(session, milestone.config_sha256)
    mail = extension_mail(
        programme,
        reference=case.reference,
        site_id=case.site_id,
        step=milestone.kind,
        previous_due_at=previous,
        new_due_at=milestone.due_at,
        reason=f"on hold from {held_at.date()} to {released_at.date()}: {why.label}",
        calendar_uid=f"{milestone.key}@remediation-flows",
    )
    recipients = resolve_recipients(
        programme, [Role.ENTERPRISE_FOCAL_POINT, Role(milestone.owner_role)], case.case_manager, case.site_id
    )
    repo.enqueue_mail(
        session,
        kind="extension",
        recipients=recipients,
        **mail.outbox_fields(),
        enterprise_id=case.enterprise_id,
        case_id=case.id,
        milestone_id=milestone.id,
    )


def active_holds(session: Session, milestone_ids: list[int]) -> dict[int, MilestoneHold]:
    """The hold in force on each of these milestones, by milestone id (held ones only)."""
    if not milestone_ids:
        return {}
    rows = session.scalars(
        select(MilestoneHold)
        .where(MilestoneHold.milestone_id.in_(milestone_ids), MilestoneHold.released_at.is_(None))
        .order_by(MilestoneHold.id)
    ).all()
    return {hold.milestone_id: hold for hold in rows}


def hold_label(hold: MilestoneHold | None, time_zone: str) -> str:
    """A hold in words safe to show anywhere ("since 2026-12-03: guardian away"); "" for no hold."""
    if hold is None:
        return ""
    local_day = hold.held_at.astimezone(ZoneInfo(time_zone)).date()
    return f"since {local_day}: {HoldReason(hold.reason).label}"


def hold_history(store: CaseStore, reference: str) -> list[HoldView]:
    """Every hold of the case's milestones, oldest first."""
    with store.transaction() as session:
        case = repo.get_case(session, reference)
        rows = session.execute(
            select(MilestoneHold, Milestone)
            .join(Milestone, Milestone.id == MilestoneHold.milestone_id)
            .where(Milestone.case_id == case.id)
            .order_by(MilestoneHold.id)
        ).all()
        return [_hold_view(case, milestone, hold) for hold, milestone in rows]
