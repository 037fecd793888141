"""What people report and decide about a case: the answers' vocabulary and shapes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from remediation_flows.core.case_sources import CaseSource


class SuspectedCause(StrEnum):
    FORGED_ID = "forged_id"
    LABOUR_AGENT = "labour_agent"
    VOCATIONAL_SCHOOL_PLACEMENT = "vocational_school_placement"
    SUBCONTRACTOR = "subcontractor"
    FAMILY_POVERTY = "family_poverty"
    UNKNOWN = "unknown"


class AgeVerification(StrEnum):
    IDENTITY_DOCUMENTS = "identity_documents"
    BIRTH_CERTIFICATE = "birth_certificate"
    SCHOOL_RECORDS = "school_records"
    PARENTS_OR_COMMUNITY = "parents_or_community"
    LABOUR_OFFICE = "labour_office"
    MEDICAL_CHECK = "medical_check"


class AssessmentOutcome(StrEnum):
    CHILD_LABOURER = "child_labourer"
    YOUNG_WORKER = "young_worker"
    NOT_A_CHILD = "not_a_child"


class Pathway(StrEnum):
    SCHOOLING = "schooling"
    VOCATIONAL_TRAINING = "vocational_training"
    YOUNG_WORKER_PROTECTION = "young_worker_protection"


class Payer(StrEnum):
    SUPPLIER = "supplier"
    BRAND = "brand"
    SHARED = "shared"
    NGO = "ngo"


#: The notification form allows this many children; one notification is opened in one transaction.
MAX_CHILDREN_PER_NOTIFICATION = 50


@dataclass(frozen=True)
class Notification:
    """What is known when a suspected child worker is reported. No names, by design."""

    enterprise_id: str
    site_id: str
    notified_at: dt.datetime
    source: Source
    children_count: int = 1
    suspected_age: int | None = None
    suspected_cause: SuspectedCause | None = None


class ChildSex(StrEnum):
    """Recorded for the field's breakdowns; on its own it identifies nobody."""

    FEMALE = "female"
    MALE = "male"


@dataclass(frozen=True)
class AssessmentReport:
    age_years: int
    age_verification: AgeVerification
    outcome: AssessmentOutcome
    #: From all work: what a child labourer needs.
    removed_from_work: bool
    safe_place: bool
    child_consent: bool
    guardian_consent: bool
    sex: ChildSex | None = None
    #: From hazardous tasks and night shifts: what a young worker, who may keep the job, needs.
    removed_from_hazardous_work: bool = False


@dataclass(frozen=True)
class PlanProposal:
    pathway: Pathway
    monthly_stipend: Decimal
    currency: str
    school_fees: Decimal
    payer: Payer


@dataclass(frozen=True)
class PaymentConfirmation:
    """A payment the payer made: how much, in which currency, on which day, and its reference."""

    amount: Decimal
    currency: str
    paid_on: dt.date
    #: The bank transfer, mobile-money transaction or receipt number.
    payment_reference: str


@dataclass(frozen=True)
class ReintegrationReport:
    effective_on: dt.date
    evidence_reference: str | None = None
    hazardous_tasks_removed: bool | None = None
    hours_reduced: bool | None = None
    night_shifts_stopped: bool | None = None


@dataclass(frozen=True)
class VisitReport:
    visited_on: dt.date
    attending_school: bool
    back_at_work: bool
    findings: str | None = None


#: The case sources under the name the notification form and the callers have always used.
Source = CaseSource
