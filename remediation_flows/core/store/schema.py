"""The case store's tables (SQLAlchemy 2.0). Alembic migrations are generated from these."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from remediation_flows.core.statuses import ApprovalStatus, MilestoneStatus, OutboxStatus, PlanStatus
from remediation_flows.core.store.protection import ProtectedBytes, ProtectedDate, ProtectedText


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant stored as naive UTC and read back as aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing a naive datetime {value!r}: instants must carry a time zone")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Status = TypeVar("Status", bound=StrEnum)


def status_column(statuses: type[Status], default: Status) -> Mapped[Status]:
    """A status column: the enum's values in the VARCHAR(16) it always was, no database enum type.

    No CHECK constraint either, so the schema is the one the migrations made; the enum refuses an
    unknown status when a row is written or read.
    """
    return mapped_column(
        Enum(
            statuses,
            native_enum=False,
            create_constraint=False,
            length=16,
            values_callable=lambda members: [member.value for member in members],
            validate_strings=True,
        ),
        default=default,
    )


class Enterprise(Base):
    __tablename__ = "enterprises"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8))
    # The programme document as last registered; cases pin the version they started on.
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_sha256: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sites: Mapped[list[SiteRow]] = relationship(back_populates="enterprise", cascade="all, delete-orphan")


class ProgrammeVersion(Base):
    """Every programme document ever registered, by hash: cases and milestones keep the one they began on."""

    __tablename__ = "programme_versions"
    config_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SiteRow(Base):
    __tablename__ = "sites"
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64))
    enterprise: Mapped[Enterprise] = relationship(back_populates="sites")


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index(None, "enterprise_id", "state"),
        UniqueConstraint("enterprise_id", "legacy_reference"),
        # One notification opens each of its children once, however often it is retried.
        UniqueConstraint("notification_key", "notification_child"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"))
    site_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    case_manager: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(32))
    notified_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    children_count: Mapped[int] = mapped_column(Integer, default=1)
    suspected_age: Mapped[int | None] = mapped_column(Integer)
    suspected_cause: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(32))
    config_sha256: Mapped[str] = mapped_column(String(64))
    due_diligence_cycle_id: Mapped[int | None] = mapped_column(Integer)
    # The case's id in the system it was imported from, if any: importing it twice is refused.
    legacy_reference: Mapped[str | None] = mapped_column(String(64))
    # The notification that opened the case (e.g. its open-a-case flow run) and the child's number in it.
    notification_key: Mapped[str | None] = mapped_column(String(100))
    notification_child: Mapped[int | None] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer, default=1)
    # Derived from the birth date when the identity is recorded, so that the lifecycle decides
    # whether monitoring goes on without the personal-data key. They stay in the case store: a
    # birthday anniversary gives the birth date away, so neither ever enters Prefect or an email.
    reaches_working_age_on: Mapped[dt.date | None] = mapped_column(Date)
    turns_18_on: Mapped[dt.date | None] = mapped_column(Date)
    # When the case was closed or withdrawn (NULL while it runs): the child's identity is kept
    # for the programme's retention period from then, unless a legal hold stops its erasure.
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChildPersonalData(Base):
    """The only place a child's identity lives; encrypted at rest when a key is configured."""

    __tablename__ = "child_personal_data"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    full_name: Mapped[str] = mapped_column(ProtectedText)
    birth_date: Mapped[dt.date | None] = mapped_column(ProtectedDate)
    address: Mapped[str | None] = mapped_column(ProtectedText)
    school: Mapped[str | None] = mapped_column(ProtectedText)
    guardian_name: Mapped[str | None] = mapped_column(ProtectedText)
    photo_reference: Mapped[str | None] = mapped_column(ProtectedText)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdentityLegalHold(Base):
    """A legal hold on a case: while it is not released, the child's identity is never erased.

    ``reason`` is staff's free text, screened against the identity, and stays in the store.
    """

    __tablename__ = "identity_legal_holds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    held_by: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    release_reason: Mapped[str | None] = mapped_column(Text)


class IdentityAccess(Base):
    """One read of a child's identity by a person: who, when, which case, why. Never the identity."""

    __tablename__ = "identity_access_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    accessed_by: Mapped[str] = mapped_column(String(200))
    accessed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    #: How it was read, e.g. "show-identity".
    purpose: Mapped[str] = mapped_column(String(64))


