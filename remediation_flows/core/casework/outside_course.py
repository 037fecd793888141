"""Acts outside the normal course: reassigning a case, extending a deadline."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from remediation_flows.core.casework.common import _open_milestone, _programme
from remediation_flows.core.casework.views import CaseView, _view
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.model import Duration, DurationUnit, Role
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.escalation import resolve_recipients
from remediation_flows.core.mail.render import extension_mail
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.statuses import MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Milestone


def reassign_case(store: CaseStore, reference: str, case_manager: str, actor: str, reason: str) -> CaseView:
    """Hand a case to another case manager (an address from the programme's case managers)."""
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        screen_case_texts(session, case, reason=reason)
        programme = _programme(session, case)
        # The site's case managers and the enterprise's: a case may move to either.
        known = list(
            dict.fromkeys(
                programme.emails_for([Role.CASE_MANAGER], case.site_id)
                + programme.emails_for([Role.CASE_MANAGER])
            )
        )
        if case_manager not in known:
            raise InvalidInput(
                f"'{case_manager}' is not a case manager of {case.enterprise_id} (known: {', '.join(known)})"
            )
        repo.reassign_case_manager(session, case, case_manager, actor=actor, reason=reason)
        return _view(session, case)


def grant_extension(
    store: CaseStore,
    reference: str,
    step: str,
    actor: str,
    reason: str,
    *,
    new_due_at: dt.datetime | None = None,
    working_days: int | None = None,
) -> CaseView:
    """Move an open milestone's deadline (to a date, or by N working days); the enterprise is told."""
    if (new_due_at is None) == (working_days is None):
        raise InvalidInput("give either a new due date or a number of working days, not both")
    if working_days is not None and working_days < 1:
        raise InvalidInput(f"working_days must be at least 1, not {working_days}")
    with store.transaction() as session:
        case = repo.get_case(session, reference, for_update=True)
        screen_case_texts(session, case, reason=reason)
        programme = _programme(session, case)
        milestone = _open_milestone(session, case, step)
        if milestone is None:
            open_steps = [
                m.kind
                for m in session.scalars(
                    select(Milestone).where(
                        Milestone.case_id == case.id, Milestone.status == MilestoneStatus.OPEN
                    )
                )
            ]
            raise NotFound(
                f"case {reference} has no open '{step}' milestone (open: {', '.join(open_steps) or 'none'})"
            )
        previous = milestone.due_at
        if working_days is not None:
            calendar = SiteCalendar(programme.site(case.site_id))
            new_due_at = calendar.due(previous, Duration(working_days, DurationUnit.WORKING_DAYS)).due_at
        assert new_due_at is not None  # one of the two was given, checked above
        if new_due_at.tzinfo is None:
            new_due_at = new_due_at.replace(tzinfo=SiteCalendar(programme.site(case.site_id)).zone)
        repo.extend_deadline(session, programme, milestone, new_due_at, actor=actor, reason=reason)
        mail = extension_mail(
            programme,
            reference=case.reference,
            site_id=case.site_id,
            step=step,
            previous_due_at=previous,
            new_due_at=new_due_at,
            reason=reason,
            calendar_uid=f"{milestone.key}@remediation-flows",
        )
        recipients = resolve_recipients(
            programme,
            [Role.ENTERPRISE_FOCAL_POINT, Role(milestone.owner_role)],
            case.case_manager,
            case.site_id,
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
        return _view(session, case)
