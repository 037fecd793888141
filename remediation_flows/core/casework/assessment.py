"""The on-site assessment: verify the age, remove the child from work, record consent and outcome."""

from __future__ import annotations

from remediation_flows.core.case_states import (
    RECORD_ASSESSMENT,
    CaseState,
)
from remediation_flows.core.casework.common import (
    _complete,
    _locked_case,
    _move,
    _notify,
    _programme,
    schedule_step,
)
from remediation_flows.core.casework.reports import AssessmentOutcome, AssessmentReport
from remediation_flows.core.casework.rules import check_assessment
from remediation_flows.core.casework.views import CaseView, _view
from remediation_flows.core.config.model import Role
from remediation_flows.core.mail.i18n import text
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    Assessment,
    utcnow,
)


def record_assessment(store: CaseStore, reference: str, report: AssessmentReport, actor: str) -> CaseView:
    """The on-site assessment's findings; the outcome decides the path the case takes."""
    with store.transaction() as session:
        case = _locked_case(session, reference, RECORD_ASSESSMENT)
        programme = _programme(session, case)
        site = programme.site(case.site_id)
        minimum_age = programme.minimum_age_for(site.country)
        check_assessment(report, minimum_age, site.country)
        session.add(
            Assessment(
                case_id=case.id,
                round=case.round,
                age_years=report.age_years,
                age_verification=str(report.age_verification),
                outcome=str(report.outcome),
                removed_from_work=report.removed_from_work,
                removed_from_hazardous_work=report.removed_from_hazardous_work or report.removed_from_work,
                safe_place=report.safe_place,
                child_consent=report.child_consent,
                guardian_consent=report.guardian_consent,
                sex=str(report.sex) if report.sex else None,
                assessed_by=actor,
                assessed_at=utcnow(),
            )
        )
        _complete(session, case, "on_site_assessment", actor, f"outcome: {report.outcome}")
        if report.outcome is AssessmentOutcome.NOT_A_CHILD:
            _move(
                session,
                case,
                RECORD_ASSESSMENT,
                CaseState.WITHDRAWN,
                actor=actor,
                reason=f"not a child: age verified as {report.age_years} by {report.age_verification}",
            )
            return _view(session, case)
        case.outcome = str(report.outcome)
        _move(
            session,
            case,
            RECORD_ASSESSMENT,
            CaseState.REMEDIATION_PLAN,
            actor=actor,
            reason=f"assessed as {report.outcome}",
        )
        milestone = schedule_step(session, programme, case, "remediation_plan", utcnow(), actor)
        _notify(
            session,
            programme,
            case,
            milestone,
            [Role.CASE_MANAGER],
            text("instr.remediation_plan"),
            actor,
        )
        return _view(session, case)
