"""Stage 4: school reintegration (enrolment and first stipend), or protection for a young worker."""

from __future__ import annotations

from flows.prompts import apply, ask, case_subject
from flows.remediation.answers import SchoolReintegrationAnswer, YoungWorkerProtectionAnswer
from remediation_core import casework as cw
from remediation_core.case_states import CaseState
from remediation_core.store import CaseStore


async def reintegrate(store: CaseStore, view: cw.CaseView) -> None:
    young = view.state == CaseState.YOUNG_WORKER_PROTECTION
    milestone = view.open_milestones[0] if view.open_milestones else None
    prompt = f"{view.reference}-r{view.round}-reintegration"
    if young:
        answer = await ask(
            store,
            case_subject(view),
            prompt,
            YoungWorkerProtectionAnswer,
            question="Young-worker protection: hazardous tasks removed, hours cut, night shifts stopped",
            asked_of="the case manager, with the enterprise focal point's confirmation",
            due=milestone.due_local if milestone else None,
        )
        report = cw.ReintegrationReport(
            effective_on=answer.effective_on,
            hazardous_tasks_removed=answer.hazardous_tasks_removed,
            hours_reduced=answer.hours_reduced,
            night_shifts_stopped=answer.night_shifts_stopped,
        )
    else:
        answer = await ask(
            store,
            case_subject(view),
            prompt,
            SchoolReintegrationAnswer,
            question="School reintegration: enrolment confirmed and first stipend paid",
            asked_of="the case manager, with the enterprise focal point's evidence",
            due=milestone.due_local if milestone else None,
        )
        report = cw.ReintegrationReport(
            effective_on=answer.effective_on,
            first_stipend_paid_on=answer.first_stipend_paid_on,
            evidence_reference=answer.evidence_reference,
        )
    apply(
        store,
        view.reference,
        prompt,
        answer.answered_by,
        lambda: cw.record_reintegration(store, view.reference, report, answer.answered_by),
    )
