"""Stage 2: the on-site assessment, due within 72 hours of notification (configurable)."""

from __future__ import annotations

from flows.prompts import apply, ask, case_subject
from flows.remediation.answers import OnSiteAssessmentAnswer
from remediation_core import casework as cw
from remediation_core.store import CaseStore


async def assess(store: CaseStore, view: cw.CaseView) -> None:
    milestone = view.milestone("on_site_assessment")
    prompt = f"{view.reference}-r{view.round}-assessment"
    answer = await ask(
        store,
        case_subject(view),
        prompt,
        OnSiteAssessmentAnswer,
        question="On-site assessment: verify the age, remove the child from work, record consent and outcome",
        asked_of=f"the case manager ({view.case_manager or 'unassigned'})",
        due=milestone.due_local if milestone else None,
    )
    report = cw.AssessmentReport(
        age_years=answer.age_years,
        age_verification=answer.age_verification,
        outcome=answer.outcome,
        removed_from_work=answer.removed_from_work,
        safe_place=answer.safe_place,
        child_consent=answer.child_consent,
        guardian_consent=answer.guardian_consent,
    )
    apply(
        store,
        view.reference,
        prompt,
        answer.answered_by,
        lambda: cw.record_assessment(store, view.reference, report, answer.answered_by),
    )