class Milestone(Base):
    __tablename__ = "milestones"
    __table_args__ = (
        # The sweep's hot query: open milestones by due date. Partial, so closed ones cost nothing.
        Index(
            "ix_milestones_open_due_at",
            "due_at",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        # The sweep's own query: open milestones whose next ladder level has come.
        Index(
            "ix_milestones_open_next_escalation_at",
            "next_escalation_at",
            postgresql_where=text("status = 'open' AND next_escalation_at IS NOT NULL"),
            sqlite_where=text("status = 'open' AND next_escalation_at IS NOT NULL"),
        ),
        Index(None, "case_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A stable key (e.g. "CL-2026-000001/r1/follow_up_visit/2") makes creation idempotent.
    key: Mapped[str] = mapped_column(String(200), unique=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"))
    site_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    cycle_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    # The programme version whose rules (deadline, ladder) this milestone follows.
    config_sha256: Mapped[str] = mapped_column(String(64))
    owner_role: Mapped[str] = mapped_column(String(32))
    status: Mapped[MilestoneStatus] = status_column(MilestoneStatus, MilestoneStatus.OPEN)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Index in the ladder of the highest level fired for the current due date (-1: none).
    escalation_level: Mapped[int] = mapped_column(Integer, default=-1)
    # When the next ladder level fires; derived from due_at, the ladder and the site's calendar.
    next_escalation_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(200))
    # Set while the milestone is on hold (see remediation_flows.core.holds): its clock and ladder wait.
    held_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class MilestoneEscalation(Base):
    """One firing of a milestone's ladder: the level whose people were told, and the levels below it
    that came in the same sweep; the unique key makes a level fire once per due date.

    The due date is part of the key so that an extension restarts the ladder. A sweep that finds
    several levels come at once (a milestone long overdue) tells only the highest one's people:
    the others are recorded here, in ``passed_levels``, not in a row each, so that a sweep writes
    one row per milestone however far behind it is.
    """

    __tablename__ = "milestone_escalations"
    __table_args__ = (UniqueConstraint("milestone_id", "due_at", "level_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"))
    level_index: Mapped[int] = mapped_column(Integer)
    level_name: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The names of the levels this firing passed on its way to level_index, lowest first: come in the
    # same sweep, recorded, and no email of their own.
    passed_levels: Mapped[list[str]] = mapped_column(JSON, default=list)

    @property
    def levels(self) -> list[tuple[str, bool]]:
        """Every level this firing reached, lowest first, each with whether its people were emailed."""
        return [(name, False) for name in self.passed_levels] + [(self.level_name, True)]


class DeadlineExtension(Base):
    __tablename__ = "deadline_extensions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"), index=True)
    previous_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    new_due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MilestoneHold(Base):
    """A pause of a milestone's clock: why, by whom, and by how much its deadline moved when it ended.

    ``reason`` is one of :class:`remediation_flows.core.holds.HoldReason` and may be shown anywhere;
    ``note`` is staff's free text and stays in the store.
    """

    __tablename__ = "milestone_holds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    held_by: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_at_when_held: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200))
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at_when_released: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # What the hold cost the clock, in the step's unit, e.g. "3 working days".
    held_for: Mapped[str | None] = mapped_column(String(64))


class Approval(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("milestone_id", "subject", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"))
    # What is approved, e.g. "plan 3" or "closure": a re-proposed plan gets fresh approvals.
    subject: Mapped[str] = mapped_column(String(64), default="")
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    status: Mapped[ApprovalStatus] = status_column(ApprovalStatus, ApprovalStatus.REQUESTED)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    # Whose decision it is (an address the programme lists under ``role``) and how we know: True
    # when that person followed a task link issued to them; False when staff entered it for them.
    decided_for: Mapped[str | None] = mapped_column(String(200))
    verified: Mapped[bool | None] = mapped_column(Boolean)
    # Why staff recorded the decision on the person's behalf (required then).
    on_behalf_reason: Mapped[str | None] = mapped_column(Text)


#: A task link or an evidence file belongs to exactly one of a case and a due-diligence cycle.
EXACTLY_ONE_OWNER = "(case_id IS NULL) <> (cycle_id IS NULL)"


class TaskLink(Base):
    """A personal, single-use link to answer one task of one case; only the token's hash is kept.

    The task is the case, the milestone step and (for an approval) the subject and the role the
    recipient holds in the programme. A used link keeps the answer it carried and the Prefect input
    key it answered, so that the resumed flow can tell this verified answer from one typed in the UI,
    and when the page applied it, so that the flow does not apply it twice.
    """

    __tablename__ = "task_links"
    __table_args__ = (
        Index(None, "case_id", "state"),
        Index(None, "answered_key"),
        Index(None, "cycle_id", "state"),
        CheckConstraint(EXACTLY_ONE_OWNER, name="one_owner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # A link belongs to a case or to a due-diligence cycle, never both (the CHECK above).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("due_diligence_cycles.id"))
    # The site a cycle's per-site question is about (a risk assessment, a monitoring visit).
    site_id: Mapped[str | None] = mapped_column(String(64))
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"), index=True)
    step: Mapped[str] = mapped_column(String(64))
    # The approval subject ("plan 3", "closure"), or "" for a task that is not an approval.
    subject: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(8), default="issued")
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)
    answered_key: Mapped[str | None] = mapped_column(String(200))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: When the task page applied the answer in the case store (NULL: the flow run applies it).
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class EvidenceFile(Base):
    """A file that proves a step was done (an enrolment letter, a stipend receipt, an attendance sheet).

    Only the case store holds the bytes, encrypted at rest where a key is configured: a letter or a
    photo may show the child. Anything shown outside the store names the file by hash, type and size.
    """

    __tablename__ = "evidence_files"
    __table_args__ = (
        UniqueConstraint("case_id", "sha256"),
        UniqueConstraint("cycle_id", "sha256"),
        CheckConstraint(EXACTLY_ONE_OWNER, name="one_owner"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Evidence of a case's step or of a due-diligence cycle's (an attendance sheet), never both.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("due_diligence_cycles.id"), index=True)
    site_id: Mapped[str | None] = mapped_column(String(64))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"))
    #: The milestone step the file is evidence for (e.g. "school_reintegration").
    step: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(32))
    content: Mapped[bytes] = mapped_column(ProtectedBytes)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    #: True when the uploader followed a task link issued to them; False when staff added it.
    verified: Mapped[bool] = mapped_column(Boolean)
    task_link_id: Mapped[int | None] = mapped_column(ForeignKey("task_links.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Assessment(Base):
    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    age_years: Mapped[int] = mapped_column(Integer)
    age_verification: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    removed_from_work: Mapped[bool] = mapped_column(Boolean)
    # NULL on assessments recorded before migration 0012, which asked only about all work.
    removed_from_hazardous_work: Mapped[bool | None] = mapped_column(Boolean)
    safe_place: Mapped[bool] = mapped_column(Boolean)
    child_consent: Mapped[bool] = mapped_column(Boolean)
    guardian_consent: Mapped[bool] = mapped_column(Boolean)
    # 'female', 'male' or NULL (not recorded): the field reports every measure by sex.
    sex: Mapped[str | None] = mapped_column(String(8))
    assessed_by: Mapped[str] = mapped_column(String(200))
    assessed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RemediationPlan(Base):
    __tablename__ = "remediation_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    pathway: Mapped[str] = mapped_column(String(32))
    monthly_stipend: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    school_fees: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    payer: Mapped[str] = mapped_column(String(32))
    status: Mapped[PlanStatus] = status_column(PlanStatus, PlanStatus.PROPOSED)
    proposed_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reintegration(Base):
    """School enrolment, or for a young worker the protection measures taken instead."""

    __tablename__ = "reintegrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(32))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    first_stipend_paid_on: Mapped[dt.date | None] = mapped_column(Date)
    evidence_reference: Mapped[str | None] = mapped_column(String(300))
    hazardous_tasks_removed: Mapped[bool | None] = mapped_column(Boolean)
    hours_reduced: Mapped[bool | None] = mapped_column(Boolean)
    night_shifts_stopped: Mapped[bool | None] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowUpVisit(Base):
    __tablename__ = "follow_up_visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"))
    visited_on: Mapped[dt.date] = mapped_column(Date)
    attending_school: Mapped[bool] = mapped_column(Boolean)
    # Asked at visits before migration 0013; the stipend ledger (stipend_instalments) says it now.
    stipend_paid: Mapped[bool | None] = mapped_column(Boolean)
    back_at_work: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StipendInstalment(Base):
    """One line of a case's stipend ledger: a payment owed to the family, and its milestone.

    ``purpose`` is ``stipend`` (month ``number`` of the accepted plan's monthly stipend) or
    ``interim_support`` (continued wages between removal and the plan). The amount owed is fixed
    when the line is created; ``settled_on`` is the day the payments confirmed reached it in full.
    """

    __tablename__ = "stipend_instalments"
    __table_args__ = (UniqueConstraint("case_id", "round", "purpose", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    purpose: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("remediation_plans.id"))
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id"), unique=True)
    amount_due: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    #: The day it is due, in the site's calendar (the milestone holds the instant).
    due_on: Mapped[dt.date] = mapped_column(Date)
    amount_paid: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    settled_on: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class StipendPayment(Base):
    """One payment the payer confirmed against a ledger line: amount, day, reference, who and how we know."""

    __tablename__ = "stipend_payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instalment_id: Mapped[int] = mapped_column(ForeignKey("stipend_instalments.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[dt.date] = mapped_column(Date)
    #: The payer's reference (bank transfer, mobile-money transaction, receipt number); screened.
    payment_reference: Mapped[str] = mapped_column(String(120))
    #: Whose confirmation it is: an address the programme lists in the payer's role.
    confirmed_for: Mapped[str] = mapped_column(String(200))
    #: The audit trail's actor: the payer when verified, else who entered it and where.
    recorded_by: Mapped[str] = mapped_column(String(200))
    #: True when the payer followed a task link issued to them; False when staff entered it.
    verified: Mapped[bool] = mapped_column(Boolean)
    on_behalf_reason: Mapped[str | None] = mapped_column(Text)
    task_link_id: Mapped[int | None] = mapped_column(ForeignKey("task_links.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnterpriseTask(Base):
    __tablename__ = "enterprise_tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"))
    title: Mapped[str] = mapped_column(String(300))
    instructions: Mapped[str] = mapped_column(Text)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[MilestoneStatus] = status_column(MilestoneStatus, MilestoneStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who did what, when and why. Written in the same transaction as the change it records."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class OutboxMessage(Base):
    """An email to send, written in the same transaction as the change that caused it.

    Delivery is recorded per recipient in ``deliveries``, a JSON object on the row
    (``{"a@x.example": {"status": "sent", "attempts": 1, "at": "..."}}``; NULL until the first
    try) rather than in a table of its own, because it serves the dispatcher's hot path: the
    row is the unit a dispatcher claims, and only the claim holder writes its recipients'
    outcomes, together with the row's status and in the same statement. So each message costs
    one UPDATE (one per-message commit), the claim reads no second table, nothing needs its own
    locks or unique key, and the paths that enqueue mail (one by one or the sweep's bulk
    insert) stay as they are. Who was refused is also in ``last_error``.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending_next_attempt_at",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # Claims left behind by a dispatcher that crashed, found by their expiry.
        Index(
            "ix_outbox_sending_claimed_until",
            "claimed_until",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable per row, so a resend after a crash is recognisable as the same message.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id"))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    calendar_ics: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OutboxStatus] = status_column(OutboxStatus, OutboxStatus.PENDING)
    # A dispatcher that claims a row owns it until then; after a crash another one takes it.
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Which claim owns the row: outcomes apply only while it is still ours, even after a renewal
    # moved claimed_until or another dispatcher took an expired claim over.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the server last accepted the message for a recipient (set on a partly failed row too).
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deliveries: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class DueDiligenceCycle(Base):
    """One enterprise's yearly due-diligence cycle."""

    __tablename__ = "due_diligence_cycles"
    __table_args__ = (UniqueConstraint("enterprise_id", "year"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("enterprises.id"))
    year: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(32))
    config_sha256: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SiteRiskAssessment(Base):
    """A site's questionnaire answers and the risk score they gave, with its reasons."""

    __tablename__ = "site_risk_assessments"
    __table_args__ = (UniqueConstraint("cycle_id", "site_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("due_diligence_cycles.id"))
    site_id: Mapped[str] = mapped_column(String(64))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    assessed_by: Mapped[str] = mapped_column(String(200))
    assessed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DueDiligenceRecord(Base):
    """What a step recorded: policies reviewed, a training plan, attendance, a monitoring visit."""

    __tablename__ = "due_diligence_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("due_diligence_cycles.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
