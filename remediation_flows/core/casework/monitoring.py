"""Monitoring: follow-up visits, planned from the reintegration date, until the programme's rule ends them.

A child labourer is followed until the minimum working age (or the listed visits end); a young
worker until 18.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from remediation_flows.core.case_states import RECORD_FOLLOW_UP
from remediation_flows.core.casework.common import (
    _locked_case,
    _notify,
    _open_milestone,
    _programme,
    _reopen,
    _required_reintegration,
    _visits_done,
    schedule_step,
)
from remediation_flows.core.casework.reports import AssessmentOutcome, VisitReport
from remediation_flows.core.casework.rules import visit_start
from remediation_flows.core.casework.views import CaseView, _view
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config.minimum_age import HAZARDOUS_WORK_AGE
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.due_diligence.reassessment import open_site_reassessment
from remediation_flows.core.errors import InvalidInput, NotFound
from remediation_flows.core.mail.i18n import text
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Assessment,
    Case,
    Milestone,
    utcnow,
)
from remediation_flows.core.task_links import LinkRequest


def schedule_visit(
    session: Session, programme: Programme, case: Case, effective_on: dt.date, number: int, actor: str
) -> Milestone:
    """Create follow-up visit ``number``'s milestone and tell the case manager."""
    site = programme.site(case.site_id)
    planned = visit_start(programme, effective_on, number)
    start = dt.datetime.combine(planned, dt.time(0, 0), tzinfo=SiteCalendar(site).zone)
    milestone = schedule_step(session, programme, case, "follow_up_visit", start, actor, number=number)
    instructions = text("instr.follow_up_visit", number=number)
    _notify(session, programme, case, milestone, [Role.CASE_MANAGER], instructions, actor)
    return milestone


def _below_age_on(
    session: Session, case: Case, day: dt.date, age: int, stored_birthday: dt.date | None
) -> bool:
    """Whether the child is still under ``age`` on ``day``.

    From ``stored_birthday`` (the day the child reaches ``age``, stored on the case when the birth
    date was recorded), so that no worker needs the personal-data key for it; else from the age
    verified at the latest assessment.
    """
    if stored_birthday is not None:
        return day < stored_birthday
    assessment = session.scalars(
        select(Assessment).where(Assessment.case_id == case.id).order_by(Assessment.id.desc()).limit(1)
    ).first()
    if assessment is None:
        raise NotFound(f"case {case.reference} has no assessment to reckon the child's age from")
    reckoned = assessment.age_years + int((day - assessment.assessed_at.date()).days / 365.2425)
    return reckoned < age


def _below_working_age_on(session: Session, case: Case, day: dt.date, minimum_age: int) -> bool:
    """Whether the child is still under the site country's ``minimum_age`` on ``day``."""
    return _below_age_on(session, case, day, minimum_age, case.reaches_working_age_on)


def _under_18_on(session: Session, case: Case, day: dt.date) -> bool:
    """Whether the child is still under 18 (hazardous work forbidden) on ``day``."""
    return _below_age_on(session, case, day, HAZARDOUS_WORK_AGE, case.turns_18_on)


def _monitoring_continues(
    session: Session, programme: Programme, case: Case, visits: int, effective_on: dt.date
) -> bool:
    rule = programme.monitoring
    if visits < len(rule.follow_up_offsets):
        return True
    if rule.max_visits is not None and visits >= rule.max_visits:
        return False
    next_visit = visit_start(programme, effective_on, visits + 1)
    if case.outcome == AssessmentOutcome.YOUNG_WORKER:
        # A young worker keeps the job under the 3 H's: followed until 18, whatever the programme
        # says of the minimum working age (already reached), at its repeat interval.
        return _under_18_on(session, case, next_visit)
    if not rule.until_minimum_working_age or rule.repeat_every is None:
        return False
    minimum_age = programme.minimum_age_for(programme.site(case.site_id).country)
    return _below_working_age_on(session, case, next_visit, minimum_age)


def record_follow_up(store: CaseStore, reference: str, report: VisitReport, actor: str) -> CaseView:
    """A monitoring visit: the child back at work re-opens remediation; else the next visit or closure."""
    with store.transaction() as session:
        case = _locked_case(session, reference, RECORD_FOLLOW_UP)
        screen_case_texts(session, case, findings=report.findings)
        programme = _programme(session, case)
        milestone = _open_milestone(session, case, "follow_up_visit")
        if milestone is None:
            raise InvalidInput(f"case {reference} has no follow-up visit due (closure is awaiting approval)")
        reintegration = _required_reintegration(session, case)
        repo.record_follow_up_visit(
            session,
            case,
            visited_on=report.visited_on,
            attending_school=report.attending_school,
            back_at_work=report.back_at_work,
            findings=report.findings,
            actor=actor,
            milestone=milestone,
            enrolled_on=reintegration.effective_on,
        )
        repo.complete_milestone(session, milestone, actor=actor, reason="visit recorded")
        visits = _visits_done(session, case, reintegration.effective_on)
        if report.back_at_work:
            _reopen(session, programme, case, actor, f"found at work again at follow-up visit {visits}")
            if programme.due_diligence.reassess_site_on_new_case:
                why = f"case {case.reference}: child found at work again at follow-up visit {visits}"
                open_site_reassessment(session, programme, case.site_id, actor, why)
        elif _monitoring_continues(session, programme, case, visits, reintegration.effective_on):
            schedule_visit(session, programme, case, reintegration.effective_on, visits + 1, actor)
        else:
            closure = schedule_step(session, programme, case, "closure", utcnow(), actor)
            roles = programme.step("closure").approval or (Role.PROGRAM_MANAGER,)
            repo.request_approvals(session, closure, roles, actor=actor, subject="closure")
            _notify(
                session,
                programme,
                case,
                closure,
                roles,
                text("instr.closure"),
                actor,
                links=LinkRequest("closure", tuple(roles), "closure"),
            )
        return _view(session, case)
