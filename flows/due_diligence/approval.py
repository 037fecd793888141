"""Asking a configured role to approve a step of the cycle."""

from __future__ import annotations

from remediation_flows.core.due_diligence import cycle as dd
from remediation_flows.core.store import CaseStore
from remediation_flows.flows.prompts import apply, ask
from remediation_flows.flows.remediation.answers import ApprovalAnswer
from remediation_flows.flows.remediation.artifacts import ROLE_NAMES


async def approve(store: CaseStore, view: dd.CycleView, what: str) -> None:
    pending = ", ".join(ROLE_NAMES.get(r, r) for r in view.pending_approvals)
    decided = view.reviews if view.step == "policies_and_procedures" else 0
    prompt = f"{view.reference}-{view.step}-{decided}-decision-{len(view.pending_approvals)}"
    answer = await ask(
        store,
        f"Cycle {view.reference}",
        prompt,
        ApprovalAnswer,
        question=f"Approve {what}? (awaiting: {pending})",
        asked_of=pending,
        due=view.due_local,
    )
    await apply(
        store,
        view.reference,
        prompt,
        answer,
        lambda: dd.decide(
            store,
            view.enterprise_id,
            view.year,
            answer.role,
            answer.approved,
            answer.answered_by,
            answer.comment,
        ),
    )
