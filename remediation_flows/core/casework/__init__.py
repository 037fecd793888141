"""The remediation lifecycle's acts, from notification to closure.

Each act is one transaction: the case's change, its audit rows, the next
milestone (its due date reckoned once, from the programme the case is pinned
to) and the emails it causes commit together or not at all. An act that does
not fit the case's state raises :class:`IllegalTransition`; input that breaks
a rule raises :class:`InvalidInput` and changes nothing.

Nothing here takes or returns a child's identity: see :func:`identify_child`.

One module per stage, mirroring flows/remediation/; the pure rules are in rules.py. Every
act and view is importable from here, as ``casework.X``.
"""

from __future__ import annotations

from remediation_flows.core.casework.assessment import record_assessment
from remediation_flows.core.casework.closure import decide_closure, reopen_case, withdraw_case
from remediation_flows.core.casework.common import schedule_step
from remediation_flows.core.casework.monitoring import record_follow_up, schedule_visit
from remediation_flows.core.casework.notification import (
    identify_child,
    open_case,
    open_case_in,
    open_notification,
)
from remediation_flows.core.casework.outside_course import grant_extension, reassign_case
from remediation_flows.core.casework.plan import decide_plan, propose_plan
from remediation_flows.core.casework.reintegration import record_reintegration
from remediation_flows.core.casework.reports import (
    MAX_CHILDREN_PER_NOTIFICATION,
    AgeVerification,
    AssessmentOutcome,
    AssessmentReport,
    ChildSex,
    Notification,
    Pathway,
    Payer,
    PaymentConfirmation,
    PlanProposal,
    ReintegrationReport,
    Source,
    SuspectedCause,
    VisitReport,
)
from remediation_flows.core.casework.rules import check_assessment, money, visit_start
from remediation_flows.core.casework.stipends import (
    LedgerLine,
    PaymentPurpose,
    confirm_payment,
    confirm_payment_by_link,
    payment_awaited,
    record_interim_support,
    stipend_ledger,
)
from remediation_flows.core.casework.views import (
    CaseView,
    MilestoneView,
    case_view,
    open_case_rounds,
    open_case_views,
    record_refusal,
    refusals,
)

__all__ = [
    "LedgerLine",
    "PaymentConfirmation",
    "PaymentPurpose",
    "confirm_payment",
    "confirm_payment_by_link",
    "payment_awaited",
    "record_interim_support",
    "stipend_ledger",
    "AgeVerification",
    "AssessmentOutcome",
    "AssessmentReport",
    "CaseView",
    "ChildSex",
    "MAX_CHILDREN_PER_NOTIFICATION",
    "MilestoneView",
    "Notification",
    "Pathway",
    "Payer",
    "PlanProposal",
    "ReintegrationReport",
    "Source",
    "SuspectedCause",
    "VisitReport",
    "case_view",
    "check_assessment",
    "decide_closure",
    "decide_plan",
    "grant_extension",
    "identify_child",
    "money",
    "open_case",
    "open_case_in",
    "open_case_rounds",
    "open_case_views",
    "open_notification",
    "propose_plan",
    "reassign_case",
    "record_assessment",
    "record_follow_up",
    "record_refusal",
    "record_reintegration",
    "refusals",
    "reopen_case",
    "schedule_step",
    "schedule_visit",
    "visit_start",
    "withdraw_case",
]
