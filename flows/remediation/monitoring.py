"""Stage 5: follow-up visits on the configured schedule; a child back at work re-opens remediation."""

from __future__ import annotations

from flows.prompts import apply, ask, case_subject
from flows.remediation.answers import FollowUpVisitAnswer
from flows.remediation.closure import close
from remediation_core import casework as cw
from remediation_core.store import CaseStore


async def monitor(store: CaseStore, view: cw.CaseView) -> None:
    if view.closure_pending:
        await close(store, view)
        return
    number = view.visits_done + 1
    milestone = view.milestone("follow_up_visit")
    prompt = f"{view.reference}-r{view.round}-visit-{number}"
    answer = await ask(
        store,
        case_subject(view),
        prompt,
        FollowUpVisitAnswer,
        question=f"Follow-up visit {number}: school attendance, stipend, not back at work",
        asked_of=f"the case manager ({view.case_manager or 'unassigned'})",
        due=milestone.due_local if milestone else None,
    )
    report = cw.VisitReport(
        visited_on=answer.visited_on,
        attending_school=answer.attending_school,
        stipend_paid=answer.stipend_paid,
        back_at_work=answer.back_at_work,
        findings=answer.findings,
    )
    apply(
        store,
        view.reference,
        prompt,
        answer.answered_by,
        lambda: cw.record_follow_up(store, view.reference, report, answer.answered_by),
    )
