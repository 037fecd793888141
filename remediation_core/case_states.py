"""The case state machine: every state a case can be in and every move allowed between them."""

from __future__ import annotations

from enum import StrEnum

from remediation_core.errors import IllegalTransition


class CaseState(StrEnum):
    NOTIFIED = "notified"
    ON_SITE_ASSESSMENT = "on_site_assessment"
    REMEDIATION_PLAN = "remediation_plan"
    SCHOOL_REINTEGRATION = "school_reintegration"
    YOUNG_WORKER_PROTECTION = "young_worker_protection"
    MONITORING = "monitoring"
    CLOSED = "closed"
    REOPENED = "reopened"
    WITHDRAWN = "withdrawn"


ALLOWED_TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.NOTIFIED: frozenset({CaseState.ON_SITE_ASSESSMENT, CaseState.WITHDRAWN}),
    CaseState.ON_SITE_ASSESSMENT: frozenset({CaseState.REMEDIATION_PLAN, CaseState.WITHDRAWN}),
    CaseState.REMEDIATION_PLAN: frozenset(
        {CaseState.SCHOOL_REINTEGRATION, CaseState.YOUNG_WORKER_PROTECTION, CaseState.WITHDRAWN}
    ),
    CaseState.SCHOOL_REINTEGRATION: frozenset({CaseState.MONITORING}),
    CaseState.YOUNG_WORKER_PROTECTION: frozenset({CaseState.MONITORING}),
    # A follow-up that finds the child at work re-opens the case.
    CaseState.MONITORING: frozenset({CaseState.CLOSED, CaseState.REOPENED}),
    CaseState.CLOSED: frozenset({CaseState.REOPENED}),
    CaseState.REOPENED: frozenset({CaseState.ON_SITE_ASSESSMENT, CaseState.REMEDIATION_PLAN}),
    CaseState.WITHDRAWN: frozenset(),
}

#: States in which a case still needs work.
OPEN_STATES = frozenset(CaseState) - {CaseState.CLOSED, CaseState.WITHDRAWN}


def check_transition(case_reference: str, current: str, requested: str) -> CaseState:
    """Return ``requested`` as a state if the move is allowed; raise :class:`IllegalTransition`."""
    try:
        target = CaseState(requested)
    except ValueError:
        raise IllegalTransition(case_reference, current, requested) from None
    if target not in ALLOWED_TRANSITIONS[CaseState(current)]:
        raise IllegalTransition(case_reference, current, requested)
    return target
