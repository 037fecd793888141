"""Closing, re-opening and withdrawing a case."""

from __future__ import annotations

from sqlalchemy import select

from remediation_flows.core.approvals import (
    Decider,
    all_approved,
    record_decision,
)
from remediation_flows.core.case_states import (
    DECIDE_CLOSURE,
    REOPEN,
    WITHDRAW,
    CaseState,
)
from remediation_flows.core.casework.common import (
    _locked_case,
    _move,
    _open_milestone,
    _programme,
    _reopen,
    _required_reintegration,
    _visits_done,
)
from remediation_flows.core.casework.monitoring import schedule_visit
from remediation_flows.core.casework.stipends import cancel_payments_not_yet_due
from remediation_flows.core.casework.views import CaseView, _view
from remediation_flows.core.config.model import Role
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.statuses import MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Milestone


def decide_closure(
    store: CaseStore,
    reference: str,
    role: Role | str,
    approved: bool,
    actor: str,
    comment: str | None = None,
    *,
    decider: Decider | None = None,
) -> CaseView:
    """A decision on closing the case; a refusal keeps monitoring with one more visit.

    ``decider`` as for :func:`decide_plan`: the approver must hold ``role`` in the programme.
    """
    decider = decider or Decider(person=actor, verified=False)
    with store.transaction() as session:
        case = _locked_case(session, reference, DECIDE_CLOSURE)
        screen_case_texts(session, case, comment=comment)
        programme = _programme(session, case)
        closure = _open_milestone(session, case, "closure")
        if closure is None:
            raise InvalidInput(f"case {reference} has no closure awaiting a decision")
        record_decision(
            session,
            repo.current_programme(session, case.enterprise_id),
            closure,
            "closure",
            role,
            approved=approved,
            decider=decider,
            comment=comment,
        )
        actor = decider.actor
        if not approved:
            repo.complete_milestone(
                session,
                closure,
                actor=actor,
                reason=f"closure refused: {comment}",
                status=MilestoneStatus.CANCELLED,
            )
            reintegration = _required_reintegration(session, case)
            visits = _visits_done(session, case, reintegration.effective_on)
            schedule_visit(session, programme, case, reintegration.effective_on, visits + 1, actor)
        elif all_approved(session, closure, "closure"):
            repo.complete_milestone(session, closure, actor=actor, reason="closure approved")
            cancel_payments_not_yet_due(session, programme, case, actor)
            _move(
                session,
                case,
                DECIDE_CLOSURE,
                CaseState.CLOSED,
                actor=actor,
                reason=comment or "closure approved",
            )
        return _view(session, case)


def reopen_case(store: CaseStore, reference: str, actor: str, reason: str) -> CaseView:
    """Re-open a closed or monitored case (the child found working again): a new plan round begins."""
    if not reason.strip():
        raise InvalidInput("re-opening a case needs a reason")
    with store.transaction() as session:
        case = _locked_case(session, reference, REOPEN)
        screen_case_texts(session, case, reason=reason)
        _reopen(session, _programme(session, case), case, actor, reason)
        return _view(session, case)


def withdraw_case(store: CaseStore, reference: str, actor: str, reason: str) -> CaseView:
    """Withdraw a case that should not go on (not a child, a duplicate); its milestones are cancelled."""
    if not reason.strip():
        raise InvalidInput("withdrawing a case needs a reason")
    with store.transaction() as session:
        case = _locked_case(session, reference, WITHDRAW)
        screen_case_texts(session, case, reason=reason)
        for milestone in session.scalars(
            select(Milestone).where(Milestone.case_id == case.id, Milestone.status == MilestoneStatus.OPEN)
        ):
            repo.complete_milestone(
                session,
                milestone,
                actor=actor,
                reason=f"withdrawn: {reason}",
                status=MilestoneStatus.CANCELLED,
            )
        _move(session, case, WITHDRAW, CaseState.WITHDRAWN, actor=actor, reason=reason)
        return _view(session, case)
