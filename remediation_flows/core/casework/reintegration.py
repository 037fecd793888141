"""School reintegration (or a young worker's protection): enrolment. Stipends: see stipends.py."""

from __future__ import annotations

from remediation_flows.core.case_states import (
    RECORD_REINTEGRATION,
    CaseState,
)
from remediation_flows.core.casework.common import _complete, _locked_case, _move, _programme
from remediation_flows.core.casework.monitoring import schedule_visit
from remediation_flows.core.casework.reports import ReintegrationReport
from remediation_flows.core.casework.views import CaseView, _view
from remediation_flows.core.errors import InvalidInput
from remediation_flows.core.safeguarding.free_text import screen_case_texts
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import Reintegration


def record_reintegration(
    store: CaseStore, reference: str, report: ReintegrationReport, actor: str
) -> CaseView:
    """Enrolment confirmed (or, for a young worker, protection in place); monitoring begins."""
    with store.transaction() as session:
        case = _locked_case(session, reference, RECORD_REINTEGRATION)
        screen_case_texts(session, case, evidence_reference=report.evidence_reference)
        programme = _programme(session, case)
        young = case.state == CaseState.YOUNG_WORKER_PROTECTION
        if young:
            missing = [
                name
                for name in ("hazardous_tasks_removed", "hours_reduced", "night_shifts_stopped")
                if not getattr(report, name)
            ]
            if missing:
                raise InvalidInput(
                    f"young-worker protection is not in place: {', '.join(missing)} not confirmed"
                )
        else:
            if not (report.evidence_reference or "").strip():
                raise InvalidInput("evidence_reference is required (the enrolment letter)")
        session.add(
            Reintegration(
                case_id=case.id,
                round=case.round,
                kind="young_worker_protection" if young else "school_reintegration",
                effective_on=report.effective_on,
                evidence_reference=report.evidence_reference,
                hazardous_tasks_removed=report.hazardous_tasks_removed,
                hours_reduced=report.hours_reduced,
                night_shifts_stopped=report.night_shifts_stopped,
                recorded_by=actor,
            )
        )
        for step in ("school_reintegration", "young_worker_protection"):
            _complete(session, case, step, actor, f"in place from {report.effective_on}")
        _move(
            session,
            case,
            RECORD_REINTEGRATION,
            CaseState.MONITORING,
            actor=actor,
            reason=f"reintegrated from {report.effective_on}",
        )
        schedule_visit(session, programme, case, report.effective_on, 1, actor)
        return _view(session, case)
