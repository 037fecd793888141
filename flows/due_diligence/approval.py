"""Asking a configured role to approve a step of the cycle."""

from __future__ import annotations

from flows.prompts import apply, ask
from flows.remediation.answers import ApprovalAnswer
from flows.remediation.artifacts import ROLE_NAMES
from remediation_core.due_diligence import cycle as dd
from remediation_core.store import CaseStore


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
