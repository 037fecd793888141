"""Stage 3: the remediation plan, proposed by the case manager and approved by the configured roles."""

from __future__ import annotations

from decimal import Decimal

from flows.prompts import apply, ask, case_subject
from flows.remediation.answers import ApprovalAnswer, PlanProposalAnswer
from flows.remediation.artifacts import ROLE_NAMES
from remediation_core import casework as cw
from remediation_core.store import CaseStore


async def plan(store: CaseStore, view: cw.CaseView) -> None:
    milestone = view.milestone("remediation_plan")
    due = milestone.due_local if milestone else None
    if view.plan_status != "proposed":
        prompt = f"{view.reference}-r{view.round}-plan-{view.plans_proposed + 1}"
        answer = await ask(
            store,
            case_subject(view),
            prompt,
            PlanProposalAnswer,
            question="Remediation plan: schooling or training, stipend, fees and who pays",
            asked_of=f"the case manager ({view.case_manager or 'unassigned'})",
            due=due,
        )
        proposal = cw.PlanProposal(
            pathway=answer.pathway,
            monthly_stipend=Decimal(str(answer.monthly_stipend)),
            currency=answer.currency,
            school_fees=Decimal(str(answer.school_fees)),
            payer=answer.payer,
        )
        apply(
            store,
            view.reference,
            prompt,
            answer.answered_by,
            lambda: cw.propose_plan(store, view.reference, proposal, answer.answered_by),
        )
        return
    prompt = f"{view.reference}-r{view.round}-plan-{view.plan_id}-decision-{view.decisions_made + 1}"
    pending = ", ".join(ROLE_NAMES.get(r, r) for r in view.pending_approvals)
    answer = await ask(
        store,
        case_subject(view),
        prompt,
        ApprovalAnswer,
        question=f"Approve remediation plan {view.plan_id}? (awaiting: {pending})",
        asked_of=pending,
        due=due,
    )
    apply(
        store,
        view.reference,
        prompt,
        answer.answered_by,
        lambda: cw.decide_plan(
            store, view.reference, answer.role, answer.approved, answer.answered_by, answer.comment
        ),
    )
