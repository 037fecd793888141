"""Stage 6: closure, with the configured approval, when monitoring is complete."""

from __future__ import annotations

from flows.prompts import apply, ask, case_subject
from flows.remediation.answers import ApprovalAnswer
from flows.remediation.artifacts import ROLE_NAMES
from remediation_core import casework as cw
from remediation_core.store import CaseStore


async def close(store: CaseStore, view: cw.CaseView) -> None:
    milestone = view.milestone("closure")
    pending = ", ".join(ROLE_NAMES.get(r, r) for r in view.closure_pending)
    prompt = f"{view.reference}-r{view.round}-closure-after-visit-{view.visits_done}"
    answer = await ask(
        store,
        case_subject(view),
        prompt,
        ApprovalAnswer,
        question=f"Close the case? Monitoring is complete (awaiting: {pending})",
        asked_of=pending,
        due=milestone.due_local if milestone else None,
    )
    apply(
        store,
        view.reference,
        prompt,
        answer.answered_by,
        lambda: cw.decide_closure(
            store, view.reference, answer.role, answer.approved, answer.answered_by, answer.comment
        ),
    )
