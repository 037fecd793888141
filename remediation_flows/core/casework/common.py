"""The steps every act shares: locking the case, moving its state, scheduling and announcing milestones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from remediation_flows.core.case_states import (
    NEW_ROUND,
    REOPEN,
    Act,
    CaseState,
)
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import NotFound
from remediation_flows.core.mail.i18n import Text, step_title, text
from remediation_flows.core.notices import enqueue_task_mail
from remediation_flows.core.statuses import MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.schema import (
    Case,
    FollowUpVisit,
    Milestone,
    Reintegration,
    RemediationPlan,
    utcnow,
)
from remediation_flows.core.task_links import LinkRequest


def _programme(session: Session, case: Case) -> Programme:
    return repo.programme_of(session, case)


def _current_plan(session: Session, case: Case) -> RemediationPlan | None:
    return session.scalars(
        select(RemediationPlan)
        .where(RemediationPlan.case_id == case.id, RemediationPlan.round == case.round)
        .order_by(RemediationPlan.id.desc())
        .limit(1)
    ).first()


def _open_milestone(session: Session, case: Case, step: str) -> Milestone | None:
    return session.scalars(
        select(Milestone)
        .where(Milestone.case_id == case.id, Milestone.kind == step, Milestone.status == MilestoneStatus.OPEN)
        .order_by(Milestone.id.desc())
        .limit(1)
    ).first()


def _required_milestone(session: Session, case: Case, step: str) -> Milestone:
    """The case's open milestone of ``step``; its absence means the store disagrees with the state."""
    milestone = _open_milestone(session, case, step)
    if milestone is None:
        raise NotFound(f"case {case.reference} has no open '{step}' milestone")
    return milestone


def _required_reintegration(session: Session, case: Case) -> Reintegration:
    """The round's reintegration record, which monitoring and closure are reckoned from."""
    reintegration = _reintegration(session, case)
    if reintegration is None:
        raise NotFound(f"case {case.reference} has no school reintegration recorded in round {case.round}")
    return reintegration


def _reintegration(session: Session, case: Case) -> Reintegration | None:
    return session.scalars(
        select(Reintegration)
        .where(Reintegration.case_id == case.id, Reintegration.round == case.round)
        .order_by(Reintegration.id.desc())
        .limit(1)
    ).first()


def _visits_done(session: Session, case: Case, since: dt.date | None) -> int:
    query = select(func.count()).select_from(FollowUpVisit).where(FollowUpVisit.case_id == case.id)
    if since is not None:
        query = query.where(FollowUpVisit.visited_on >= since)
    return session.scalar(query) or 0


def _milestone_key(case: Case, step: str, number: int | None = None) -> str:
    suffix = f"/{number}" if number is not None else ""
    return f"{case.reference}/r{case.round}/{step}{suffix}"


def schedule_step(
    session: Session,
    programme: Programme,
    case: Case,
    step: str,
    start: dt.datetime,
    actor: str,
    number: int | None = None,
) -> Milestone:
    """Create the step's milestone for the case (once), due by the programme's rules from ``start``."""
    reckoning = repo.reckon_step(programme, case.site_id, step, start)
    title = step_title("en", step) + (f" {number}" if number is not None else "")
    milestone, _ = repo.add_milestone(
        session,
        programme,
        key=_milestone_key(case, step, number),
        site_id=case.site_id,
        step=step,
        title=title,
        due_at=reckoning.due_at,
        actor=actor,
        case=case,
    )
    return milestone


def _notify(
    session: Session,
    programme: Programme,
    case: Case,
    milestone: Milestone,
    roles: Sequence[Role],
    instructions: Text,
    actor: str,
    *,
    as_enterprise_task: bool = False,
    links: LinkRequest | None = None,
) -> None:
    """Email ``roles`` what to do by the milestone's due date; an enterprise's task is also listed as one.

    ``links`` names the roles whose people answer through a personal task link.
    """
    mail = enqueue_task_mail(
        session,
        programme,
        milestone,
        roles,
        instructions,
        reference=case.reference,
        contact_role=Role.CASE_MANAGER,
        case_manager=case.case_manager,
        case_id=case.id,
        links=links,
        case=case,
        actor=actor,
    )
    if mail is not None and as_enterprise_task:
        repo.add_enterprise_task(
            session,
            enterprise_id=case.enterprise_id,
            title=mail.subject,
            instructions=instructions.render(programme.language),
            due_at=milestone.due_at,
            actor=actor,
            case=case,
            milestone=milestone,
        )


def _locked_case(session: Session, reference: str, act: Act) -> Case:
    """The case, locked for ``act``; :class:`IllegalTransition` if the act may not start from its state."""
    case = repo.get_case(session, reference, for_update=True)
    act.check_source(case.reference, case.state)
    return case


def _move(session: Session, case: Case, act: Act, target: CaseState, *, actor: str, reason: str) -> None:
    """Move the case to ``target``, one of the states ``act`` declares it may lead to."""
    act.check_target(case.reference, case.state, target)
    repo.transition_case(session, case, target, actor=actor, reason=reason)


def _complete(session: Session, case: Case, step: str, actor: str, reason: str) -> None:
    milestone = _open_milestone(session, case, step)
    if milestone is not None:
        repo.complete_milestone(session, milestone, actor=actor, reason=reason)


def _reopen(session: Session, programme: Programme, case: Case, actor: str, reason: str) -> None:
    for milestone in session.scalars(
        select(Milestone).where(Milestone.case_id == case.id, Milestone.status == MilestoneStatus.OPEN)
    ):
        repo.complete_milestone(
            session, milestone, actor=actor, reason=f"re-opened: {reason}", status=MilestoneStatus.CANCELLED
        )
    _move(session, case, REOPEN, CaseState.REOPENED, actor=actor, reason=reason)
    _move(session, case, NEW_ROUND, CaseState.REMEDIATION_PLAN, actor=actor, reason="a new plan is needed")
    milestone = schedule_step(session, programme, case, "remediation_plan", utcnow(), actor)
    _notify(
        session,
        programme,
        case,
        milestone,
        [Role.ENTERPRISE_FOCAL_POINT, Role.CASE_MANAGER, Role.PROGRAM_MANAGER],
        text("instr.back_at_work"),
        actor,
    )
