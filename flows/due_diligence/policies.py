"""Step 2: prevention, on-site intervention and remediation policies, reviewed then approved."""

from __future__ import annotations

from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.store import CaseStore
from remediation_flows.flows.due_diligence.answers import PolicyReviewAnswer
from remediation_flows.flows.due_diligence.approval import approve
from remediation_flows.flows.prompts import apply, ask


async def review_policies(store: CaseStore, view: dd.CycleView) -> None:
    if view.reviews and view.pending_approvals and not view.refused:
        await approve(store, view, f"the policies (review {view.reviews})")
        return
    prompt = f"{view.reference}-policies-{view.reviews + 1}"
    answer = await ask(
        store,
        f"Cycle {view.reference}",
        prompt,
        PolicyReviewAnswer,
        question="Policies and procedures: prevention, on-site intervention and remediation",
        asked_of="the enterprise leadership, with the program manager",
        due=view.due_local,
    )
    review = dd.PolicyReview(**answer.model_dump(exclude={"answered_by"}))
    await apply(
        store,
        view.reference,
        prompt,
        answer,
        lambda: dd.record_policy_review(store, view.enterprise_id, view.year, review, answer.answered_by),
    )
