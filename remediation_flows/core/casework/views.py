"""What a case looks like to its flows and its people (never the child's identity), and refused answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from remediation_flows.core.approvals import (
    DecisionView,
    approvals_on,
    decisions_of_case,
)
from remediation_flows.core.case_states import (
    OPEN_STATES,
    CaseState,
)
from remediation_flows.core.casework.common import (
    _current_plan,
    _open_milestone,
    _programme,
    _reintegration,
    _visits_done,
)
from remediation_flows.core.casework.stipends import ledger_of
from remediation_flows.core.clocks import SiteCalendar
from remediation_flows.core.config import Programme
from remediation_flows.core.errors import RemediationError
from remediation_flows.core.evidence import EvidenceSummary, evidence_in
from remediation_flows.core.holds import active_holds, hold_label
from remediation_flows.core.mail.render import format_instant
from remediation_flows.core.statuses import ApprovalStatus, MilestoneStatus
from remediation_flows.core.store import repository as repo
from remediation_flows.core.store.repository import CaseStore
from remediation_flows.core.store.schema import (
    AuditEvent,
    Case,
    Milestone,
    RemediationPlan,
)


@dataclass(frozen=True)
class MilestoneView:
    key: str
    step: str
    title: str
    owner_role: str
    due_at: dt.datetime
    due_local: str
    escalation_level: int
    #: "" when the clock runs; else since when and why it waits (a reason from holds.HoldReason).
    on_hold: str = ""
    #: The ladder level reached, in words: "none yet", or its name and place ("director, 4 of 4").
    escalation: str = "none yet"


@dataclass(frozen=True)
class CaseView:
    """What a case is waiting for, by reference only: safe to show in Prefect."""

    reference: str
    enterprise_id: str
    site_id: str
    site_name: str
    state: str
    round: int
    outcome: str | None
    case_manager: str | None
    open_milestones: list[MilestoneView]
    plan_id: int | None = None
    plan_status: str | None = None
    plans_proposed: int = 0
    pending_approvals: list[str] = field(default_factory=list)
    decisions_made: int = 0
    closure_pending: list[str] = field(default_factory=list)
    effective_on: dt.date | None = None
    visits_done: int = 0
    #: Every approval decision so far: who, in which role, verified or on whose behalf, when.
    decisions: list[DecisionView] = field(default_factory=list)
    #: The case's evidence files, by hash, type and size only.
    evidence: list[EvidenceSummary] = field(default_factory=list)
    #: The stipend ledger, a line per payment owed, amounts in English notation (the Prefect UI's).
    ledger: list[str] = field(default_factory=list)

    @property
    def is_finished(self) -> bool:
        return self.state in (CaseState.CLOSED, CaseState.WITHDRAWN)

    def milestone(self, step: str) -> MilestoneView | None:
        return next((m for m in self.open_milestones if m.step == step), None)


def _escalation_words(programme: Programme, milestone: Milestone) -> str:
    """The ladder level a milestone has reached, named as its programme names it."""
    if milestone.escalation_level < 0:
        return "none yet"
    try:
        ladder = programme.step(milestone.kind).ladder
    except RemediationError:  # the step is gone from the programme: the number is all there is
        return f"level {milestone.escalation_level + 1}"
    if milestone.escalation_level >= len(ladder):
        return f"level {milestone.escalation_level + 1}"
    return f"{ladder[milestone.escalation_level].name}, {milestone.escalation_level + 1} of {len(ladder)}"


def _view(session: Session, case: Case, *, with_ledger: bool = True) -> CaseView:
    programme = _programme(session, case)
    site = programme.site(case.site_id)
    milestones = session.scalars(
        select(Milestone)
        .where(Milestone.case_id == case.id, Milestone.status == MilestoneStatus.OPEN)
        .order_by(Milestone.due_at)
    ).all()
    holds = active_holds(session, [m.id for m in milestones])
    plan = _current_plan(session, case)
    plan_milestone = _open_milestone(session, case, "remediation_plan")
    plan_approvals = approvals_on(session, plan_milestone, f"plan {plan.id}") if plan else []
    closure = _open_milestone(session, case, "closure")
    reintegration = _reintegration(session, case)
    plans_proposed = session.scalar(
        select(func.count())
        .select_from(RemediationPlan)
        .where(RemediationPlan.case_id == case.id, RemediationPlan.round == case.round)
    )
    return CaseView(
        reference=case.reference,
        enterprise_id=case.enterprise_id,
        site_id=case.site_id,
        site_name=site.name,
        state=case.state,
        round=case.round,
        outcome=case.outcome,
        case_manager=case.case_manager,
        open_milestones=[
            MilestoneView(
                key=m.key,
                step=m.kind,
                title=m.title,
                owner_role=m.owner_role,
                due_at=m.due_at,
                due_local=format_instant(m.due_at, site.time_zone),
                escalation_level=m.escalation_level,
                on_hold=hold_label(holds.get(m.id), site.time_zone),
                escalation=_escalation_words(programme, m),
            )
            for m in milestones
        ],
        plan_id=plan.id if plan else None,
        plan_status=plan.status if plan else None,
        plans_proposed=plans_proposed or 0,
        pending_approvals=[a.role for a in plan_approvals if a.status == ApprovalStatus.REQUESTED],
        decisions_made=sum(a.status != ApprovalStatus.REQUESTED for a in plan_approvals),
        closure_pending=[
            a.role for a in approvals_on(session, closure, "closure") if a.status == ApprovalStatus.REQUESTED
        ],
        effective_on=reintegration.effective_on if reintegration else None,
        visits_done=_visits_done(session, case, reintegration.effective_on if reintegration else None),
        decisions=decisions_of_case(session, case.id),
        evidence=evidence_in(session, case.id),
        ledger=[
            line.describe("en", dt.datetime.now(SiteCalendar(site).zone).date())
            for line in (ledger_of(session, case) if with_ledger else [])
        ],
    )


def case_view(store: CaseStore, reference: str) -> CaseView:
    """Where the case stands and what it waits for."""
    with store.reading() as session:
        return _view(session, repo.get_case(session, reference))


def open_case_views(store: CaseStore) -> list[CaseView]:
    """Every case still in progress, oldest first."""
    with store.reading() as session:
        cases = session.scalars(select(Case).where(Case.state.in_(list(OPEN_STATES))).order_by(Case.id)).all()
        # No ledger: the open-cases table shows none, and must not grow by a query per case.
        return [_view(session, case, with_ledger=False) for case in cases]


def open_case_rounds(store: CaseStore, opened_before: dt.datetime) -> list[tuple[str, int]]:
    """(reference, round) of every case still in progress that was opened before ``opened_before``."""
    with store.reading() as session:
        return [
            (reference, round_number)
            for reference, round_number in session.execute(
                select(Case.reference, Case.round)
                .where(Case.state.in_(list(OPEN_STATES)), Case.created_at < opened_before)
                .order_by(Case.id)
            )
        ]


def refusals(store: CaseStore, prompt_key: str) -> tuple[int, str | None]:
    """How many answers to ``prompt_key`` were refused, and why the last one was.

    Prompt keys name their case or cycle, so they are unique across the store.
    """
    with store.reading() as session:
        reasons = session.scalars(
            select(AuditEvent.reason)
            .where(AuditEvent.action == "input_refused", AuditEvent.entity_id == prompt_key)
            .order_by(AuditEvent.id)
        ).all()
        return len(reasons), (reasons[-1] if reasons else None)


def record_refusal(
    store: CaseStore, prompt_key: str, message: str, actor: str, reference: str | None = None
) -> None:
    """Audit an answer that broke a rule, so the next prompt asks again under a new key."""
    with store.transaction() as session:
        case_id = repo.get_case(session, reference).id if reference and reference.startswith("CL-") else None
        repo.record_audit(
            session,
            actor=actor,
            action="input_refused",
            entity="prompt",
            entity_id=prompt_key,
            case_id=case_id,
            reason=message,
        )
