"""The remediation plan: proposed by the case manager, approved by the roles the programme names."""

from __future__ import annotations

from sqlalchemy.orm import Session

from remediation_flows.core.approvals import (
    Decider,
    all_approved,
    record_decision,
)
from remediation_flows.core.case_states import (
    DECIDE_PLAN,
    PROPOSE_PLAN,
    Act,
    CaseState,
)
from remediation_flows.core.casework.common import (
    _complete,
    _current_plan,
    _locked_case,
    _move,
    _notify,
    _open_milestone,
    _programme,
    _required_milestone,
    schedule_step,
)
from remediation_flows.core.casework.reports import AssessmentOutcome, Pathway, PlanProposal
from remediation_flows.core.casework.stipends import open_stipend_ledger
from remediation_flows.core.casework.views import CaseView, _view
from remediation_flows.core.config.model import Programme, Role
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.mail.i18n import text
from remediation_flows.core.money import Money, as_amount
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.statuses import PlanStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Case,
    RemediationPlan,
    utcnow,
)
from remediation_flows.core.task_links import LinkRequest


def propose_plan(store: CaseStore, reference: str, proposal: PlanProposal, actor: str) -> CaseView:
    """A remediation plan, sent to each configured role for approval."""
    with store.transaction() as session:
        case = _locked_case(session, reference, PROPOSE_PLAN)
        programme = _programme(session, case)
        current = _current_plan(session, case)
        if current is not None and current.status == PlanStatus.PROPOSED:
            raise InvalidInput(f"plan {current.id} of case {reference} is still awaiting decisions")
        young = case.outcome == AssessmentOutcome.YOUNG_WORKER
        if young != (proposal.pathway is Pathway.YOUNG_WORKER_PROTECTION):
            expected = "young_worker_protection" if young else "schooling or vocational_training"
            raise InvalidInput(
                f"a case assessed as {case.outcome} needs the pathway {expected}, not {proposal.pathway}"
            )
        if len(proposal.currency) != 3 or not proposal.currency.isalpha():
            raise InvalidInput(f"currency '{proposal.currency}' is not an ISO 4217 code such as BDT or MXN")
        currency = proposal.currency.upper()
        plan = RemediationPlan(
            case_id=case.id,
            round=case.round,
            pathway=str(proposal.pathway),
            monthly_stipend=as_amount(proposal.monthly_stipend, currency, "monthly_stipend"),
            currency=currency,
            school_fees=as_amount(proposal.school_fees, currency, "school_fees"),
            payer=str(proposal.payer),
            status=PlanStatus.PROPOSED,
            proposed_by=actor,
        )
        session.add(plan)
        session.flush()
        repo.record_audit(
            session,
            actor=actor,
            action="plan_proposed",
            entity="case",
            entity_id=case.reference,
            case_id=case.id,
            details={
                "plan": plan.id,
                "pathway": plan.pathway,
                "stipend": f"{plan.monthly_stipend} {plan.currency}",
            },
        )
        milestone = _open_milestone(session, case, "remediation_plan") or schedule_step(
            session, programme, case, "remediation_plan", utcnow(), actor
        )
        roles = programme.step("remediation_plan").approval
        if not roles:
            _accept_plan(session, programme, case, plan, actor, PROPOSE_PLAN)
            return _view(session, case)
        repo.request_approvals(session, milestone, roles, actor=actor, subject=f"plan {plan.id}")
        instructions = text(
            "instr.review_plan",
            pathway=text(f"pathway.{plan.pathway}"),
            stipend=Money(plan.monthly_stipend, plan.currency),
            fees=Money(plan.school_fees, plan.currency),
            payer=text(f"payer.{plan.payer}"),
        )
        _notify(
            session,
            programme,
            case,
            milestone,
            roles,
            instructions,
            actor,
            links=LinkRequest("remediation_plan", tuple(roles), f"plan {plan.id}"),
        )
        return _view(session, case)


def decide_plan(
    store: CaseStore,
    reference: str,
    role: Role | str,
    approved: bool,
    actor: str,
    comment: str | None = None,
    *,
    decider: Decider | None = None,
) -> CaseView:
    """One role's decision on the current plan; the last approval moves the case on.

    ``decider`` says whose decision it is and how we know (a task link, or staff on their behalf);
    without it, ``actor`` is taken as the approver, unverified. The approver must hold ``role`` in
    the enterprise's programme, and by default may not be the plan's proposer.
    """
    decider = decider or Decider(person=actor, verified=False)
    with store.transaction() as session:
        case = _locked_case(session, reference, DECIDE_PLAN)
        screen_case_texts(session, case, comment=comment)
        programme = _programme(session, case)
        plan = _current_plan(session, case)
        if plan is None or plan.status != PlanStatus.PROPOSED:
            raise InvalidInput(f"case {reference} has no remediation plan awaiting a decision")
        milestone = _required_milestone(session, case, "remediation_plan")
        subject = f"plan {plan.id}"
        record_decision(
            session,
            repo.current_programme(session, case.enterprise_id),
            milestone,
            subject,
            role,
            approved=approved,
            decider=decider,
            comment=comment,
            proposer=plan.proposed_by,
        )
        actor = decider.actor
        if not approved:
            plan.status = PlanStatus.REJECTED
            repo.record_audit(
                session,
                actor=actor,
                action="plan_rejected",
                entity="case",
                entity_id=case.reference,
                case_id=case.id,
                reason=comment,
                details={"plan": plan.id, "role": str(role)},
            )
            repo.void_task_links(
                session,
                actor=actor,
                reason=f"plan {plan.id} was rejected",
                milestone_id=milestone.id,
                subject=subject,
            )
            instructions = text("instr.plan_rejected", comment=comment)
            _notify(session, programme, case, milestone, [Role.CASE_MANAGER], instructions, actor)
        elif all_approved(session, milestone, subject):
            _accept_plan(session, programme, case, plan, actor, DECIDE_PLAN)
        return _view(session, case)


def _accept_plan(
    session: Session, programme: Programme, case: Case, plan: RemediationPlan, actor: str, act: Act
) -> None:
    plan.status = PlanStatus.ACCEPTED
    repo.record_audit(
        session,
        actor=actor,
        action="plan_accepted",
        entity="case",
        entity_id=case.reference,
        case_id=case.id,
        details={"plan": plan.id},
    )
    _complete(session, case, "remediation_plan", actor, f"plan {plan.id} accepted")
    young = plan.pathway == Pathway.YOUNG_WORKER_PROTECTION
    target = CaseState.YOUNG_WORKER_PROTECTION if young else CaseState.SCHOOL_REINTEGRATION
    _move(session, case, act, target, actor=actor, reason=f"plan {plan.id} accepted by every role")
    step = target.value
    if step not in programme.remediation_steps:
        step = "school_reintegration"  # a programme without a young-worker step uses the reintegration rules
    milestone = schedule_step(session, programme, case, step, utcnow(), actor)
    instructions = text(
        f"instr.{target.value}",
        pathway=text(f"pathway.{plan.pathway}"),
        stipend=Money(plan.monthly_stipend, plan.currency),
    )
    _notify(
        session,
        programme,
        case,
        milestone,
        [Role.ENTERPRISE_FOCAL_POINT],
        instructions,
        actor,
        as_enterprise_task=True,
        links=LinkRequest(milestone.kind, (Role.ENTERPRISE_FOCAL_POINT,)),
    )
    open_stipend_ledger(session, programme, case, plan, utcnow().date(), actor)
