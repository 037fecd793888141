"""The typed forms a person fills in the Resume dialog, one per question the lifecycle asks.

The Prefect server validates an answer against its form's schema before the
run resumes; the core then checks what a schema cannot (ages against the
country's minimum, a visit before enrolment...).
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from remediation_flows.core.casework import AgeVerification, AssessmentOutcome, ChildSex, Pathway, Payer
from remediation_flows.core.config.model import Role
from remediation_flows.flows.forms import Form

ANSWERED_BY = Field(
    title="Your name or email",
    description="Recorded in the case's audit trail as the person who gave this answer.",
    min_length=2,
    max_length=200,
)
NO_NAMES = "Never write a child's name, birth date, address or school here: use the case reference."


class OnSiteAssessmentAnswer(Form):
    answered_by: str = ANSWERED_BY
    age_years: int = Field(title="Verified age (years)", ge=5, le=30)
    age_verification: AgeVerification = Field(title="How the age was verified")
    outcome: AssessmentOutcome = Field(title="Outcome")
    removed_from_work: bool = Field(
        title="The child was removed from all work",
        description="Required for a child labourer. A young worker may keep the job: answer below.",
    )
    removed_from_hazardous_work: bool = Field(
        default=False,
        title="Young worker: removed from hazardous tasks and night shifts",
        description="Required for a young worker (above the minimum age, under 18) who keeps the job.",
    )
    safe_place: bool = Field(title="The child is in a safe place")
    child_consent: bool = Field(title="The child consents")
    guardian_consent: bool = Field(title="The guardian consents")
    sex: ChildSex | None = Field(default=None, title="Sex", description="For the outcome figures by sex.")


class PlanProposalAnswer(Form):
    answered_by: str = ANSWERED_BY
    pathway: Pathway = Field(
        title="Pathway", description="Young workers above the minimum age: young_worker_protection."
    )
    monthly_stipend: float = Field(
        title="Monthly stipend", ge=0, description="Often the wage the child earned."
    )
    currency: str = Field(title="Currency (ISO 4217)", pattern="^[A-Z]{3}$", examples=["BDT", "MXN", "VND"])
    school_fees: float = Field(title="School or training fees", ge=0, default=0)
    payer: Payer = Field(title="Who pays", default=Payer.SUPPLIER)


class ApprovalAnswer(Form):
    answered_by: str = ANSWERED_BY
    role: Role = Field(
        title="Approving as",
        description="The role whose decision this is: the approver must hold it in the programme.",
    )
    approved: bool = Field(title="Approved")
    comment: str | None = Field(
        default=None, title="Comment", description="Required when not approved. " + NO_NAMES
    )
    on_behalf_of: str | None = Field(
        default=None,
        title="On behalf of (email)",
        description="When staff record an approver's decision: the approver's address in the programme.",
        max_length=200,
    )
    on_behalf_reason: str | None = Field(
        default=None,
        title="Why staff record it",
        description="Required when recording someone else's decision (e.g. given by phone). " + NO_NAMES,
        max_length=500,
    )


#: Fields a task page never shows: a task link says who answers and in which role.
IDENTITY_FIELDS = frozenset({"answered_by", "role", "on_behalf_of", "on_behalf_reason"})


class SchoolReintegrationAnswer(Form):
    answered_by: str = ANSWERED_BY
    effective_on: dt.date = Field(title="Enrolment confirmed on")
    evidence_reference: str = Field(
        title="Evidence reference",
        description="Reference of the enrolment letter in the case file (each stipend payment is "
        "confirmed on its own, in the ledger).",
        min_length=1,
        max_length=300,
    )


class YoungWorkerProtectionAnswer(Form):
    answered_by: str = ANSWERED_BY
    effective_on: dt.date = Field(title="Protection in place from")
    hazardous_tasks_removed: bool = Field(title="Hazardous tasks removed")
    hours_reduced: bool = Field(title="Working hours cut to the legal limit")
    night_shifts_stopped: bool = Field(title="Night shifts stopped")


class FollowUpVisitAnswer(Form):
    answered_by: str = ANSWERED_BY
    visited_on: dt.date = Field(title="Visit date")
    attending_school: bool = Field(title="Attending school or training")
    back_at_work: bool = Field(
        title="Found working again", description="Re-opens remediation with a new plan."
    )
    findings: str | None = Field(default=None, title="Findings", description=NO_NAMES, max_length=2000)


class StipendPaymentAnswer(Form):
    """The payer's confirmation of one payment of the stipend ledger, typed in the Resume dialog by staff."""

    answered_by: str = ANSWERED_BY
    on_behalf_of: str = Field(
        title="Payer (email)",
        description="The payer's address in the programme (the site's enterprise focal point by default).",
        max_length=200,
    )
    on_behalf_reason: str | None = Field(
        default=None,
        title="Why staff record it",
        description="Required when you are not the payer (e.g. the receipt was sent by post). " + NO_NAMES,
        max_length=500,
    )
    amount: float = Field(title="Amount paid", gt=0)
    currency: str = Field(title="Currency (ISO 4217)", pattern="^[A-Z]{3}$", examples=["BDT", "MXN", "VND"])
    paid_on: dt.date = Field(title="Paid on")
    payment_reference: str = Field(
        title="Payment reference",
        description="Bank transfer, mobile-money transaction or receipt number. " + NO_NAMES,
        min_length=1,
        max_length=120,
    )


class ActReasonAnswer(Form):
    """The free text of an act outside the normal course, asked after the run starts.

    Asked in the Resume dialog rather than as a flow-run parameter: Prefect keeps parameters for
    the life of the run, while this answer is deleted once the core has screened and applied it.
    """

    reason: str = Field(title="Reason", description=NO_NAMES, min_length=3, max_length=2000)
